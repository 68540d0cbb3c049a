import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs'
import type { Logger } from '../observability/logger.js'
import { splitTpKey, tpKey } from './end-offsets.js'

/** What to read: per "topic:partition", the offsets [from, to). */
export type Ranges = Map<string, { from: bigint; to: bigint }>

export interface RangeRequest {
  ranges: Ranges
  /**
   * Records of one partition inside this request's range, in offset order, each offset at most once.
   * Reading that partition waits for the promise (a slow receiver slows the shared reader down).
   */
  onRecords: (topic: string, partition: number, records: KafkaMessage[]) => Promise<void>
}

interface Active {
  request: RangeRequest
  /** next offset this request wants, per partition still open */
  next: Map<string, bigint>
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * Reads ranges of partitions for many requesters with one Kafka consumer: many sessions resuming at
 * once share the reading (a partition is read once from the lowest offset anyone still needs, and
 * every record goes to each request whose range holds it), instead of one consumer per session.
 * Partitions nobody needs are paused. The consumer joins a group of its own (kafkajs reads only
 * through groups) and never commits: positions are set by seeking.
 */
export class RangeReader {
  private readonly consumer: Consumer
  private readonly log: Logger
  private readonly active = new Map<string, Set<Active>>()
  /** where the consumer reads next, per partition being read */
  private readonly reading = new Map<string, bigint>()
  private joined = false
  private stopped = false
  /** records handed to requests (metrics) */
  recordsRead = 0

  constructor (kafka: Kafka, private readonly opts: { node: string; topics: string[] }, logger: Logger) {
    this.log = logger.child({ component: 'range-reader' })
    this.consumer = kafka.consumer({
      groupId: `wharf.replay.${opts.node}.${randomUUID().slice(0, 8)}`,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
      sessionTimeout: 30000,
      heartbeatInterval: 3000
    })
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => {
      this.joined = true
      this.applyPositions()
    })
    this.consumer.on(this.consumer.events.CRASH, e => {
      this.joined = false
      this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'Kafka range reader crashed')
    })
  }

  async start (): Promise<void> {
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: this.opts.topics, fromBeginning: true })
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, isStale }) => {
        if (isStale()) return
        await this.onBatch(batch.topic, batch.partition, batch.messages, batch.lastOffset())
      }
    })
    this.consumer.pause(this.opts.topics.map(topic => ({ topic })))
  }

  /** Resolves when every range of the request has been read (empty ranges resolve at once). */
  read (request: RangeRequest): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('the Kafka range reader is stopped'))
    return new Promise((resolve, reject) => {
      const a: Active = { request, next: new Map(), resolve, reject }
      for (const [key, { from, to }] of request.ranges) if (from < to) a.next.set(key, from)
      if (a.next.size === 0) { resolve(); return }
      for (const [key, from] of a.next) {
        let set = this.active.get(key)
        if (set === undefined) this.active.set(key, set = new Set())
        set.add(a)
        const at = this.reading.get(key)
        if (at === undefined || from < at) this.seek(key, from)
      }
    })
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const set of this.active.values()) for (const a of set) a.reject(new Error('the Kafka range reader stopped'))
    this.active.clear()
    await this.consumer.disconnect().catch(err => this.log.warn({ err }, 'Kafka range reader did not disconnect cleanly'))
  }

  private async onBatch (topic: string, partition: number, messages: KafkaMessage[], lastOffset: string): Promise<void> {
    const key = tpKey(topic, partition)
    const set = this.active.get(key)
    const end = BigInt(lastOffset) + 1n
    if (set === undefined || set.size === 0) {
      this.idle(key)
      return
    }
    this.reading.set(key, end)
    // requests that arrive while this batch is handled wait for their own seek (this batch may
    // start above where they begin)
    for (const a of [...set]) {
      const next = a.next.get(key) as bigint
      const to = this.toOf(a, key)
      const records = messages.filter(m => { const o = BigInt(m.offset); return o >= next && o < to })
      if (records.length > 0) {
        this.recordsRead += records.length
        try {
          await a.request.onRecords(topic, partition, records)
        } catch (err) {
          this.finish(a, err as Error)
          continue
        }
      }
      // a batch read after a seek starts at or below every open request's `next` (batches read
      // before a seek are stale and skipped), so whatever lies below `end` has been seen; offsets
      // that Kafka no longer has (retention) are simply not there
      if (end > next) a.next.set(key, end)
      if ((a.next.get(key) as bigint) >= to) {
        a.next.delete(key)
        set.delete(a)
        if (a.next.size === 0) this.finish(a)
      }
    }
    if (set.size === 0) this.idle(key)
  }

  private toOf (a: Active, key: string): bigint {
    return (a.request.ranges.get(key) as { to: bigint }).to
  }

  private finish (a: Active, err?: Error): void {
    for (const key of a.next.keys()) {
      const set = this.active.get(key)
      set?.delete(a)
      if (set !== undefined && set.size === 0) this.idle(key)
    }
    a.next.clear()
    if (err === undefined) a.resolve()
    else a.reject(err)
  }

  private idle (key: string): void {
    this.active.delete(key)
    this.reading.delete(key)
    const { topic, partition } = splitTpKey(key)
    try {
      this.consumer.pause([{ topic, partitions: [partition] }])
    } catch (err) {
      this.log.debug({ err, key }, 'could not pause a partition yet')
    }
  }

  private seek (key: string, offset: bigint): void {
    this.reading.set(key, offset)
    if (!this.joined) return // applied on GROUP_JOIN
    const { topic, partition } = splitTpKey(key)
    try {
      this.consumer.seek({ topic, partition, offset: offset.toString() })
      this.consumer.resume([{ topic, partitions: [partition] }])
    } catch (err) {
      this.log.debug({ err, key }, 'range reader not joined yet; the seek is applied when it joins')
    }
  }

  /** After a (re)join kafkajs forgets seeks: read every open partition from the lowest offset wanted. */
  private applyPositions (): void {
    for (const [key, set] of this.active) {
      let min: bigint | undefined
      for (const a of set) {
        const n = a.next.get(key)
        if (n !== undefined && (min === undefined || n < min)) min = n
      }
      if (min !== undefined) this.seek(key, min)
    }
  }
}
