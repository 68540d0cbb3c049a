import type { PartitionFetcher, RecordFilter } from '../kafka/partition-fetcher.js'
import { splitTpKey, tpKey, type Watermarks } from '../kafka/topic-partition.js'
import { HEADER } from '../mapping/codec.js'
import type { Mapping } from '../mapping/mapping.js'
import type { Logger } from '../observability/logger.js'
import { sleep } from '../util/async.js'
import type { InterestPlan } from './interest.js'
import { NodeInterest } from './interest.js'

export interface LiveReaderOptions {
  /** the data topics' fetcher, this reader's alone (its handler is the node's LogDelivery) */
  fetcher: PartitionFetcher
  plan: InterestPlan
  mapping: Mapping
  /** partitions of each data topic, as the node found them at start */
  partitionsOf: (kafkaTopic: string) => number
  logger: Logger
}

/**
 * The live read of the data topics: exactly the partitions this node's clients can receive records
 * from (their interest, `NodeInterest`), assigned to a group-free fetcher as subscriptions come and
 * go, with no rebalance and no pause of the other partitions. A new partition starts at its end
 * offset taken while the subscription is made, before its SUBACK, so everything published after the
 * SUBACK reaches the client; the last subscription leaving a partition stops its fetch. Every record
 * read is matched (its MQTT topic from the `mqtt.topic` header, else its key through the rule's
 * topic template) against the node's filters before it is decoded.
 */
export class LiveReader {
  private readonly interest: NodeInterest
  /** partitions being assigned: whoever needs one of them waits until it is */
  private readonly pending = new Map<string, Promise<void>>()
  private readonly log: Logger

  constructor (private readonly opts: LiveReaderOptions) {
    this.log = opts.logger.child({ component: 'live-reader' })
    this.interest = new NodeInterest(opts.plan, opts.partitionsOf)
    for (const topic of opts.plan.kafkaTopics) opts.fetcher.setFilter(topic, this.filterOf(topic))
  }

  /**
   * A local client holds `filter` from now on: resolves once every partition it needs is read from
   * a position taken during this call (or earlier, for partitions already read).
   */
  async hold (filter: string): Promise<void> {
    const started = this.interest.add(filter)
    if (started.length > 0) {
      const assigning = this.assign(started)
      for (const key of started) this.pending.set(key, assigning)
      void assigning.finally(() => { for (const key of started) if (this.pending.get(key) === assigning) this.pending.delete(key) })
    }
    const waits = new Set<Promise<void>>()
    for (const key of this.interest.partitionsOf(filter)) {
      const p = this.pending.get(key)
      if (p !== undefined) waits.add(p)
    }
    await Promise.all(waits)
  }

  /** A local client no longer holds `filter`: partitions nobody needs any more stop being fetched. */
  release (filter: string): void {
    for (const key of this.interest.remove(filter)) {
      const { topic, partition } = splitTpKey(key)
      this.opts.fetcher.unassign(topic, partition)
    }
  }

  /** The partitions a filter needs, as "topic:partition". */
  partitionsOf (filter: string): string[] {
    return this.interest.partitionsOf(filter)
  }

  /**
   * Per partition read now, the offset below which every record has been handed to the local
   * subscribers. Partitions not read have no entry.
   */
  positions (): Map<string, bigint> {
    const positions = new Map<string, bigint>()
    for (const { topic, partition } of this.opts.fetcher.assignments()) {
      const at = this.opts.fetcher.position(topic, partition)
      if (at !== undefined) positions.set(tpKey(topic, partition), at)
    }
    return positions
  }

  /** Low and high watermarks of these partitions ("topic:partition"), as of this call. */
  async watermarks (keys: Iterable<string>): Promise<Watermarks> {
    const partitions = [...keys].map(splitTpKey)
    const [low, high] = await Promise.all([this.opts.fetcher.earliestOffsets(partitions), this.opts.fetcher.latestOffsets(partitions)])
    const marks: Watermarks = new Map()
    for (const [key, h] of high) marks.set(key, { low: low.get(key) ?? 0n, high: h })
    return marks
  }

  /** Assigns the partitions still needed at their end offsets of now (retrying while Kafka is away). */
  private async assign (keys: string[]): Promise<void> {
    const fetcher = this.opts.fetcher
    for (let attempt = 0; ; attempt++) {
      const needed = keys.filter(k => this.interest.needs(k))
      if (needed.length === 0) return
      try {
        const ends = await fetcher.latestOffsets(needed.map(splitTpKey))
        for (const key of needed) {
          const { topic, partition } = splitTpKey(key)
          const end = ends.get(key)
          // interest may have gone (and come back) while the offsets were asked for
          if (end !== undefined && this.interest.needs(key) && !fetcher.isAssigned(topic, partition)) fetcher.assign(topic, partition, end)
        }
        return
      } catch (err) {
        if (attempt === 0) this.log.warn({ err, partitions: needed.length }, 'cannot take the start offsets of newly needed partitions yet; retrying (SUBACK waits)')
        await sleep(Math.min(5000, 250 * 2 ** attempt))
      }
    }
  }

  /** Which records of a data topic are decoded: those whose MQTT topic a local filter matches. */
  private filterOf (kafkaTopic: string): RecordFilter {
    const topicOf = this.opts.mapping.topicOfKey(kafkaTopic)
    const interest = this.interest
    return {
      header: HEADER.topic,
      wants (key, header) {
        if (header !== undefined && header !== null) return interest.wants(header.toString('utf8'))
        // no header: the key names the topic (raw, through the rule's template), or only the body does
        if (topicOf === undefined) return true
        return key !== null && interest.wants(topicOf(key.toString('utf8')))
      }
    }
  }
}
