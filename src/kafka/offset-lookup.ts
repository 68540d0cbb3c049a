import type { Logger } from '../observability/logger.js'
import { tpKey } from './topic-partition.js'
import type { KafkajsCluster } from './kafkajs-internals.js'

/** One partition of one Kafka topic. */
export interface TopicPartition {
  topic: string
  partition: number
}

type Which = 'latest' | 'earliest'

interface Waiter {
  keys: string[]
  resolve: (offsets: Map<string, bigint>) => void
  reject: (err: Error) => void
}

interface Round {
  partitions: Map<string, TopicPartition>
  waiters: Waiter[]
}

/** An offset lookup did not get an answer for every partition before its deadline. */
export class OffsetLookupFailed extends Error {
  constructor (which: Which, count: number, cause: unknown) {
    super(`could not look up the ${which} offsets of ${count} partition(s): ${(cause as Error)?.message ?? String(cause)}`)
    this.name = 'OffsetLookupFailed'
    this.cause = cause
  }
}

const BACKOFF_MS = [100, 200, 500, 1000, 2000]

/**
 * Start positions for partitions about to be read: the end offset (ListOffsets "latest") or the log
 * start ("earliest") of any number of partitions, with one ListOffsets request per leader broker.
 * Calls made while a lookup is on the wire are gathered into the next one, so a burst of
 * subscriptions (each must fix its start position before its SUBACK) costs a few requests, and each
 * caller gets the answer of a request sent after its call: a record acknowledged before the call is
 * below the end offset it gets. With read_committed (the fetcher's default) the end offset is the last
 * stable offset, where a read_committed fetch stops.
 */
export class OffsetLookup {
  private readonly queued = new Map<Which, Round>()
  private readonly running = new Set<Which>()

  constructor (private readonly cluster: KafkajsCluster, private readonly logger: Logger, private readonly timeoutMs = 30_000) {}

  /** The end offset of each partition, keyed "topic:partition". */
  latest (partitions: readonly TopicPartition[]): Promise<Map<string, bigint>> {
    return this.request('latest', partitions)
  }

  /** The log start offset of each partition, keyed "topic:partition". */
  earliest (partitions: readonly TopicPartition[]): Promise<Map<string, bigint>> {
    return this.request('earliest', partitions)
  }

  private request (which: Which, partitions: readonly TopicPartition[]): Promise<Map<string, bigint>> {
    if (partitions.length === 0) return Promise.resolve(new Map())
    return new Promise((resolve, reject) => {
      let round = this.queued.get(which)
      if (round === undefined) this.queued.set(which, round = { partitions: new Map(), waiters: [] })
      const keys: string[] = []
      for (const tp of partitions) {
        const key = tpKey(tp.topic, tp.partition)
        keys.push(key)
        round.partitions.set(key, tp)
      }
      round.waiters.push({ keys, resolve, reject })
      if (!this.running.has(which)) {
        this.running.add(which)
        // gather the calls of this tick into one round
        setImmediate(() => { void this.run(which) })
      }
    })
  }

  private async run (which: Which): Promise<void> {
    for (let round = this.queued.get(which); round !== undefined; round = this.queued.get(which)) {
      this.queued.delete(which)
      try {
        const offsets = await this.lookUp(which, [...round.partitions.values()])
        for (const w of round.waiters) {
          const mine = new Map<string, bigint>()
          for (const key of w.keys) mine.set(key, offsets.get(key) as bigint)
          w.resolve(mine)
        }
      } catch (err) {
        const failed = new OffsetLookupFailed(which, round.partitions.size, err)
        for (const w of round.waiters) w.reject(failed)
      }
    }
    this.running.delete(which)
  }

  private async lookUp (which: Which, partitions: TopicPartition[]): Promise<Map<string, bigint>> {
    const byTopic = new Map<string, Array<{ partition: number }>>()
    for (const { topic, partition } of partitions) {
      let list = byTopic.get(topic)
      if (list === undefined) byTopic.set(topic, list = [])
      list.push({ partition })
    }
    const request = [...byTopic].map(([topic, parts]) => ({ topic, partitions: parts, fromBeginning: which === 'earliest' }))
    const deadline = Date.now() + this.timeoutMs
    for (let attempt = 0; ; attempt++) {
      try {
        await this.cluster.addMultipleTargetTopics([...byTopic.keys()])
        const answer = await this.cluster.fetchTopicsOffset(request)
        const offsets = new Map<string, bigint>()
        for (const t of answer) for (const p of t.partitions) offsets.set(tpKey(t.topic, p.partition), BigInt(p.offset))
        const missing = partitions.filter((tp) => !offsets.has(tpKey(tp.topic, tp.partition)))
        if (missing.length > 0) throw new Error(`no leader known for ${missing.map((tp) => tpKey(tp.topic, tp.partition)).join(', ')}`)
        return offsets
      } catch (err) {
        if ((err as { retriable?: boolean }).retriable === false || Date.now() > deadline) throw err
        const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] as number
        this.logger.debug({ err, which, partitions: partitions.length, retryInMs: delay }, 'offset lookup failed; refreshing metadata and retrying')
        await new Promise((resolve) => setTimeout(resolve, delay))
        await this.cluster.refreshMetadata().catch(() => undefined)
      }
    }
  }
}
