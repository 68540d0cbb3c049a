import type { Aedes, AuthorizeForwardHandler, Client } from 'aedes'
import type { MqttMessage, Qos } from '../protocol/message.js'
import { deliveryProperties } from '../protocol/message-properties.js'
import { compileTopicFilter, type TopicMatcher } from '../protocol/topic-filter.js'
import type { LocalSink } from '../routing/log-delivery.js'
import type { LogPosition, PersistentSession } from '../session/persistent-session.js'
import type { ReplayItem } from '../session/session-manager.js'
import type { LocalEmitter } from './local-emitter.js'
import {
  continuePacketIdsAfter, deliverTo, directPacket, emitterPacket, grantedSubscriptions, isDirectPacket, packetCounter, type AedesPacket
} from './aedes-internals.js'

const matchers = new Map<string, TopicMatcher>()

/** The best QoS granted to `client` by a filter matching `topic` (0 when none matches), up to `cap`. */
export function grantedQos (client: Client, topic: string, cap: number): Qos {
  const subs = grantedSubscriptions(client)
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

/**
 * Where a packet read from the log came from. The live path keeps the offset as Kafka's text (a
 * BigInt is made only when a persistent session asks), so that tracking every record costs one
 * small object.
 */
interface Origin {
  tp: string
  offset: bigint | string
  /** handed over by a resume or its catch-up, not by the live path (absent: live) */
  replay?: boolean
  /** an unacknowledged delivery sent again with its packet id */
  resend?: boolean
}

/** The origin's log position (its offset as a BigInt, made once). */
function positionOf (origin: Origin): LogPosition {
  if (typeof origin.offset === 'string') origin.offset = BigInt(origin.offset)
  return origin as LogPosition
}

export interface DeliveryOptions {
  aedes: () => Aedes
  /** the emitter aedes delivers from (the node's local subscription matching) */
  mq: () => LocalEmitter
  sessionOf: (client: Client) => PersistentSession | undefined
}

/**
 * Delivery of the log's records to this node's clients (the node's LocalSink), and delivery to
 * persistent sessions on top of aedes' own. A record goes straight into the emitter aedes delivers
 * from, synchronously and in log order: aedes' own `publish()` runs QoS 1/2 packets through an
 * asynchronous step (its offline queue) that QoS 0 packets skip, so a QoS 0 record could overtake
 * the QoS 1 records before it, and aedes' per-client de-duplication would then drop those as stale.
 *
 * Every packet read from the log carries its log position (kept here by aedes' packet counter,
 * since aedes copies packets per subscription), so that aedes' authorizeForward hook, which runs once
 * per client and packet, synchronously, just before aedes assigns a packet id, can let the session
 * decide: deliveries it already had are dropped, live deliveries that arrive while the session
 * resumes are held back and handed over after the replay (no gap, no reordering), and the session
 * learns which record each packet id is. Clients with clean sessions get aedes' delivery unchanged.
 */
export class Delivery implements LocalSink {
  private readonly origins = new Map<number, Origin>()
  private readonly held = new WeakMap<PersistentSession, Array<{ packet: AedesPacket; origin: Origin }>>()

  constructor (private readonly opts: DeliveryOptions) {}

  /** Hand a record of the log to every matching local subscriber; resolves once handed over. */
  deliver (message: MqttMessage, tp: string, offset: string): Promise<void> {
    // an expired message is delivered to nobody; the others carry what is left of their interval
    const properties = deliveryProperties(message.properties, Date.now())
    if (properties === 'expired') return Promise.resolve()
    const packet = emitterPacket(this.opts.aedes(), message, properties)
    // every record is tracked: the emitter may dispatch it after a persistent session subscribed
    this.origins.set(packet.brokerCounter, { tp, offset })
    return new Promise(resolve => this.opts.mq().emit(packet, () => { this.origins.delete(packet.brokerCounter); resolve() }))
  }

  readonly authorizeForward: AuthorizeForwardHandler = (client, packet) => {
    const session = this.opts.sessionOf(client)
    if (session === undefined) {
      // aedes lowers the QoS to the subscription's only for a filter equal to the topic: do it for
      // wildcard filters too (min of publish QoS and the best granted QoS, [MQTT-3.8.4-6]). Wharf's
      // own direct packets (shared-subscription deliveries) carry a QoS already decided.
      if (packet.qos > 0 && !isDirectPacket(packet)) {
        const granted = grantedQos(client, packet.topic, packet.qos)
        if (granted < packet.qos) packet.qos = granted
      }
      return packet
    }
    const counter = packetCounter(packet)
    const origin = this.origins.get(counter)
    if (origin === undefined) return packet // retained messages, $SYS notices: not from the log
    if (session.state === 'closed') return null
    if (session.state === 'resuming' && origin.replay !== true) {
      let held = this.held.get(session)
      if (held === undefined) this.held.set(session, held = [])
      held.push({ packet: packet as AedesPacket, origin })
      return null
    }
    if (origin.resend === true) {
      session.readmit(positionOf(origin), packet.qos as 1 | 2, counter)
      return packet
    }
    const qos = session.effectiveQos(packet.topic, packet.qos)
    if (qos === -1) return null
    if (!session.admit(positionOf(origin), qos, counter)) return null
    // each subscriber gets its own copy of the packet from aedes: lowering its QoS is safe
    packet.qos = qos
    return packet
  }

  /** Before the replay: new packet ids must not collide with the ids of deliveries to be resent. */
  prepare (client: Client, session: PersistentSession): void {
    const highest = session.highestPacketId()
    if (highest > 0) continuePacketIdsAfter(client, highest)
  }

  /** Hand one replayed record to the client; resolves once it is written. */
  replay (client: Client, item: ReplayItem): Promise<void> {
    if (client.closed) return Promise.reject(new Error('client gone'))
    // replay honours the expiry from the record's timestamp; a delivery already started goes out again
    const properties = deliveryProperties(item.message.properties, Date.now(), item.messageId !== undefined)
    if (properties === 'expired') return Promise.resolve()
    const packet = directPacket(this.opts.aedes(), item.message, item.qos, item.dup, item.messageId, properties)
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
      void this.send(client, directPacket(this.opts.aedes(), packet, qos, false, undefined, packet.properties), { tp: origin.tp, offset: origin.offset, replay: true, resend: false })
    }
    if (session.state === 'resuming') session.state = 'live'
  }

  /** Packets Wharf hands over itself skip aedes' per-client de-duplication: the session de-duplicates by position. */
  private send (client: Client, packet: AedesPacket, origin: Origin): Promise<void> {
    this.origins.set(packet.brokerCounter, origin)
    return new Promise(resolve => deliverTo(client, packet, () => { this.origins.delete(packet.brokerCounter); resolve() }))
  }
}
