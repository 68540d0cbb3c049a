import type { Kafka } from 'kafkajs'
import { GroupConsumer } from '../kafka/group-consumer.js'
import type { RecordDecoder } from '../mapping/mapping.js'
import type { Logger } from '../observability/logger.js'
import type { Qos } from '../protocol/message.js'
import type { ShareFilter } from '../protocol/share-filter.js'
import type { SubscriptionOptions } from '../protocol/subscription-options.js'
import { SharedGroup, type SharedMember } from './shared-group.js'
import type { Strategy } from './strategies.js'

export interface SharedSubscriptionsOptions {
  kafka: Kafka
  /** the data topics every group reads */
  topics: string[]
  /** part of every Kafka group id, so that two Wharf clusters on one Kafka do not share groups */
  clusterKey: string
  strategy: Strategy
  groupStrategies: Readonly<Record<string, Strategy>>
  memberTimeoutMs: number
  /** partitions handled at once per group */
  concurrency: number
  decoder: RecordDecoder
  /** a message acknowledged by a member, or given to another one because its member left first */
  onDispatch?: (what: 'delivered' | 'redelivered') => void
  /** a group of this node joined again (rebalance): how long its partitions paused, in ms */
  onRebalance?: (durationMs: number) => void
  logger: Logger
}

interface Running {
  group: SharedGroup
  consumer: GroupConsumer
  started: Promise<void>
}

/**
 * The shared subscriptions of this node: for each (group, filter) with at least one local member,
 * this node is a member of a Kafka consumer group `wharf.shared.<cluster>.<group>.<filter>` over the
 * data topics, so Kafka spreads the partitions over the nodes that have members; the node leaves
 * the Kafka group when its last local member goes.
 */
export class SharedSubscriptions {
  private readonly running = new Map<string, Running>()
  private readonly leaving = new Set<Promise<void>>()
  private readonly log: Logger

  constructor (private readonly opts: SharedSubscriptionsOptions) {
    this.log = opts.logger.child({ component: 'shared' })
  }

  /** A member joins (group, filter) at `qos`, with its subscription's options (identifier, Retain As Published). */
  join (member: SharedMember, share: ShareFilter, qos: Qos, options: SubscriptionOptions = {}): void {
    const key = `${share.group}\u0000${share.filter}`
    let r = this.running.get(key)
    if (r === undefined) {
      const strategy = this.opts.groupStrategies[share.group] ?? this.opts.strategy
      const group = new SharedGroup({ group: share.group, filter: share.filter, strategy, decoder: this.opts.decoder, onDispatch: this.opts.onDispatch, logger: this.log })
      const groupId = `wharf.shared.${this.opts.clusterKey}.${share.group}.${share.filter}`
      const consumer = new GroupConsumer(this.opts.kafka, {
        groupId,
        topics: this.opts.topics,
        sessionTimeoutMs: this.opts.memberTimeoutMs,
        concurrency: this.opts.concurrency,
        onJoin: this.opts.onRebalance
      }, group.onBatch, this.opts.logger)
      const started = consumer.start().catch(err => this.log.error({ err, groupId }, 'could not join the Kafka group of a shared subscription'))
      r = { group, consumer, started }
      this.running.set(key, r)
      this.log.info({ group: share.group, filter: share.filter, strategy, groupId }, 'first local member of a shared subscription: joining its Kafka group')
    }
    r.group.add(member, qos, options)
  }

  leave (member: SharedMember, share: ShareFilter): void {
    const key = `${share.group}\u0000${share.filter}`
    const r = this.running.get(key)
    if (r === undefined) return
    r.group.remove(member)
    if (r.group.size > 0) return
    this.running.delete(key)
    r.group.close()
    this.log.info({ group: share.group, filter: share.filter }, 'last local member of a shared subscription left: leaving its Kafka group')
    const left: Promise<void> = r.started.then(() => r.consumer.stop()).finally(() => this.leaving.delete(left))
    this.leaving.add(left)
  }

  /** Leave every Kafka group (node shutdown). */
  async stop (): Promise<void> {
    const all = [...this.running.values()]
    this.running.clear()
    for (const r of all) r.group.close()
    await Promise.all([...all.map(r => r.started.then(() => r.consumer.stop())), ...this.leaving])
  }
}
