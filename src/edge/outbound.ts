import type { Aedes, AuthorizeForwardHandler, Client, PublishPacket } from 'aedes'
import type { Logger } from '../observability/logger.js'
import type { Qos } from '../protocol/message.js'
import { compileTopicFilter, type TopicMatcher } from '../protocol/topic-filter.js'
import { deliverTo, directPacket, flowLimitsOf, grantedSubscriptions, takePacketId } from './aedes-internals.js'
import type { WireProperties } from '../protocol/message-properties.js'
import { ClientOutbound, publishBytes, type OutboundLimits, type QueuedMessage } from './client-outbound.js'
import { publishWireSize } from './mqtt5-wire.js'

/**
 * Why a limit took effect (the `reason` label of `wharf_limit_events_total`); `delivery_too_large`:
 * a PUBLISH larger than the MQTT 5 client's Maximum Packet Size was not sent.
 */
export type OutboundLimitReason = 'queue_full' | 'inflight_full' | 'slow_client' | 'delivery_too_large'

const LIMIT_LOG: Record<OutboundLimitReason, string> = {
  queue_full: 'messages dropped: a subscriber has no room (mqtt.max_client_buffer_bytes / max_mqueue_len)',
  inflight_full: 'persistent sessions fell behind: messages left in Kafka for a catch-up (mqtt.max_inflight / max_client_buffer_bytes)',
  slow_client: 'slow client disconnected',
  delivery_too_large: 'messages not sent: larger than the Maximum Packet Size their MQTT 5 subscriber accepts (discarded, as the spec says)'
}

export interface OutboundOptions {
  limits: OutboundLimits & {
    /** `mqtt.slow_client_timeout`: a client over its bounds this long is disconnected */
    slowClientTimeoutMs: number
  }
  aedes: () => Aedes
  /** a limit took effect `n` times (metrics) */
  onLimit: (reason: OutboundLimitReason, n: number) => void
  logger: Logger
}

interface Tracked {
  state: ClientOutbound
  /** `whenRoom` callers, told at the next acknowledgement or drain (true) or at their deadline (false) */
  waiters: Array<(room: boolean) => void>
  /** the slow-client clock, while the client is over its bounds */
  timer: NodeJS.Timeout | undefined
  /** a turn is scheduled to move accepted bytes into `landing` */
  turning: boolean
}

const LOG_INTERVAL_MS = 60_000

/** Is `packet` larger than the Maximum Packet Size its MQTT 5 client accepts [MQTT-3.1.2-24]? */
export function tooLargeFor (client: Client, packet: PublishPacket): boolean {
  const max = flowLimitsOf(client)?.maximumPacketSize
  return max !== undefined && publishWireSize(packet) > max
}

const matchers = new Map<string, TopicMatcher>()
function matcher (filter: string): TopicMatcher {
  let m = matchers.get(filter)
  if (m === undefined) {
    if (matchers.size > 10000) matchers.clear()
    matchers.set(filter, m = compileTopicFilter(filter))
  }
  return m
}

/**
 * Whether aedes will write `packet` to `client` as a QoS 1/2 PUBLISH (and wait for its
 * acknowledgement): aedes lowers a packet to the QoS of a subscription equal to its topic, and a
 * packet its emitter hands through a QoS 0 subscription is written at QoS 0. Any matching QoS 0
 * subscription counts as "maybe QoS 0": such a packet is not counted in the window (a window a
 * little wider, never one that loses a slot for good).
 */
function acknowledged (client: Client, packet: PublishPacket): boolean {
  if (packet.qos === 0) return false
  const subs = grantedSubscriptions(client)
  for (const filter in subs) {
    if ((subs[filter] as { qos: number }).qos === 0 && matcher(filter)(packet.topic)) return false
  }
  return true
}

/**
 * The outbound bounds of every client of the node (`mqtt.max_inflight`, `mqtt.max_mqueue_len`,
 * `mqtt.max_client_buffer_bytes`, `mqtt.slow_client_timeout`). Every packet aedes is about to
 * write to a client passes aedes' authorizeForward hook, which `wrap` counts here: its bytes (until
 * they have left the client's stream) and, for QoS 1/2, its packet id (until PUBACK / PUBCOMP).
 * Delivery asks whether a live delivery fits; a clean session's QoS 1/2 messages that do not fit
 * wait in the client's queue, sent from here when the window or the socket has room again. A client
 * over its bounds for `slowClientTimeoutMs` is disconnected. `onRoom` listeners hear when a client
 * may have room again (an acknowledgement, a drained socket).
 */
export class Outbound {
  private readonly clients = new WeakMap<Client, Tracked>()
  private readonly roomListeners: Array<(client: Client) => void> = []
  private readonly lastLogged = new Map<OutboundLimitReason, { at: number; since: number }>()
  private readonly log: Logger

  constructor (private readonly opts: OutboundOptions) {
    this.log = opts.logger
  }

  /** Listen to aedes' acknowledgements (call once aedes exists). */
  attach (aedes: Aedes): void {
    aedes.on('ack', (packet, client) => {
      const id = (packet as { messageId?: number } | undefined)?.messageId
      if (id === undefined || client === null) return
      const t = this.clients.get(client)
      if (t !== undefined && t.state.acked(id)) this.changed(client, t)
    })
  }

  /** `listener(client)` when a client may have room again. */
  onRoom (listener: (client: Client) => void): void {
    this.roomListeners.push(listener)
  }

  /**
   * aedes' authorizeForward hook, wrapped: every packet it lets through is counted for its client.
   * A PUBLISH larger than an MQTT 5 client's Maximum Packet Size is discarded here, after the
   * handler [MQTT-3.1.2-25]: a persistent session's cursor has moved past it (it is skipped, not
   * owed: the session does not stall on it), and aedes forgets a resent one's packet id
   * (`outgoingClearMessageId`: the session counts it completed).
   */
  wrap (handler: AuthorizeForwardHandler): AuthorizeForwardHandler {
    return (client, packet) => {
      const out = handler(client, packet)
      if (out === null || out === undefined || client.closed) return out
      if (tooLargeFor(client, out)) {
        this.limit('delivery_too_large', client)
        return null
      }
      const t = this.track(client)
      let id: number | undefined
      if (acknowledged(client, out)) {
        // aedes keeps a packet id the packet has: take it here, so the acknowledgement can be matched
        if (out.messageId === undefined) out.messageId = takePacketId(client)
        id = out.messageId
      }
      t.state.accepted(publishBytes(out.topic, out.payload, out.qos), id)
      this.turn(client, t)
      if (t.state.over && t.timer === undefined) this.startClock(client, t)
      return out
    }
  }

  /** Does a delivery of `bytes` at `qos` fit now? */
  room (client: Client, bytes: number, qos: Qos): boolean {
    return this.track(client).state.hasRoom(bytes, qos)
  }

  /**
   * Resolves true at the client's next acknowledgement or drained socket (it may have room then),
   * false after `timeoutMs` or when it is gone.
   */
  whenRoom (client: Client, timeoutMs: number): Promise<boolean> {
    if (client.closed) return Promise.resolve(false)
    const t = this.track(client)
    return new Promise(resolve => {
      const timer = setTimeout(() => {
        t.waiters = t.waiters.filter(w => w !== wake)
        resolve(false)
      }, timeoutMs)
      const wake = (room: boolean): void => {
        clearTimeout(timer)
        resolve(room)
      }
      t.waiters.push(wake)
    })
  }

  /** Room for a persistent session behind to catch up from Kafka. */
  roomToCatchUp (client: Client): boolean {
    return !client.closed && this.track(client).state.roomToCatchUp
  }

  /**
   * A live delivery to a clean session: true = aedes writes it now; otherwise it waits in the
   * client's queue (QoS 1/2) or is dropped (counted as `queue_full`).
   */
  offerLive (client: Client, packet: PublishPacket): boolean {
    const state = this.track(client).state
    const bytes = publishBytes(packet.topic, packet.payload, packet.qos)
    const verdict = state.offer(bytes, packet.qos)
    if (verdict === 'send') return true
    if (verdict === 'queue') state.enqueue(queued(packet, bytes, Date.now()))
    else this.limit('queue_full', client)
    return false
  }

  /** A limit took effect for `client`: counted, and logged at most once a minute per reason. */
  limit (reason: OutboundLimitReason, client: Client): void {
    this.opts.onLimit(reason, 1)
    const now = Date.now()
    const last = this.lastLogged.get(reason) ?? { at: 0, since: 0 }
    last.since++
    if (now - last.at >= LOG_INTERVAL_MS) {
      this.log.warn({ reason, clientId: client.id, count: last.since }, LIMIT_LOG[reason])
      last.at = now
      last.since = 0
    }
    this.lastLogged.set(reason, last)
  }

  /**
   * Disconnect a slow client: counted and logged as `slow_client`. Over its outbound bounds (the
   * clock below), or for a reason of its own (a shared-subscription member holding its group).
   */
  disconnectSlow (client: Client, message: string, fields: Record<string, unknown>): void {
    if (client.closed) return
    this.opts.onLimit('slow_client', 1)
    this.log.warn({ clientId: client.id, ...fields, timeoutMs: this.opts.limits.slowClientTimeoutMs }, message)
    client.close()
  }

  /** The connection ended. */
  gone (client: Client): void {
    const t = this.clients.get(client)
    if (t === undefined) return
    clearTimeout(t.timer)
    this.clients.delete(client)
    for (const wake of t.waiters.splice(0)) wake(false)
  }

  private track (client: Client): Tracked {
    let t = this.clients.get(client)
    if (t === undefined) {
      const conn = client.conn as unknown as NodeJS.WritableStream & { writableLength?: number }
      const tracked: Tracked = { state: new ClientOutbound(this.limitsOf(client), () => conn.writableLength ?? 0), waiters: [], timer: undefined, turning: false }
      conn.on('drain', () => this.changed(client, tracked))
      this.clients.set(client, t = tracked)
    }
    return t
  }

  /**
   * The client's bounds: an MQTT 5 client's window is min(`mqtt.max_inflight`, its Receive Maximum)
   * [MQTT-3.3.4-9]; everything built on the window (a clean session's queue, a persistent session
   * falling behind and catching up from its cursor) follows it.
   */
  private limitsOf (client: Client): OutboundLimits {
    const receiveMaximum = flowLimitsOf(client)?.receiveMaximum
    const { maxInflight, maxQueueLen, maxBufferBytes } = this.opts.limits
    if (receiveMaximum === undefined || receiveMaximum >= maxInflight) return this.opts.limits
    return { maxInflight: Math.max(1, receiveMaximum), maxQueueLen, maxBufferBytes }
  }

  /** What was accepted now is written by aedes next turn; a turn after that, it is in the stream's own count. */
  private turn (client: Client, t: Tracked): void {
    if (t.turning) return
    t.turning = true
    setImmediate(() => {
      t.turning = false
      const n = t.state.startLanding()
      setImmediate(() => {
        t.state.landed(n)
        this.changed(client, t)
      })
    })
  }

  /** The client may have room again: send what its queue holds, stop its clock, tell the listeners. */
  private changed (client: Client, t: Tracked): void {
    if (client.closed || this.clients.get(client) !== t) return
    t.state.drained()
    for (let next = t.state.nextQueued(); next !== undefined; next = t.state.nextQueued()) {
      const properties = propertiesNow(next, Date.now())
      // its Message Expiry Interval ended while it waited: not delivered [MQTT-3.3.2-5]
      if (properties === 'expired') continue
      deliverTo(client, directPacket(this.opts.aedes(), next, next.qos, false, undefined, properties), noop)
    }
    if (!t.state.over && t.timer !== undefined) {
      clearTimeout(t.timer)
      t.timer = undefined
    } else if (t.state.over && t.timer === undefined) {
      this.startClock(client, t)
    }
    for (const wake of t.waiters.splice(0)) wake(true)
    for (const listener of this.roomListeners) listener(client)
  }

  private startClock (client: Client, t: Tracked): void {
    t.timer = setTimeout(() => {
      t.timer = undefined
      if (client.closed || !t.state.over) return
      this.disconnectSlow(client, 'slow client disconnected: over its outbound bounds for mqtt.slow_client_timeout',
        { inflight: t.state.inflight.size, bufferedBytes: t.state.buffered, queued: t.state.queued })
    }, this.opts.limits.slowClientTimeoutMs)
    t.timer.unref()
  }
}

function noop (): void {}

/** A live delivery to wait in a clean session's queue, its MQTT 5 properties and expiry kept. */
function queued (packet: PublishPacket, bytes: number, now: number): QueuedMessage {
  const properties = packet.properties as WireProperties | undefined
  const interval = properties?.messageExpiryInterval
  return { topic: packet.topic, payload: packet.payload, qos: packet.qos, bytes, properties, expiresAt: interval === undefined ? undefined : now + interval * 1000 }
}

/** A queued message's properties when it is sent: what is left of its expiry interval, or 'expired'. */
function propertiesNow (m: QueuedMessage, now: number): WireProperties | undefined | 'expired' {
  if (m.expiresAt === undefined || m.properties === undefined) return m.properties
  const left = Math.ceil((m.expiresAt - now) / 1000)
  return left > 0 ? { ...m.properties, messageExpiryInterval: left } : 'expired'
}
