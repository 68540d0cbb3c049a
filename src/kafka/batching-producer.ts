import { CompressionTypes, Partitioners, type Kafka, type Producer, type IHeaders } from 'kafkajs'
import { performance } from 'node:perf_hooks'
import type { Logger } from '../observability/logger.js'
import { settlesWithin, sleep } from '../util/async.js'

/** One record on its way to Kafka. `bytes` is its approximate size, used for batching and flow control. */
export interface OutgoingRecord {
  topic: string
  key: string | Buffer | null
  value: Buffer | null
  headers?: IHeaders
}

export interface BatchingProducerOptions {
  linger_ms: number
  batch_max_messages: number
  batch_max_bytes: number
  max_pending_bytes: number
  compression: 'none' | 'gzip'
}

interface Pending {
  record: OutgoingRecord
  bytes: number
  /** performance.now() when send() queued it: linger counts from the oldest queued record */
  at: number
  resolve: () => void
  reject: (err: Error) => void
}

/** One batch Kafka acknowledged: its records, the oldest record's wait until the ack, and the send's round trip (retries included), in ms. */
export interface BatchAck { records: number; oldestWaitMs: number; sendMs: number }

/** The producer has been closed; the record was not sent. */
export class ProducerClosedError extends Error {
  constructor () { super('the Kafka producer is closed') }
}

const RETRY_BACKOFF_MS = [250, 500, 1000, 2000, 5000]

function recordBytes (r: OutgoingRecord): number {
  let n = 64 + r.topic.length + (r.value === null ? 0 : r.value.length)
  if (r.key !== null) n += r.key.length
  if (r.headers !== undefined) {
    for (const k in r.headers) {
      const v = r.headers[k]
      n += k.length + (typeof v === 'string' || Buffer.isBuffer(v) ? v.length : 16)
    }
  }
  return n
}

/**
 * kafkajs sends one Produce request per `send()` call, so Wharf batches itself: records wait at most
 * `linger_ms` (counted from the oldest queued record) or until a batch is full, and go out in one
 * `sendBatch` with acks=all on an idempotent producer. One batch is in flight at a time, so records of
 * one key keep their order even across retries; records that queued behind it have waited its round
 * trip and go out as soon as it is acknowledged. Not more than one: kafkajs 2.2.4 holds a per-broker
 * lock around each Produce round trip of an idempotent producer, so concurrent `sendBatch` calls would
 * not overlap on the wire anyway, and when a request fails it hands its sequence numbers back and
 * releases the lock, so the batch queued behind it would be written first (out of order) or, if the
 * failed request had in fact been written, could be taken by Kafka for its duplicate and dropped while
 * acknowledged. A failed batch is retried, never dropped: while Kafka is away the promises handed out
 * by `send()` stay pending (no PUBACK) and, once `max_pending_bytes` is reached, `waitForRoom()` blocks
 * the callers (the MQTT edge stops reading sockets).
 */
export class BatchingProducer {
  private readonly producer: Producer
  private readonly log: Logger
  private readonly compression: CompressionTypes
  private queue: Pending[] = []
  private queuedBytes = 0
  private pendingBytes = 0
  private inFlight = false
  /** the batch being sent, so that close() can settle it */
  private inFlightBatch: Pending[] = []
  private timer: NodeJS.Timeout | undefined
  private roomWaiters: Array<() => void> = []
  private idleWaiters: Array<() => void> = []
  private closed = false
  private failures = 0
  /** Counters for metrics and tests. */
  readonly stats = { records: 0, batches: 0, retries: 0 }

  constructor (kafka: Kafka, private readonly opts: BatchingProducerOptions, logger: Logger, private readonly onAcked?: (ack: BatchAck) => void) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // never give up inside kafkajs either: a record handed to us is sent or the process ends
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5000 }
    })
    this.log = logger.child({ component: 'producer' })
    this.compression = opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None
  }

  async connect (): Promise<void> {
    await this.producer.connect()
  }

  /** Bytes accepted but not yet acknowledged by Kafka. */
  get pending (): number { return this.pendingBytes }

  hasRoom (): boolean { return this.pendingBytes < this.opts.max_pending_bytes }

  /** Resolves once the pending buffer is below its bound. */
  waitForRoom (): Promise<void> {
    if (this.hasRoom() || this.closed) return Promise.resolve()
    return new Promise(resolve => this.roomWaiters.push(resolve))
  }

  /** Queue one record; the promise resolves when Kafka has acknowledged it (acks=all). */
  send (record: OutgoingRecord): Promise<void> {
    if (this.closed) return Promise.reject(new ProducerClosedError())
    return new Promise((resolve, reject) => {
      const bytes = recordBytes(record)
      this.queue.push({ record, bytes, at: performance.now(), resolve, reject })
      this.queuedBytes += bytes
      this.pendingBytes += bytes
      this.schedule()
    })
  }

  /** Resolves when everything queued so far has been acknowledged. */
  flush (): Promise<void> {
    if (this.queue.length === 0 && !this.inFlight) return Promise.resolve()
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; void this.sendNext() }
    return new Promise(resolve => this.idleWaiters.push(resolve))
  }

  /** Flush for at most `timeoutMs`, then disconnect; records still unsent are rejected. */
  async close (timeoutMs: number): Promise<void> {
    const flushed = await settlesWithin(this.flush(), timeoutMs)
    this.closed = true
    if (!flushed) {
      this.log.warn({ pendingRecords: this.queue.length }, 'Kafka did not acknowledge everything before shutdown; unacknowledged records were never PUBACKed')
    }
    // records not acknowledged by now were never PUBACKed: their publishers will send them again
    for (const p of this.inFlightBatch.splice(0)) p.reject(new ProducerClosedError())
    for (const p of this.queue.splice(0)) p.reject(new ProducerClosedError())
    for (const w of this.roomWaiters.splice(0)) w()
    this.notifyIdle()
    await this.producer.disconnect().catch(() => undefined)
  }

  private schedule (): void {
    if (this.inFlight) return
    const full = this.queue.length >= this.opts.batch_max_messages || this.queuedBytes >= this.opts.batch_max_bytes
    // linger counts from the oldest queued record (as in Kafka's Java producer): records that queued
    // behind a batch in flight have already waited its round trip and go out as soon as it is acked
    const oldest = this.queue[0]
    const lingerLeft = oldest === undefined ? 0 : this.opts.linger_ms - (performance.now() - oldest.at)
    // while someone waits in flush(), nothing lingers
    if (full || lingerLeft <= 0 || this.idleWaiters.length > 0) {
      if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined }
      void this.sendNext()
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => { this.timer = undefined; void this.sendNext() }, Math.ceil(lingerLeft))
    }
  }

  private takeBatch (): Pending[] {
    let n = 0
    let bytes = 0
    const max = this.opts.batch_max_messages
    while (n < this.queue.length && n < max) {
      const b = (this.queue[n] as Pending).bytes
      if (n > 0 && bytes + b > this.opts.batch_max_bytes) break
      bytes += b
      n++
    }
    this.queuedBytes -= bytes
    return this.queue.splice(0, n)
  }

  private async sendNext (): Promise<void> {
    if (this.inFlight || this.closed) return
    if (this.queue.length === 0) { this.notifyIdle(); return }
    this.inFlight = true
    const batch = this.takeBatch()
    this.inFlightBatch = batch
    const sentAt = performance.now()
    const acked = await this.sendWithRetry(batch)
    this.inFlight = false
    this.inFlightBatch = []
    if (!acked) {
      // closed before Kafka acknowledged: close() has rejected these records; never resolve them
      for (const p of batch) p.reject(new ProducerClosedError())
      return
    }
    let freed = 0
    for (const p of batch) { freed += p.bytes; p.resolve() }
    this.pendingBytes -= freed
    this.stats.records += batch.length
    this.stats.batches++
    const now = performance.now()
    this.onAcked?.({ records: batch.length, oldestWaitMs: now - (batch[0] as Pending).at, sendMs: now - sentAt })
    this.releaseRoom()
    if (this.queue.length > 0) this.schedule()
    else this.notifyIdle()
  }

  /** true once Kafka acknowledged the batch; false if the producer was closed first */
  private async sendWithRetry (batch: Pending[]): Promise<boolean> {
    const topicMessages = groupByTopic(batch)
    for (;;) {
      try {
        await this.producer.sendBatch({ topicMessages, acks: -1, compression: this.compression })
        if (this.closed) return false
        if (this.failures > 0) this.log.info({ after: this.failures }, 'Kafka is acknowledging records again')
        this.failures = 0
        return true
      } catch (err) {
        if (this.closed) return false
        this.stats.retries++
        const delay = RETRY_BACKOFF_MS[Math.min(this.failures, RETRY_BACKOFF_MS.length - 1)] as number
        if (this.failures === 0 || this.failures % 20 === 0) {
          this.log.error({ err, records: batch.length, attempt: this.failures + 1, retryInMs: delay }, 'Kafka did not acknowledge a batch; holding acknowledgements and retrying')
        }
        this.failures++
        await sleep(delay)
      }
    }
  }

  private releaseRoom (): void {
    if (!this.hasRoom()) return
    for (const w of this.roomWaiters.splice(0)) w()
  }

  private notifyIdle (): void {
    for (const w of this.idleWaiters.splice(0)) w()
  }
}

function groupByTopic (batch: Pending[]): Array<{ topic: string; messages: OutgoingRecord[] }> {
  const first = batch[0]
  if (first !== undefined && batch.every(p => p.record.topic === first.record.topic)) {
    return [{ topic: first.record.topic, messages: batch.map(p => p.record) }]
  }
  const byTopic = new Map<string, OutgoingRecord[]>()
  for (const p of batch) {
    const list = byTopic.get(p.record.topic)
    if (list === undefined) byTopic.set(p.record.topic, [p.record])
    else list.push(p.record)
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }))
}
