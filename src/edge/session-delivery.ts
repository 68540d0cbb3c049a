import type { Aedes, AuthorizeForwardHandler, Client } from 'aedes'
import type { MqttMessage } from '../protocol/message.js'
import { compileTopicFilter, type TopicMatcher } from '../protocol/topic-filter.js'
import type { LogPosition, PersistentSession } from '../session/persistent-session.js'
import type { Qos } from '../protocol/message.js'
import type { ReplayItem } from '../session/session-manager.js'
import { deliverTo, directPacket, emitterPacket, type AedesPacket, type DeliveringClient } from './aedes-packets.js'

const matchers = new Map<string, TopicMatcher>()

/** The best QoS granted to `client` by a filter matching `topic` (0 when none matches), up to `cap`. */
function grantedQos (client: Client, topic: string, cap: number): Qos {
  const subs = (client as unknown as { subscriptions: Record<string, { qos: number }> }).subscriptions
  let best = 0
  for (const filter in subs) {
    if (best >= cap) break
    const qos = (subs[filter] as { qos: number }).qos
    if (qos <= best) continue
    let matches = matchers.get(filter)
    if (matches === undefined) {
      if (matchers.size > 10000) matchers.clear()
      matches = compileTopicFilter(filter)
      matchers.set(filter, matches)
    }
    if (matches(topic)) best = qos
  }
  return best as Qos
}

interface Origin extends LogPosition {
  /** handed over by a resume or its catch-up, not by the live path (absent: live) */
  replay?: boolean
  /** an unacknowledged delivery sent again with its packet id */
  resend?: boolean
}

/**
 * Delivery to persistent sessions, on top of aedes' own. Every packet read from the log carries its
 * log position (kept here by aedes' packet counter, since aedes copies packets per subscription),
 * so that aedes' authorizeForward hook — which runs once per client and packet, synchronously, just
 * before aedes assigns a packet id — can let the session decide: deliveries it already had are
 * dropped, live deliveries that arrive while the session resumes are held back and handed over
 * after the replay (no gap, no reordering), and the session learns which record each packet id is.
 * Clients with clean sessions get aedes' delivery unchanged.
 */
export class SessionDelivery {
  private readonly origins = new Map<number, Origin>()
  private readonly held = new WeakMap<PersistentSession, Array<{ packet: AedesPacket; origin: Origin }>>()

  /**
   * @param anySessions whether this node has persistent sessions at all: live packets carry their
   *   position only then (a session that opens later never gets a packet emitted before it existed)
   */
  constructor (
    private readonly aedes: Aedes,
    private readonly sessionOf: (client: Client) => PersistentSession | undefined,
    private readonly anySessions: () => boolean
  ) {}

  /** A packet for the emitter, made from a record of the log. Call `done(packet)` after the emit. */
  livePacket (message: MqttMessage, tp: string, offset: string): AedesPacket {
    const packet = emitterPacket(this.aedes, message)
    // the hot path: a position is made only while this node has persistent sessions
    if (this.anySessions()) this.origins.set(packet.brokerCounter, { tp, offset: BigInt(offset) })
    return packet
  }

  done (packet: AedesPacket): void {
    this.origins.delete(packet.brokerCounter)
  }

  readonly authorizeForward: AuthorizeForwardHandler = (client, packet) => {
    const session = this.sessionOf(client)
    if (session === undefined) {
      // aedes lowers the QoS to the subscription's only for a filter equal to the topic: do it for
      // wildcard filters too (min of publish QoS and the best granted QoS, [MQTT-3.8.4-6]). Packets
      // without a broker id are Wharf's own (shared-subscription deliveries): their QoS is decided.
      if (packet.qos > 0 && (packet as AedesPacket).brokerId !== '') {
        const granted = grantedQos(client, packet.topic, packet.qos)
        if (granted < packet.qos) packet.qos = granted
      }
      return packet
    }
    const origin = this.origins.get((packet as AedesPacket).brokerCounter)
    if (origin === undefined) return packet // retained messages, $SYS notices: not from the log
    if (session.state === 'closed') return null
    if (session.state === 'resuming' && origin.replay !== true) {
      let held = this.held.get(session)
      if (held === undefined) this.held.set(session, held = [])
      held.push({ packet: packet as AedesPacket, origin })
      return null
    }
    if (origin.resend === true) {
      session.readmit(origin, packet.qos as 1 | 2, (packet as AedesPacket).brokerCounter)
      return packet
    }
    const qos = session.effectiveQos(packet.topic, packet.qos)
    if (qos === -1) return null
    if (!session.admit(origin, qos, (packet as AedesPacket).brokerCounter)) return null
    // each subscriber gets its own copy of the packet from aedes: lowering its QoS is safe
    packet.qos = qos
    return packet
  }

  /** Before the replay: new packet ids must not collide with the ids of deliveries to be resent. */
  prepare (client: Client, session: PersistentSession): void {
    const highest = session.highestPacketId()
    if (highest > 0) (client as DeliveringClient)._nextId = (highest % 65535) + 1
  }

  /** Hand one replayed record to the client; resolves once it is written. */
  replay (client: Client, item: ReplayItem): Promise<void> {
    if (client.closed) return Promise.reject(new Error('client gone'))
    const packet = directPacket(this.aedes, item.message, item.qos, item.dup, item.messageId)
    return this.send(client, packet, { ...item.pos, replay: true, resend: item.messageId !== undefined })
  }

  /**
   * The replay is done: hand over what live delivery held back meanwhile (the session drops what
   * the replay already covered) and switch the session to live delivery, in one synchronous step so
   * that nothing live slips in between.
   */
  goLive (client: Client, session: PersistentSession): void {
    const held = this.held.get(session) ?? []
    this.held.delete(session)
    for (const { packet, origin } of held) {
      const qos = session.effectiveQos(packet.topic, packet.qos)
      if (qos === -1) continue
      void this.send(client, directPacket(this.aedes, packet, qos, false), { ...origin, replay: true, resend: false })
    }
    if (session.state === 'resuming') session.state = 'live'
  }

  /** Packets Wharf hands over itself skip aedes' per-client de-duplication: the session de-duplicates by position. */
  private send (client: Client, packet: AedesPacket, origin: Origin): Promise<void> {
    this.origins.set(packet.brokerCounter, origin)
    return new Promise(resolve => deliverTo(client, packet, () => { this.done(packet); resolve() }))
  }
}
