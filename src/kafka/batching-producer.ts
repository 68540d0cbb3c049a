import { CompressionTypes, Partitioners, type Kafka, type Producer, type IHeaders } from 'kafkajs'
import { performance } from 'node:perf_hooks'
import type { Logger } from '../observability/logger.js'
import { promiseOf, settlesWithin, sleep } from '../util/async.js'
import { keyPartition } from './partitioner.js'
import { KafkaRecordRefused, produceRefusal, type ProduceRefusal } from './produce-errors.js'

/** One record on its way to Kafka. `bytes` is its approximate size, used for batching and flow control. */
export interface OutgoingRecord {
  topic: string
  key: string | Buffer | null
  value: Buffer | null
  headers?: IHeaders
  /**
   * The partition: set to pin one; otherwise the producer's partitioner sets it when the record is
   * first sent, and it stays for kafkajs' retries and Wharf's own (see the class comment)
   */
  partition?: number
}

/** Told once when Kafka acknowledged the record (no error) or it will not be written (the error). */
export type SendDone = (err: Error | undefined) => void

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
  /** cleared when called: a record is settled once (close() and a late answer may both try) */
  done: SendDone | undefined
}

function finish (p: Pending, err: Error | undefined): void {
  const done = p.done
  if (done === undefined) return
  p.done = undefined
  try {
    done(err)
  } catch (thrown) {
    // the other records of the batch are settled all the same; the error surfaces as uncaught,
    // as it did from a promise's handler
    queueMicrotask(() => { throw thrown })
  }
}

/** One batch Kafka acknowledged: its records, the oldest record's wait until the ack, and the send's round trip (retries included), in ms. */
export interface BatchAck { records: number; oldestWaitMs: number; sendMs: number }

/** Told of every record Kafka refused for good (it was not written; its `send()` rejected with KafkaRecordRefused). */
export type RefusedHandler = (record: OutgoingRecord, refusal: ProduceRefusal) => void

/** What the producer tells its owner (metrics, limits). */
export interface ProducerHooks {
  /** after every batch Kafka answered */
  onAcked?: (ack: BatchAck) => void
  /** for every record Kafka refused for good */
  onRefused?: RefusedHandler
}

/** The producer has been closed; the record was not sent. */
export class ProducerClosedError extends Error {
  constructor () { super('the Kafka producer is closed') }
}

const RETRY_BACKOFF_MS = [250, 500, 1000, 2000, 5000]
/** How long the same (topic, error) refusal is not logged again. */
const REFUSAL_LOG_MS = 60_000

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
 * acknowledged. A batch that fails for a retriable reason (a broker away, a leader move, a timeout,
 * NOT_ENOUGH_REPLICAS) is sent again, whole, never dropped: while Kafka is away the promises handed
 * out by `send()` stay pending (no PUBACK) and, once `max_pending_bytes` is reached, `waitForRoom()`
 * blocks the callers (the MQTT edge stops reading sockets). kafkajs retries a few times itself
 * (with the sequence numbers it handed back, so Kafka de-duplicates a request that had in fact been
 * written) and then reports the failure here, where it is logged, counted (`stats.retries`) and
 * retried with Wharf's backoff, again as the same batch.
 *
 * A batch Kafka refuses for good (produce-errors.ts: too large, invalid, corrupt, not authorized)
 * is split until the refused records are alone: first by partition, then in halves, each part sent
 * in order (the records of one key keep their order); a refused record's `send()` rejects with
 * KafkaRecordRefused, the others are acknowledged, and the records behind the batch follow. Kafka
 * refuses per partition: the other partitions of the request were written, but kafkajs, which
 * reads the first error of the response, hands the sequence numbers of every partition back. So
 * each record keeps the partition it was first given (`partition`, also across kafkajs' retries of
 * records without a key) and the parts sent again are whole partitions first: a partition that was
 * written goes again with the same records and sequence numbers, which Kafka takes for the
 * duplicate it is (acknowledged, not written twice); halves of a partition Kafka refused were not
 * written at all. (Halves of a written partition would be out of sequence: refused for ever.)
 * With several brokers, when one broker refuses and another had already written its partitions of
 * the batch, kafkajs keeps the latter's sequence numbers: the parts sent again write those records
 * a second time (at-least-once, as MQTT QoS 1 allows; a record is never lost or written before one
 * queued earlier).
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
  /** performance.now() when the pending bytes last went from 0 to more, and of the last ack or refusal */
  private pendingSince = 0
  private lastProgressAt = 0
  /** `${topic}\0${error}` -> records refused, and when that pair was last logged */
  private readonly refusals = new Map<string, { count: number; loggedAt: number; unlogged: number }>()
  /** Counters for metrics and tests. */
  readonly stats = { records: 0, batches: 0, retries: 0, refused: 0 }

  constructor (kafka: Kafka, private readonly opts: BatchingProducerOptions, logger: Logger, private readonly hooks: ProducerHooks = {}) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: () => {
        const partitioner = Partitioners.DefaultPartitioner()
        return (args) => {
          // the partition a record was first given is kept on it (kafkajs hands the record objects
          // of sendBatch to the partitioner as they are): the same one on every retry
          const message = args.message as OutgoingRecord
          if (message.partition !== undefined) return message.partition
          // kafkajs' DefaultPartitioner's choice; keyed records hashed without its 64-bit BigInt arithmetic
          const partition = message.key === null || message.key === undefined ? partitioner(args) : keyPartition(message.key, args.partitionMetadata.length)
          message.partition = partition
          return partition
        }
      },
      // a few quick retries inside kafkajs (it keeps the batch's sequence numbers, so a request that
      // was written after all is de-duplicated by Kafka); then sendBatch rejects and sendPart() retries
      // with its own backoff, log and count, or isolates the records Kafka refuses for good
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 }
    })
    this.log = logger.child({ component: 'producer' })
    this.compression = opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None
  }

  async connect (): Promise<void> {
    await this.producer.connect()
  }

  /** Bytes accepted but not yet acknowledged by Kafka. */
  get pending (): number { return this.pendingBytes }

  /**
   * How long records have waited without Kafka acknowledging (or refusing) anything: 0 when none
   * waits, else the time since the later of the last acknowledgement and the moment records began
   * to wait. The overload monitor calls a stall past `kafka_ack_timeout` an overload.
   */
  ackStalledMs (): number {
    if (this.pendingBytes === 0) return 0
    return Math.max(0, performance.now() - Math.max(this.pendingSince, this.lastProgressAt))
  }

  /** Records refused for good, by Kafka topic and Kafka's error (for /metrics). */
  * refusedCounts (): Iterable<[Record<string, string>, number]> {
    for (const [key, r] of this.refusals) {
      const [topic, error] = key.split('\0') as [string, string]
      yield [{ kafka_topic: topic, error }, r.count]
    }
  }

  hasRoom (): boolean { return this.pendingBytes < this.opts.max_pending_bytes }

  /** Resolves once the pending buffer is below its bound. */
  waitForRoom (): Promise<void> {
    if (this.hasRoom() || this.closed) return Promise.resolve()
    return new Promise(resolve => this.roomWaiters.push(resolve))
  }

  /** Queue one record; the promise resolves when Kafka has acknowledged it (acks=all). */
  send (record: OutgoingRecord): Promise<void> {
    return promiseOf(done => this.sendWith(record, done))
  }

  /**
   * `send` for the per-message path: `done` is called once, when Kafka acknowledged the record or
   * with the reason it will not be written (never synchronously). No promise per record.
   */
  sendWith (record: OutgoingRecord, done: SendDone): void {
    if (this.closed) {
      queueMicrotask(() => done(new ProducerClosedError()))
      return
    }
    const bytes = recordBytes(record)
    const at = performance.now()
    this.queue.push({ record, bytes, at, done })
    this.queuedBytes += bytes
    if (this.pendingBytes === 0) this.pendingSince = at
    this.pendingBytes += bytes
    this.schedule()
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
    for (const p of this.inFlightBatch.splice(0)) finish(p, new ProducerClosedError())
    for (const p of this.queue.splice(0)) finish(p, new ProducerClosedError())
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
    const sent = await this.deliver(batch)
    this.inFlight = false
    this.inFlightBatch = []
    if (!sent) {
      // closed before Kafka answered: close() has rejected these records; never resolve them
      for (const p of batch) finish(p, new ProducerClosedError())
      return
    }
    this.stats.batches++
    const now = performance.now()
    this.hooks.onAcked?.({ records: batch.length, oldestWaitMs: now - (batch[0] as Pending).at, sendMs: now - sentAt })
    if (this.queue.length > 0) this.schedule()
    else this.notifyIdle()
  }

  /**
   * Sends the batch, part by part in order, until every record is acknowledged or refused for good
   * (see the class comment); false if the producer was closed first.
   */
  private async deliver (batch: Pending[]): Promise<boolean> {
    const parts: Pending[][] = [batch]
    for (let part = parts.shift(); part !== undefined; part = parts.shift()) {
      const refusal = await this.sendPart(part)
      if (refusal === 'closed') return false
      if (refusal === undefined) { this.settle(part, undefined); continue }
      const byPartition = this.splitByPartition(part)
      if (byPartition.length > 1) parts.unshift(...byPartition)
      else if (part.length === 1 || refusal.scope === 'topic') this.settle(part, refusal)
      else parts.unshift(part.slice(0, part.length >> 1), part.slice(part.length >> 1))
    }
    return true
  }

  /** The part's records per Kafka topic and partition, each group in the part's order (one group: the part itself). */
  private splitByPartition (part: Pending[]): Pending[][] {
    const groups = new Map<string, Pending[]>()
    for (const p of part) {
      const key = `${p.record.topic}\0${p.record.partition ?? ''}`
      const list = groups.get(key)
      if (list === undefined) groups.set(key, [p])
      else list.push(p)
    }
    return groups.size === 1 ? [part] : [...groups.values()]
  }

  /** Acknowledged (no refusal) or refused for good: settle each record and free its bytes. */
  private settle (part: Pending[], refusal: ProduceRefusal | undefined): void {
    // the accounting first: the records' owners are told synchronously and may send more at once
    let freed = 0
    for (const p of part) freed += p.bytes
    this.pendingBytes -= freed
    this.lastProgressAt = performance.now()
    if (refusal === undefined) this.stats.records += part.length
    for (const p of part) {
      if (refusal === undefined) { finish(p, undefined); continue }
      finish(p, new KafkaRecordRefused(refusal.type, p.record.topic))
      this.refused(p, refusal)
    }
    this.releaseRoom()
  }

  /** Counts a refused record, logs it (once a minute per Kafka topic and error) and tells `hooks.onRefused`. */
  private refused (p: Pending, refusal: ProduceRefusal): void {
    this.stats.refused++
    const key = `${p.record.topic}\0${refusal.type}`
    const now = performance.now()
    let r = this.refusals.get(key)
    if (r === undefined) this.refusals.set(key, r = { count: 0, loggedAt: -Infinity, unlogged: 0 })
    r.count++
    r.unlogged++
    if (now - r.loggedAt >= REFUSAL_LOG_MS) {
      const headers = p.record.headers ?? {}
      this.log.warn({
        kafkaTopic: p.record.topic,
        error: refusal.type,
        bytes: p.bytes,
        clientId: headers['mqtt.client_id']?.toString(),
        topic: headers['mqtt.topic']?.toString(),
        refused: r.unlogged
      }, 'Kafka refused a record for good; it was not written and is not retried (the PUBLISH fails, the records after it go on)')
      r.loggedAt = now
      r.unlogged = 0
    }
    this.hooks.onRefused?.(p.record, refusal)
  }

  /** Sends one part until Kafka acknowledges it (undefined) or refuses it for good; 'closed' if the producer was closed first. */
  private async sendPart (part: Pending[]): Promise<ProduceRefusal | 'closed' | undefined> {
    const topicMessages = groupByTopic(part)
    for (;;) {
      try {
        await this.producer.sendBatch({ topicMessages, acks: -1, compression: this.compression })
        if (this.closed) return 'closed'
        if (this.failures > 0) this.log.info({ after: this.failures }, 'Kafka is acknowledging records again')
        this.failures = 0
        return undefined
      } catch (err) {
        if (this.closed) return 'closed'
        const refusal = produceRefusal(err)
        if (refusal !== undefined) return refusal
        this.stats.retries++
        const delay = RETRY_BACKOFF_MS[Math.min(this.failures, RETRY_BACKOFF_MS.length - 1)] as number
        if (this.failures === 0 || this.failures % 20 === 0) {
          this.log.error({ err, records: part.length, attempt: this.failures + 1, retryInMs: delay }, 'Kafka did not acknowledge a batch; holding acknowledgements and retrying')
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
