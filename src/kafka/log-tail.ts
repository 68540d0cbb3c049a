import { randomUUID } from 'node:crypto'
import type { Kafka, Consumer, KafkaMessage } from 'kafkajs'
import type { Logger } from '../observability/logger.js'
import { EndOffsets, splitTpKey, tpKey, type Watermarks } from './end-offsets.js'

export type { KafkaMessage }

/** Records of one partition, in offset order. The promise resolves once they have been handled. */
export type BatchHandler = (topic: string, partition: number, messages: KafkaMessage[]) => Promise<void>

export interface LogTailOptions {
  /** what this reader is for; part of its consumer-group id and of its log lines */
  purpose: string
  node: string
  topics: string[]
  /** `earliest` replays the whole log (views of compacted topics); `latest` starts at the head (live delivery) */
  from: 'earliest' | 'latest'
  onBatch: BatchHandler
}

/**
 * Reads every partition of some topics, on this node alone. kafkajs only reads through consumer groups,
 * so each reader joins a group of its own (unique per process start, so two processes never split the
 * partitions between them) and Wharf keeps the positions itself: the start is fixed before `start()`
 * resolves (end offsets of every partition, or the earliest ones), and after a rejoin the reader seeks
 * back to where it was and commits that position; processed positions are committed every second,
 * so kafkajs never falls back to "latest" and skips records after a reconnect. (Not admin.setOffsets:
 * kafkajs implements it with a throw-away consumer that waits a whole fetch wait, ~5 s, per group.)
 */
export class LogTail {
  private readonly consumer: Consumer
  private readonly groupId: string
  private readonly log: Logger
  /** next offset to read, per "topic:partition" */
  private readonly nextOffsets = new Map<string, string>()
  /** end offsets captured at start: the reader is caught up once every partition reached them */
  private readonly startEnds = new Map<string, bigint>()
  private caughtUpWaiters: Array<() => void> = []
  private isCaughtUp = false
  /** callers of `reachEnd()` waiting for positions */
  private endWaiters: Array<{ ends: Map<string, bigint>; resolve: () => void }> = []
  /** watermarks of the topics: the fixed start, and the ends `reachEnd()` waits for */
  private readonly endOffsets: EndOffsets

  constructor (kafka: Kafka, private readonly opts: LogTailOptions, logger: Logger) {
    this.log = logger.child({ component: 'tail', purpose: opts.purpose })
    this.endOffsets = new EndOffsets(kafka, opts.topics, this.log)
    this.groupId = `wharf.tail.${opts.node}.${opts.purpose}.${randomUUID().slice(0, 8)}`
    this.consumer = kafka.consumer({
      groupId: this.groupId,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
      sessionTimeout: 30000,
      heartbeatInterval: 3000
    })
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => this.restorePositions())
    this.consumer.on(this.consumer.events.CRASH, e => {
      this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'Kafka reader crashed')
    })
  }

  /** Resolves when the reader runs from its fixed start. */
  async start (): Promise<void> {
    const marks = await this.endOffsets.fetch()
    // the admin connection is needed again only by reachEnd(), which reopens it
    await this.endOffsets.close()
    for (const [key, { low, high }] of marks) {
      const start = this.opts.from === 'latest' ? high : low
      this.nextOffsets.set(key, start.toString())
      if (high > start) this.startEnds.set(key, high)
    }
    if (this.startEnds.size === 0) this.markCaughtUp()
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: this.opts.topics, fromBeginning: this.opts.from === 'earliest' })
    await this.consumer.run({
      autoCommit: true,
      autoCommitInterval: 1000,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        if (batch.messages.length === 0) return
        if (this.log.isLevelEnabled('debug')) this.log.debug({ kafkaTopic: batch.topic, partition: batch.partition, firstOffset: batch.firstOffset(), records: batch.messages.length }, 'read batch')
        await this.opts.onBatch(batch.topic, batch.partition, batch.messages)
        const last = batch.messages[batch.messages.length - 1] as KafkaMessage
        this.advance(tpKey(batch.topic, batch.partition), BigInt(last.offset) + 1n)
      }
    })
    this.restorePositions()
  }

  /** Resolves when every record that existed at `start()` has been handled. */
  caughtUp (): Promise<void> {
    if (this.isCaughtUp) return Promise.resolve()
    return new Promise(resolve => this.caughtUpWaiters.push(resolve))
  }

  /**
   * Every record handled so far: per "topic:partition", the offset below which every record has been
   * handed to `onBatch` and that call has resolved.
   */
  positions (): Map<string, bigint> {
    const snapshot = new Map<string, bigint>()
    for (const [key, offset] of this.nextOffsets) snapshot.set(key, BigInt(offset))
    return snapshot
  }

  /** The low and high watermarks of this reader's partitions, as of this call. */
  watermarks (): Promise<Watermarks> {
    return this.endOffsets.fetch()
  }

  /**
   * Resolves when every record that Kafka had acknowledged before this call has been handled
   * (read-your-writes for a view built by this reader). Costs one ListOffsets round, shared by
   * concurrent callers.
   */
  async reachEnd (): Promise<void> {
    const marks = await this.endOffsets.fetch()
    const ends = new Map<string, bigint>()
    for (const [key, { high }] of marks) {
      const at = this.nextOffsets.get(key)
      if (at === undefined || BigInt(at) < high) ends.set(key, high)
    }
    if (ends.size === 0) return
    await new Promise<void>(resolve => this.endWaiters.push({ ends, resolve }))
  }

  async stop (): Promise<void> {
    await this.endOffsets.close()
    await this.consumer.disconnect().catch(err => this.log.warn({ err }, 'Kafka reader did not disconnect cleanly'))
  }

  private advance (key: string, next: bigint): void {
    this.nextOffsets.set(key, next.toString())
    if (this.endWaiters.length > 0) this.checkEndWaiters(key, next)
    const end = this.startEnds.get(key)
    if (end !== undefined && next >= end) {
      this.startEnds.delete(key)
      if (this.startEnds.size === 0) this.markCaughtUp()
    }
  }

  private checkEndWaiters (key: string, next: bigint): void {
    this.endWaiters = this.endWaiters.filter(w => {
      const end = w.ends.get(key)
      if (end !== undefined && next >= end) w.ends.delete(key)
      if (w.ends.size > 0) return true
      w.resolve()
      return false
    })
  }

  private markCaughtUp (): void {
    this.isCaughtUp = true
    for (const w of this.caughtUpWaiters.splice(0)) w()
  }

  /**
   * After every (re)join: seek to where this reader is, and commit that position, so that whenever
   * kafkajs re-resolves offsets on its own (a reconnect after Kafka was away) it finds this position
   * rather than falling back to the head and skipping what was written meanwhile.
   */
  private restorePositions (): void {
    const commits = []
    try {
      for (const [key, offset] of this.nextOffsets) {
        const tp = { ...splitTpKey(key), offset }
        this.consumer.seek(tp)
        commits.push(tp)
      }
    } catch (err) {
      // kafkajs is restarting the consumer (e.g. the group coordinator was still loading): the
      // GROUP_JOIN that follows calls this again
      this.log.debug({ err }, 'reader not joined yet; positions are restored when it joins')
      return
    }
    this.consumer.commitOffsets(commits).catch(err => this.log.debug({ err }, 'could not commit the reader position yet'))
  }
}
