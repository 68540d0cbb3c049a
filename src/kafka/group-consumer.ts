import type { Consumer, Kafka, KafkaMessage } from 'kafkajs'
import type { Logger } from '../observability/logger.js'

/**
 * Records of one partition, in offset order. Resolves with how many of them, from the first, are
 * done: their offsets are committed. Fewer than all means "read the rest again" (after a rebalance
 * it is another member of the group that reads them).
 */
export type GroupBatchHandler = (topic: string, partition: number, records: KafkaMessage[]) => Promise<number>

export interface GroupConsumerOptions {
  groupId: string
  topics: string[]
  /** a member that stops heartbeating for this long loses its partitions to the others */
  sessionTimeoutMs: number
  /** partitions handled at the same time */
  concurrency: number
  /** told after every join of the group (a rebalance): how long the join took, in ms */
  onJoin?: ((durationMs: number) => void) | undefined
}

/**
 * A member of a Kafka consumer group that shares the partitions of some topics with the other
 * members (other nodes): Kafka assigns the partitions; offsets are committed only for records the
 * handler reports done, so a member that dies leaves the rest to whoever gets its partitions next
 * (at-least-once). A new group starts at the head of the log.
 */
export class GroupConsumer {
  private readonly consumer: Consumer
  private readonly log: Logger
  private stopping = false

  constructor (kafka: Kafka, private readonly opts: GroupConsumerOptions, private readonly handler: GroupBatchHandler, logger: Logger) {
    this.log = logger.child({ component: 'group-consumer', groupId: opts.groupId })
    this.consumer = kafka.consumer({
      groupId: opts.groupId,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
      sessionTimeout: opts.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(opts.sessionTimeoutMs / 5)),
      rebalanceTimeout: Math.max(opts.sessionTimeoutMs, 10000)
    })
    this.consumer.on(this.consumer.events.GROUP_JOIN, e => {
      const assigned = Object.entries(e.payload.memberAssignment).map(([t, ps]) => `${t}:[${ps.join(',')}]`).join(' ')
      this.log.info({ assigned }, 'joined the shared-subscription group')
      this.opts.onJoin?.(e.payload.duration)
    })
    this.consumer.on(this.consumer.events.CRASH, e => {
      this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'shared-subscription group member crashed')
    })
  }

  async start (): Promise<void> {
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: this.opts.topics, fromBeginning: false })
    await this.consumer.run({
      autoCommit: true,
      autoCommitInterval: 500,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.concurrency,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (batch.messages.length === 0 || this.stopping || !isRunning() || isStale()) return
        const done = await this.handler(batch.topic, batch.partition, batch.messages)
        const last = batch.messages[done - 1]
        if (last !== undefined) resolveOffset(last.offset)
        await heartbeat()
      }
    })
  }

  /** Leave the group (its partitions go to the other members), committing what is done. */
  async stop (): Promise<void> {
    this.stopping = true
    await this.consumer.disconnect().catch(err => this.log.warn({ err }, 'shared-subscription group member did not leave cleanly'))
  }
}
