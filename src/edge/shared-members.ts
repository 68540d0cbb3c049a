import type { Aedes, Client } from 'aedes'
import type { MqttMessage, Qos } from '../protocol/message.js'
import { deliveryProperties } from '../protocol/message-properties.js'
import { REASON } from '../protocol/reason-codes.js'
import { withSubscriptionIds, type SubscriptionOptions } from '../protocol/subscription-options.js'
import { isShareFilter, parseShareFilter, type ShareFilter } from '../protocol/share-filter.js'
import type { SharedMember } from '../shared/shared-group.js'
import type { SharedSubscriptions } from '../shared/shared-subscriptions.js'
import { deliverTo, directPacket, flowLimitsOf, onIncomingPacket, takePacketId, type AedesPacket } from './aedes-internals.js'
import { tooLargeFor } from './outbound.js'

/** What a member tells its owner. */
export interface SharedMemberHooks {
  /** a delivery was discarded, larger than the member's Maximum Packet Size (counted) */
  onTooLarge: (client: Client) => void
  /**
   * How long a member may leave its deliveries unacknowledged without acknowledging any
   * (`mqtt.slow_client_timeout`) before `onStalled` (which disconnects it).
   */
  stallTimeoutMs: number
  /** the member acknowledged nothing for `stallTimeoutMs` while `unacknowledged` deliveries wait */
  onStalled: (client: Client, unacknowledged: number) => void
}

/** A delivery with a packet id that waits for a free place in the client's Receive Maximum. */
interface Waiting { id: number; packet: AedesPacket }

/** One connected client as a member of shared groups: delivers and waits for its acknowledgement. */
class ClientMember implements SharedMember {
  readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>()
  /** the `$share/...` filters it holds */
  readonly filters = new Set<string>()
  gone = false
  /** QoS 1/2 deliveries beyond the client's Receive Maximum, sent as acknowledgements come */
  private readonly waiting: Waiting[] = []
  /** runs while deliveries are unacknowledged; every acknowledgement starts it again (see `SharedMemberHooks.stallTimeoutMs`) */
  private stallTimer: NodeJS.Timeout | undefined

  constructor (private readonly aedes: Aedes, private readonly client: Client, private readonly hooks: SharedMemberHooks) {}

  get clientId (): string { return this.client.id }

  deliver (message: MqttMessage, qos: Qos, options: SubscriptionOptions): Promise<void> {
    if (this.gone || this.client.closed) return Promise.reject(new Error('member gone'))
    const expiring = deliveryProperties(message.properties, Date.now())
    // an expired message is done with: nobody gets it
    if (expiring === 'expired') return Promise.resolve()
    // the member's Subscription Identifier [MQTT-3.3.4-3]; RETAIN only with Retain As Published
    const properties = this.client.version === 5 && options.id !== undefined ? withSubscriptionIds(expiring, [options.id]) : expiring
    const packet = directPacket(this.aedes, message, qos, false, undefined, properties)
    packet.retain = message.retain && options.rap === true
    // larger than an MQTT 5 client's Maximum Packet Size: discarded as if sent [MQTT-3.1.2-25]
    if (tooLargeFor(this.client, packet)) {
      this.hooks.onTooLarge(this.client)
      return Promise.resolve()
    }
    if (qos === 0) return new Promise(resolve => deliverTo(this.client, packet, resolve))
    // the packet id is taken here (aedes keeps one it finds) so that the acknowledgement can be matched
    const id = takePacketId(this.client)
    packet.messageId = id
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.stallTimer ??= setTimeout(() => this.stalled(), this.hooks.stallTimeoutMs).unref()
      // an MQTT 5 client's Receive Maximum bounds what is unacknowledged [MQTT-3.3.4-9]
      if (this.pending.size > this.receiveMaximum) this.waiting.push({ id, packet })
      else deliverTo(this.client, packet, () => undefined)
    })
  }

  /** An acknowledgement came: the stall clock starts again, or stops when nothing is unacknowledged. */
  private progressed (): void {
    if (this.stallTimer === undefined) return
    if (this.pending.size > 0) {
      this.stallTimer.refresh()
      return
    }
    clearTimeout(this.stallTimer)
    this.stallTimer = undefined
  }

  /**
   * No acknowledgement for `stallTimeoutMs` while a delivery waits for one. The group's records are
   * committed in order, so the member's unacknowledged message holds its partition on this node
   * for every other member: a client that keeps its connection and never acknowledges would stall
   * the group here for ever. It is disconnected as a slow client; its messages go to the others.
   */
  private stalled (): void {
    this.stallTimer = undefined
    if (this.gone || this.client.closed || this.pending.size === 0) return
    this.hooks.onStalled(this.client, this.pending.size)
  }

  /**
   * A QoS 2 delivery the member answered with PUBREC: it has the message (exactly once is its
   * business from here), so the group may commit it and it never goes to another member, even if
   * the member leaves before its PUBCOMP. It stays in flight (Receive Maximum) until the PUBCOMP.
   */
  received (messageId: number): void {
    const p = this.pending.get(messageId)
    if (p === undefined) return
    p.resolve()
    this.progressed()
  }

  acked (messageId: number): void {
    const p = this.pending.get(messageId)
    if (p === undefined) return
    this.pending.delete(messageId)
    p.resolve()
    this.progressed()
    const next = this.waiting.shift()
    if (next !== undefined && !this.gone && !this.client.closed) deliverTo(this.client, next.packet, () => undefined)
  }

  private get receiveMaximum (): number {
    return flowLimitsOf(this.client)?.receiveMaximum ?? Infinity
  }

  leave (): void {
    this.gone = true
    clearTimeout(this.stallTimer)
    this.stallTimer = undefined
    const err = new Error('member gone')
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.waiting.length = 0
  }
}

/**
 * The local clients in shared groups (aedes 1.x knows neither `$share/` nor `$queue/`: the edge grants
 * the subscription, aedes keeps the literal filter, which no topic matches, and the client joins the
 * group in SharedSubscriptions). Messages come from the group and are acknowledged back to it through
 * aedes' `ack` event.
 */
export class SharedMembers {
  private readonly members = new WeakMap<Client, ClientMember>()
  private readonly watched = new WeakSet<Client>()

  constructor (private readonly aedes: Aedes, private readonly shared: SharedSubscriptions, private readonly hooks: SharedMemberHooks) {
    aedes.on('ack', (packet, client) => {
      const id = (packet as { messageId?: number } | undefined)?.messageId
      if (id !== undefined && client !== null) this.members.get(client)?.acked(id)
    })
    aedes.on('unsubscribe', (topics, client) => {
      for (const topic of topics) if (isShareFilter(topic)) this.leave(client, topic)
    })
  }

  /** A granted `$share/...` subscription (`filter` as the client wrote it), with its options. */
  join (client: Client, filter: string, share: ShareFilter, qos: Qos, options: SubscriptionOptions = {}): void {
    let member = this.members.get(client)
    if (member === undefined || member.gone) this.members.set(client, member = new ClientMember(this.aedes, client, this.hooks))
    if (!this.watched.has(client)) {
      this.watched.add(client)
      // a PUBREC settles a QoS 2 delivery: the member took the message, which then goes to no
      // other member (the part of [MQTT-4.8.2-4/5] Wharf keeps); one >= 0x80 (MQTT 5) also ends
      // the flow, the message done with [MQTT-4.8.2-6] (aedes sends no PUBREL and emits no `ack`)
      onIncomingPacket(client, packet => {
        const p = packet as { cmd: string; messageId?: number; reasonCode?: number }
        if (p.cmd !== 'pubrec' || p.messageId === undefined) return
        const member = this.members.get(client)
        if ((p.reasonCode ?? 0) >= REASON.unspecifiedError) member?.acked(p.messageId)
        else member?.received(p.messageId)
      })
    }
    member.filters.add(filter)
    this.shared.join(member, share, qos, options)
  }

  /** The client is gone: leave every group; its unacknowledged messages go to other members. */
  clientGone (client: Client): void {
    const member = this.members.get(client)
    if (member === undefined) return
    for (const filter of member.filters) {
      const share = parseShareFilter(filter)
      if (share !== undefined) this.shared.leave(member, share)
    }
    member.filters.clear()
    member.leave()
  }

  private leave (client: Client, filter: string): void {
    const member = this.members.get(client)
    const share = parseShareFilter(filter)
    if (member === undefined || share === undefined) return
    member.filters.delete(filter)
    this.shared.leave(member, share)
  }
}
