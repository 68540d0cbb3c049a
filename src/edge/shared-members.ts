import type { Aedes, AuthorizeSubscribeHandler, Client } from 'aedes'
import type { MqttMessage } from '../protocol/message.js'
import type { Logger } from '../observability/logger.js'
import type { Qos } from '../protocol/message.js'
import { isShareFilter, parseShareFilter } from '../protocol/share-filter.js'
import type { SharedMember } from '../shared/shared-group.js'
import type { SharedSubscriptions } from '../shared/shared-subscriptions.js'

import { deliverTo, directPacket, takePacketId } from './aedes-packets.js'

/** One connected client as a member of shared groups: delivers and waits for its acknowledgement. */
class ClientMember implements SharedMember {
  readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>()
  gone = false

  constructor (private readonly aedes: Aedes, private readonly client: Client) {}

  get clientId (): string { return this.client.id }

  deliver (message: MqttMessage, qos: Qos): Promise<void> {
    if (this.gone || this.client.closed) return Promise.reject(new Error('member gone'))
    if (qos === 0) return new Promise(resolve => deliverTo(this.client, directPacket(this.aedes, message, 0, false), resolve))
    // the packet id is taken here (aedes keeps one it finds) so that the acknowledgement can be matched
    const id = takePacketId(this.client)
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      deliverTo(this.client, directPacket(this.aedes, message, qos, false, id), () => undefined)
    })
  }

  acked (messageId: number): void {
    const p = this.pending.get(messageId)
    if (p === undefined) return
    this.pending.delete(messageId)
    p.resolve()
  }

  leave (): void {
    this.gone = true
    const err = new Error('member gone')
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }
}

/**
 * `$share/<group>/<filter>` and `$queue/<filter>` for aedes 1.x, which knows neither: the
 * subscription is granted (aedes keeps the literal filter, which no topic matches), and the client
 * joins the group in SharedSubscriptions; messages come from the group and are acknowledged back
 * to it through aedes' `ack` event.
 */
export class SharedMembers {
  private readonly members = new WeakMap<Client, ClientMember>()
  private readonly joined = new WeakMap<Client, Set<string>>()

  constructor (private readonly aedes: Aedes, private readonly shared: SharedSubscriptions, private readonly log: Logger) {
    aedes.on('ack', (packet, client) => {
      const id = (packet as { messageId?: number } | undefined)?.messageId
      if (id !== undefined && client !== null) this.members.get(client)?.acked(id)
    })
    aedes.on('unsubscribe', (topics, client) => {
      for (const topic of topics) if (isShareFilter(topic)) this.leave(client, topic)
    })
  }

  /** Wraps aedes' authorizeSubscribe: shared filters join their group; malformed ones are refused (0x80). */
  readonly authorizeSubscribe: AuthorizeSubscribeHandler = (client, sub, callback) => {
    if (client === null || !isShareFilter(sub.topic)) { callback(null, sub); return }
    const share = parseShareFilter(sub.topic)
    if (share === undefined) {
      this.log.info({ clientId: client.id, filter: sub.topic }, 'refused a malformed shared subscription')
      callback(null, null)
      return
    }
    let member = this.members.get(client)
    if (member === undefined || member.gone) this.members.set(client, member = new ClientMember(this.aedes, client))
    let topics = this.joined.get(client)
    if (topics === undefined) this.joined.set(client, topics = new Set())
    topics.add(sub.topic)
    this.shared.join(member, share, sub.qos as Qos)
    callback(null, sub)
  }

  /** The client is gone: leave every group; its unacknowledged messages go to other members. */
  clientGone (client: Client): void {
    const member = this.members.get(client)
    if (member === undefined) return
    for (const topic of this.joined.get(client) ?? []) {
      const share = parseShareFilter(topic)
      if (share !== undefined) this.shared.leave(member, share)
    }
    this.joined.delete(client)
    member.leave()
  }

  private leave (client: Client, topic: string): void {
    const member = this.members.get(client)
    const share = parseShareFilter(topic)
    if (member === undefined || share === undefined) return
    this.joined.get(client)?.delete(topic)
    this.shared.leave(member, share)
  }
}
