import type { KafkaMessage } from 'kafkajs'
import type { RecordDecoder } from '../mapping/mapping.js'
import type { Logger } from '../observability/logger.js'
import type { MqttMessage, Qos } from '../protocol/message.js'
import type { SubscriptionOptions } from '../protocol/subscription-options.js'
import { compileTopicFilter, type TopicMatcher } from '../protocol/topic-filter.js'
import { chooser, type Chooser, type Strategy } from './strategies.js'

/** A local client in one or more shared groups, as the MQTT edge hands it over. */
export interface SharedMember {
  readonly clientId: string
  /**
   * Resolves when the member has the message: PUBACK (QoS 1), PUBCOMP (QoS 2), written (QoS 0).
   * Rejects when the member goes away first. `options`: those of the member's subscription to the
   * group (its Subscription Identifier, Retain As Published).
   */
  deliver: (message: MqttMessage, qos: Qos, options: SubscriptionOptions) => Promise<void>
}

export interface SharedGroupOptions {
  group: string
  filter: string
  strategy: Strategy
  decoder: RecordDecoder
  /** a message acknowledged by a member, or given to another one because its member left first */
  onDispatch?: ((what: 'delivered' | 'redelivered') => void) | undefined
  logger: Logger
}

/**
 * One shared subscription (group, filter) on this node: the local members and the dispatch of the
 * records of the partitions Kafka assigned to this node. Each matching record goes to one member
 * (by the group's strategy); a record counts as done once that member acknowledged it, and if the
 * member leaves first it goes to another one. The consumer commits only done records.
 */
export class SharedGroup {
  private members: Array<{ member: SharedMember; qos: Qos; options: SubscriptionOptions }> = []
  private readonly matches: TopicMatcher
  private readonly choose: Chooser<{ member: SharedMember; qos: Qos; options: SubscriptionOptions }>
  private closing = false

  constructor (private readonly opts: SharedGroupOptions) {
    this.matches = compileTopicFilter(opts.filter)
    this.choose = chooser(opts.strategy)
  }

  get group (): string { return this.opts.group }
  get filter (): string { return this.opts.filter }
  get size (): number { return this.members.length }

  /** Add a member, or change its QoS and options. */
  add (member: SharedMember, qos: Qos, options: SubscriptionOptions = {}): void {
    const existing = this.members.find(m => m.member === member)
    if (existing !== undefined) {
      existing.qos = qos
      existing.options = options
    } else this.members = [...this.members, { member, qos, options }]
  }

  /** Remove a member; its unacknowledged messages go to the others (the edge rejects them). */
  remove (member: SharedMember): void {
    this.members = this.members.filter(m => m.member !== member)
  }

  /** No more deliveries: what is not done stays uncommitted for the group's other nodes. */
  close (): void { this.closing = true }

  /** The group consumer's handler: how many records, from the first, are done. */
  readonly onBatch = async (topic: string, partition: number, records: KafkaMessage[]): Promise<number> => {
    const work: Array<Promise<void>> = []
    await this.opts.decoder.decodeEach(topic, partition, records, (decoded) => {
      // records that are not MQTT messages or do not match are done at once
      if (!decoded.ok || !this.matches(decoded.message.topic)) work.push(Promise.resolve())
      else work.push(this.dispatch(decoded.message))
    })
    const results = await Promise.allSettled(work)
    const failed = results.findIndex(r => r.status === 'rejected')
    return failed === -1 ? results.length : failed
  }

  private async dispatch (message: MqttMessage): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.closing || this.members.length === 0) throw new Error('no member left in this node\'s part of the group')
      const target = this.choose(this.members, { publisher: message.clientId, topic: message.topic })
      try {
        await target.member.deliver(message, Math.min(message.qos, target.qos) as Qos, target.options)
        this.opts.onDispatch?.('delivered')
        return
      } catch (err) {
        this.opts.onDispatch?.('redelivered')
        if (attempt === 0) this.opts.logger.debug({ err, clientId: target.member.clientId, group: this.opts.group, topic: message.topic }, 'shared member left before acknowledging; delivering to another member')
        // the member is gone: the next pick is among the remaining ones
        this.remove(target.member)
      }
    }
  }
}
