import type { Aedes, AuthorizeForwardHandler, Client } from 'aedes'
import type { MqttMessage, Qos } from '../protocol/message.js'
import { deliveryProperties } from '../protocol/message-properties.js'
import { compileTopicFilter, type TopicMatcher } from '../protocol/topic-filter.js'
import { isShareFilter } from '../protocol/share-filter.js'
import { matchSubscriptions, withSubscriptionIds, type SubscriptionMatch } from '../protocol/subscription-options.js'
import type { LocalSink } from '../routing/log-delivery.js'
import type { LogPosition, PersistentSession } from '../session/persistent-session.js'
import type { ReplayItem } from '../session/session-manager.js'
import type { LocalEmitter } from './local-emitter.js'
import {
  continuePacketIdsAfter, deliverTo, directPacket, emitterPacket, grantedSubscriptions, heldSubscriptions, isDirectPacket, packetCounter,
  takePacketId, type AedesPacket
} from './aedes-internals.js'
import { publishBytes } from './client-outbound.js'
import type { Outbound } from './outbound.js'

const matchers = new Map<string, TopicMatcher>()

/** A filter's compiled matcher (cached across clients). */
function matcher (filter: string): TopicMatcher {
  let matches = matchers.get(filter)
  if (matches === undefined) {
    if (matchers.size > 10000) matchers.clear()
    matches = compileTopicFilter(filter)
    matchers.set(filter, matches)
  }
  return matches
}

/** Shared subscriptions take their messages from their Kafka groups, never from the node's matching. */
const plainMatcher = (filter: string): TopicMatcher | undefined => isShareFilter(filter) ? undefined : matcher(filter)

/** The best QoS granted to `client` by a filter matching `topic` (0 when none matches), up to `cap`. */
export function grantedQos (client: Client, topic: string, cap: number): Qos {
  const subs = grantedSubscriptions(client)
  let best = 0
  for (const filter in subs) {
    if (best >= cap) break
    const qos = (subs[filter] as { qos: number }).qos
    if (qos <= best) continue
    if (matcher(filter)(topic)) best = qos
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
  /** the client that published the record (No Local), when it came from MQTT */
  publisher?: string | undefined
  /** the record's RETAIN flag (kept for subscriptions with Retain As Published) */
  retain?: boolean
}

/** The origin's log position (its offset as a BigInt, made once). */
function positionOf (origin: Origin): LogPosition {
  if (typeof origin.offset === 'string') origin.offset = BigInt(origin.offset)
  return origin as LogPosition
}

export interface DeliveryOptions {
  aedes: () => Aedes
  /** the emitter aedes delivers from (the node's local subscription matching); it must dispatch synchronously */
  mq: () => LocalEmitter
  sessionOf: (client: Client) => PersistentSession | undefined
  /** every client's outbound bounds: whether a delivery fits now */
  outbound: Outbound
  /** live packets a resuming session holds back at most (`mqtt.max_mqueue_len`); past it they are left in Kafka */
  maxHeld: number
}

interface Held { packet: AedesPacket; origin: Origin }

/**
 * How long a replay round waits for its client to have room (an acknowledgement, a drained socket)
 * before it stops and leaves the rest for a later round. The node's replays of one Kafka topic wait
 * with it (they share one reader), so it is short; a client whose acknowledgements take longer is
 * caught up in rounds of its window's size.
 */
const ROOM_WAIT_MS = 1000

/** A packet as aedes hands it to its authorizeForward hook. */
type ForwardPacket = Parameters<AuthorizeForwardHandler>[1]

/**
 * Delivery of the log's records to this node's clients (the node's LocalSink), and delivery to
 * persistent sessions on top of aedes' own. A record goes straight into the emitter aedes delivers
 * from, synchronously and in log order: aedes' own `publish()` runs QoS 1/2 packets through an
 * asynchronous step (its offline queue) that QoS 0 packets skip, so a QoS 0 record could overtake
 * the QoS 1 records before it, and aedes' per-client de-duplication would then drop those as stale.
 * The emitter dispatches at once: when `deliver` returns, aedes' authorizeForward hook has decided
 * for every matching client, and the writes to their sockets follow without being waited for, so a
 * slow client never holds the partition for the others.
 *
 * Every packet read from the log carries its log position (kept here by aedes' packet counter,
 * since aedes copies packets per subscription), so that aedes' authorizeForward hook, which runs once
 * per client and packet, synchronously, just before aedes assigns a packet id, can decide with the
 * client's outbound bounds and its session:
 * - a clean session gets a delivery that fits; QoS 1/2 ones that do not wait in its queue, the rest
 *   is dropped (`Outbound.offerLive`);
 * - a persistent session drops deliveries it already had; while it resumes, live deliveries are held
 *   back (up to `maxHeld`) and handed over after the replay (no gap, no reordering); when its client
 *   has no room for a QoS 1/2 delivery it falls behind: nothing live is kept in memory, the records
 *   stay in Kafka and a replay round (edge/catch-up.ts) delivers them when there is room again;
 * - the session learns which record each packet id is.
 */
export class Delivery implements LocalSink {
  /**
   * The packet being handed out and where it came from: aedes' authorizeForward hook runs within the
   * hand-out, synchronously, so one slot (saved and restored around a nested hand-out) is enough.
   */
  private originCounter = -1
  private origin: Origin | undefined = undefined
  private readonly held = new WeakMap<PersistentSession, Held[]>()

  constructor (private readonly opts: DeliveryOptions) {}

  /** Hand a record of the log to every matching local subscriber (decided when this returns). */
  deliver (message: MqttMessage, tp: string, offset: string): void {
    // an expired message is delivered to nobody; the others carry what is left of their interval
    const properties = deliveryProperties(message.properties, Date.now())
    if (properties === 'expired') return
    const packet = emitterPacket(this.opts.aedes(), message, properties)
    this.handOut(packet, { tp, offset, publisher: message.clientId, retain: message.retain }, undefined)
  }

  readonly authorizeForward: AuthorizeForwardHandler = (client, packet) => {
    const session = this.opts.sessionOf(client)
    const counter = packetCounter(packet)
    const origin = counter === this.originCounter ? this.origin : undefined
    if (session === undefined) {
      // aedes lowers the QoS to the subscription's only for a filter equal to the topic: do it for
      // wildcard filters too (min of publish QoS and the best granted QoS, [MQTT-3.8.4-6]). Wharf's
      // own direct packets (shared-subscription deliveries) carry a QoS already decided.
      // MQTT 5: every matching subscription's options (No Local, Retain As Published, identifiers)
      if (client.version === 5 && origin !== undefined && origin.replay !== true && !isDirectPacket(packet)) {
        const m = matchSubscriptions(heldSubscriptions(client), plainMatcher, packet.topic, packet.qos, origin.publisher === client.id)
        if (m === undefined) return null
        shape(client, packet, m, origin)
      } else if (packet.qos > 0 && !isDirectPacket(packet)) {
        const granted = grantedQos(client, packet.topic, packet.qos)
        if (granted < packet.qos) packet.qos = granted
      }
      // retained messages, $SYS notices, Wharf's direct packets: not from the live log
      if (origin === undefined || origin.replay === true) return packet
      return this.opts.outbound.offerLive(client, packet) ? packet : null
    }
    if (origin === undefined) return packet // retained messages, $SYS notices: not from the log
    if (session.state === 'closed') return null
    if (origin.replay === true) {
      if (origin.resend === true) {
        // aedes tells the session a QoS 1/2 write's packet id only when RETAIN is 0 (see `admit`)
        session.readmit(positionOf(origin), packet.qos as 1 | 2, counter, !packet.retain)
        return packet
      }
      return this.admit(client, session, packet, origin, counter)
    }
    if (session.state === 'resuming') {
      this.hold(client, session, packet, origin)
      return null
    }
    const qos = qosFor(session, packet, origin)
    if (qos === -1) return null
    const pos = positionOf(origin)
    if (session.had(pos)) return null
    if (session.state === 'behind' || !this.opts.outbound.room(client, publishBytes(packet.topic, packet.payload, qos), qos)) {
      this.letGo(client, session, pos, qos)
      return null
    }
    return this.admit(client, session, packet, origin, counter)
  }

  /** Before the replay: new packet ids must not collide with the ids of deliveries to be resent. */
  prepare (client: Client, session: PersistentSession): void {
    const highest = session.highestPacketId()
    if (highest > 0) continuePacketIdsAfter(client, highest)
  }

  /**
   * Hand one replayed record to the client: true when it went out (or expired: nothing to send);
   * without room, a promise that waits up to `ROOM_WAIT_MS` for an acknowledgement or a drained
   * socket (a client that reads goes on at its window's pace), false after that or when the client
   * is gone (the round stops).
   */
  replay (client: Client, item: ReplayItem): boolean | Promise<boolean> {
    if (this.sendReplayed(client, item)) return true
    if (client.closed) return false
    return this.replayWhenRoom(client, item, Date.now() + ROOM_WAIT_MS)
  }

  private async replayWhenRoom (client: Client, item: ReplayItem, deadline: number): Promise<boolean> {
    for (;;) {
      const left = deadline - Date.now()
      if (client.closed || left <= 0 || !await this.opts.outbound.whenRoom(client, left)) return false
      if (this.sendReplayed(client, item)) return true
    }
  }

  private sendReplayed (client: Client, item: ReplayItem): boolean {
    if (client.closed) return false
    // replay honours the expiry from the record's timestamp; a delivery already started goes out again
    const properties = deliveryProperties(item.message.properties, Date.now(), item.messageId !== undefined)
    if (properties === 'expired') return true
    if (!this.opts.outbound.room(client, publishBytes(item.message.topic, item.message.payload, item.qos), item.qos)) return false
    const packet = directPacket(this.opts.aedes(), item.message, item.qos, item.dup, item.messageId, client.version === 5 ? withSubscriptionIds(properties, item.ids) : properties)
    // a new delivery gets its RETAIN flag in `admit` (after the retained-message guard), a resend here
    if (item.messageId !== undefined) packet.retain = item.retain
    this.send(client, packet, { ...item.pos, replay: true, resend: item.messageId !== undefined, publisher: item.message.clientId, retain: item.message.retain })
    return true
  }

  /**
   * The replay round is done: hand over what live delivery held back meanwhile (the session drops
   * what the replay already covered) and switch the session to live delivery, in one synchronous
   * step so that nothing live slips in between. False when the client ran out of room first: the
   * rest stays in Kafka and the session is behind.
   */
  goLive (client: Client, session: PersistentSession): boolean {
    const held = this.held.get(session) ?? []
    this.held.delete(session)
    for (let i = 0; i < held.length; i++) {
      const { packet, origin } = held[i] as Held
      const qos = qosFor(session, packet, origin)
      const pos = positionOf(origin)
      if (qos === -1 || session.had(pos)) continue
      if (!this.opts.outbound.room(client, publishBytes(packet.topic, packet.payload, qos), qos)) {
        this.letGoAll(client, session, held.slice(i))
        session.state = 'behind'
        return false
      }
      this.send(client, directPacket(this.opts.aedes(), packet, qos, false, undefined, packet.properties), { ...origin, replay: true, resend: false })
    }
    if (session.state === 'resuming') session.wentLive()
    return true
  }

  /** The round did not catch up (it stopped, or it owes what it could not hold back): let go of what is held. */
  fallBehind (client: Client, session: PersistentSession): void {
    const held = this.held.get(session) ?? []
    this.held.delete(session)
    this.letGoAll(client, session, held)
    if (session.state === 'resuming') session.state = 'behind'
  }

  /**
   * Admitted (the cursor moves past it) as its subscriptions make it (QoS, RETAIN, identifiers),
   * or dropped when it had it or no subscription takes it (No Local). aedes tells the session a
   * QoS 1/2 write's packet id (persistence `outgoingUpdate`) only for a packet with RETAIN 0; one
   * that keeps RETAIN (Retain As Published) gets its packet id here, which aedes keeps.
   */
  private admit (client: Client, session: PersistentSession, packet: ForwardPacket, origin: Origin, counter: number): ForwardPacket | null {
    const m = session.match(packet.topic, packet.qos, origin.publisher)
    if (m === undefined) return null
    const pos = positionOf(origin)
    if (session.had(pos)) return null
    const messageId = m.qos > 0 && origin.retain === true && m.retainAsPublished ? takePacketId(client) : undefined
    if (!session.admit(pos, m.qos, counter, messageId)) return null
    // each subscriber gets its own copy of the packet from aedes: changing it is safe
    shape(client, packet, m, origin)
    if (messageId !== undefined) packet.messageId = messageId
    return packet
  }

  /** A live delivery while the session resumes: held back, or let go when too many are held. */
  private hold (client: Client, session: PersistentSession, packet: AedesPacket, origin: Origin): void {
    let held = this.held.get(session)
    if (held === undefined) this.held.set(session, held = [])
    if (held.length < this.opts.maxHeld) {
      held.push({ packet, origin })
      return
    }
    const qos = qosFor(session, packet, origin)
    if (qos === 0) this.opts.outbound.limit('queue_full', client)
    else if (qos > 0) session.owe(positionOf(origin))
  }

  /** The session does not take a live delivery now: QoS 1/2 stays in Kafka for a round, QoS 0 is dropped. */
  private letGo (client: Client, session: PersistentSession, pos: LogPosition, qos: Qos): void {
    if (qos === 0) {
      this.opts.outbound.limit('queue_full', client)
      return
    }
    session.owe(pos)
    if (session.state === 'live') session.state = 'behind'
    this.opts.outbound.limit('inflight_full', client)
  }

  private letGoAll (client: Client, session: PersistentSession, held: Held[]): void {
    for (const { packet, origin } of held) {
      const qos = qosFor(session, packet, origin)
      const pos = positionOf(origin)
      if (qos === 0) this.opts.outbound.limit('queue_full', client)
      else if (qos > 0 && !session.had(pos)) session.owe(pos)
    }
  }

  /**
   * Packets Wharf hands over itself skip aedes' per-client de-duplication: the session de-duplicates
   * by position. aedes' authorizeForward hook runs within `deliverTo`, so the origin is needed only
   * during the call.
   */
  private send (client: Client, packet: AedesPacket, origin: Origin): void {
    this.handOut(packet, origin, client)
  }

  /**
   * Hands `packet` to `client` through aedes, or to every matching local subscriber through the
   * emitter when `client` is undefined, with its origin in the slot `authorizeForward` reads
   * (the slot of an outer hand-out restored after).
   */
  private handOut (packet: AedesPacket, origin: Origin, client: Client | undefined): void {
    const outerCounter = this.originCounter
    const outer = this.origin
    this.originCounter = packet.brokerCounter
    this.origin = origin
    try {
      if (client === undefined) this.opts.mq().emit(packet)
      else deliverTo(client, packet, noop)
    } finally {
      this.originCounter = outerCounter
      this.origin = outer
    }
  }
}

function noop (): void {}

/** The QoS a record is delivered at to a session, -1 when no subscription of it takes the record. */
function qosFor (session: PersistentSession, packet: AedesPacket | ForwardPacket, origin: Origin): Qos | -1 {
  return session.effectiveQos(packet.topic, packet.qos, origin.publisher)
}

/**
 * One client's copy of a record, as its matching subscriptions make it: their QoS, the RETAIN flag
 * of the record only with Retain As Published [MQTT-3.3.1-12/13], and (MQTT 5) every matching
 * subscription's identifier [MQTT-3.3.4-3/4] in place of the one aedes put in.
 */
function shape (client: Client, packet: AedesPacket | ForwardPacket, m: SubscriptionMatch, origin: Origin): void {
  packet.qos = m.qos
  packet.retain = origin.retain === true && m.retainAsPublished
  if (client.version === 5) {
    const properties = withSubscriptionIds(packet.properties, m.ids)
    if (properties !== undefined) packet.properties = properties
    else delete packet.properties
  }
}
