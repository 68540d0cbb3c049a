import type { KafkaMessage } from 'kafkajs'
import { splitTpKey, tpKey } from './topic-partition.js'
import type { FetchedRecord, PartitionFetcher } from './partition-fetcher.js'

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
 * Many requesters (resuming sessions), each reading offset ranges of partitions: a partition is read
 * once from the lowest offset anyone still needs and every record goes to each request whose range
 * holds it. On a PartitionFetcher of its own: a partition is assigned
 * while someone needs it and unassigned after, and "read from here" is an assignment, with no
 * consumer group, seeks, pauses or rejoins. A range is done when the partition's position reaches its
 * end, so ranges whose records were compacted away or have left Kafka finish too.
 *
 * The fetcher must not read the same partitions for anyone else (it holds one position per partition).
 */
export class RangeReader {
  private readonly active = new Map<string, Set<Active>>()
  /**
   * per partition, the end of the batch whose records are being handed out: a request joining below
   * it may have missed records of that batch, so the partition is read again from where it starts
   */
  private readonly handling = new Map<string, bigint>()
  private stopped = false
  /** records handed to requests (metrics) */
  recordsRead = 0

  constructor (private readonly fetcher: PartitionFetcher, topics: readonly string[]) {
    for (const topic of topics) this.fetcher.setHandler(topic, this.onBatch)
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
        const { topic, partition } = splitTpKey(key)
        const at = this.fetcher.position(topic, partition)
        const handled = this.handling.get(key)
        if (at === undefined || from < at || (handled !== undefined && from < handled)) {
          this.handling.delete(key)
          this.fetcher.assign(topic, partition, from)
        }
        const to = (request.ranges.get(key) as { to: bigint }).to
        this.fetcher.waitForPosition(topic, partition, to).then(() => { this.rangeRead(a, key) }, () => undefined)
      }
    })
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const set of this.active.values()) for (const a of set) a.reject(new Error('the Kafka range reader stopped'))
    for (const key of this.active.keys()) {
      const { topic, partition } = splitTpKey(key)
      this.fetcher.unassign(topic, partition)
    }
    this.active.clear()
  }

  private readonly onBatch = async (topic: string, partition: number, records: FetchedRecord[], info: { nextOffset: bigint }): Promise<void> => {
    const key = tpKey(topic, partition)
    this.handling.set(key, info.nextOffset)
    const set = this.active.get(key)
    if (set === undefined) return
    // a live iteration: a request that joins while this batch is handed out gets its share too
    for (const a of set) {
      const next = a.next.get(key)
      if (next === undefined) continue
      const to = (a.request.ranges.get(key) as { to: bigint }).to
      const mine = records.filter((r) => { const o = BigInt(r.offset); return o >= next && o < to })
      if (mine.length === 0) continue
      a.next.set(key, BigInt((mine[mine.length - 1] as FetchedRecord).offset) + 1n)
      this.recordsRead += mine.length
      try {
        await a.request.onRecords(topic, partition, mine)
      } catch (err) {
        this.finish(a, err as Error)
      }
    }
  }

  /** The partition's position reached the end of `a`'s range there. */
  private rangeRead (a: Active, key: string): void {
    if (!a.next.delete(key)) return
    this.leave(a, key)
    if (a.next.size === 0) a.resolve()
  }

  private finish (a: Active, err: Error): void {
    for (const key of [...a.next.keys()]) {
      a.next.delete(key)
      this.leave(a, key)
    }
    a.reject(err)
  }

  private leave (a: Active, key: string): void {
    const set = this.active.get(key)
    set?.delete(a)
    if (set === undefined || set.size > 0) return
    this.active.delete(key)
    this.handling.delete(key)
    const { topic, partition } = splitTpKey(key)
    this.fetcher.unassign(topic, partition)
  }
}
