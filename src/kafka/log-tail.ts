import type { KafkaMessage } from 'kafkajs'
import { tpKey, type Watermarks } from './topic-partition.js'
import type { PartitionFetcher, TopicPartition } from './partition-fetcher.js'

/** Records of one partition, in offset order. The promise resolves once they have been handled. */
export type BatchHandler = (topic: string, partition: number, messages: KafkaMessage[]) => Promise<void>

export type { KafkaMessage }

export interface LogTailOptions {
  topics: string[]
  /** `earliest` replays the whole log (views of compacted topics); `latest` starts at the head (live delivery) */
  from: 'earliest' | 'latest'
  /** records of one partition, in offset order; called one at a time per topic */
  onBatch: BatchHandler
}

/**
 * Every partition of some topics, read on a PartitionFetcher (no consumer group), from the earliest
 * offset (views of compacted topics) or the head. Several tails can share one fetcher (each registers the handler of its own topics),
 * and then all their partitions on a broker share one long-poll Fetch. The partitions are those the
 * topics have at `start()`.
 */
export class LogTail {
  private partitions: TopicPartition[] = []
  /** end offsets at start: caught up once every partition reached them */
  private startEnds = new Map<string, bigint>()
  private caught: Promise<void> | undefined

  constructor (private readonly fetcher: PartitionFetcher, private readonly opts: LogTailOptions) {}

  /** Resolves when the tail reads from its fixed start (the fetcher must be started too). */
  async start (): Promise<void> {
    this.partitions = await this.fetcher.partitionsOf(this.opts.topics)
    const [low, high] = await Promise.all([this.fetcher.earliestOffsets(this.partitions), this.fetcher.latestOffsets(this.partitions)])
    for (const topic of this.opts.topics) this.fetcher.setHandler(topic, this.opts.onBatch)
    for (const tp of this.partitions) {
      const key = tpKey(tp.topic, tp.partition)
      const end = high.get(key) as bigint
      const start = this.opts.from === 'latest' ? end : low.get(key) as bigint
      this.startEnds.set(key, end)
      this.fetcher.assign(tp.topic, tp.partition, start)
    }
  }

  /** Resolves when every record that existed at `start()` has been handled. */
  caughtUp (): Promise<void> {
    this.caught ??= this.reach(this.startEnds)
    return this.caught
  }

  /** Per "topic:partition", the offset below which every record has been handled. */
  positions (): Map<string, bigint> {
    const positions = new Map<string, bigint>()
    for (const { topic, partition } of this.partitions) {
      const at = this.fetcher.position(topic, partition)
      if (at !== undefined) positions.set(tpKey(topic, partition), at)
    }
    return positions
  }

  /** The low and high watermarks of the tail's partitions, as of this call. */
  async watermarks (): Promise<Watermarks> {
    const [low, high] = await Promise.all([this.fetcher.earliestOffsets(this.partitions), this.fetcher.latestOffsets(this.partitions)])
    const marks: Watermarks = new Map()
    for (const [key, h] of high) marks.set(key, { low: low.get(key) as bigint, high: h })
    return marks
  }

  /** Resolves when every record Kafka had acknowledged before this call has been handled (read-your-writes). */
  async reachEnd (): Promise<void> {
    await this.reach(await this.fetcher.latestOffsets(this.partitions))
  }

  /** Stops reading the tail's partitions (the fetcher, which may serve others, goes on). */
  async stop (): Promise<void> {
    for (const { topic, partition } of this.partitions) this.fetcher.unassign(topic, partition)
    for (const topic of this.opts.topics) this.fetcher.setHandler(topic, undefined)
  }

  private async reach (ends: Map<string, bigint>): Promise<void> {
    await Promise.all(this.partitions.map(({ topic, partition }) => this.fetcher.waitForPosition(topic, partition, ends.get(tpKey(topic, partition)) ?? 0n)))
  }
}
