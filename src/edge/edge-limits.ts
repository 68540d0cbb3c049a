import type { Aedes, AuthorizePublishHandler, AuthorizeSubscribeHandler, Client, PublishPacket } from 'aedes'
import type { ClientRates } from '../limits/inbound-limiter.js'
import { InboundLimiter } from '../limits/inbound-limiter.js'
import { publishBreach, subscribeBreach, type ClientRules } from '../limits/client-rules.js'
import type { LimitContext, LimitEvents } from '../limits/limit-events.js'
import { parseShareFilter } from '../protocol/share-filter.js'
import { REASON } from '../protocol/reason-codes.js'
import { aedesRefusal, endConnection, isWillOf, watchIncoming, type IncomingWatch } from './aedes-internals.js'
import { AwaitRelExpiry } from './await-rel.js'
import type { ConnectRuleBreach } from './connect-rules.js'
import type { InboundRefusal, InboundWindow } from './inbound-window.js'
import { ReadGate, type PauseReason } from './read-gate.js'
import { refuseFilterV5 } from './v5-filters.js'

/** The node's overload state, as the edge needs it (limits/overload-monitor.ts). */
export interface OverloadSignal {
  readonly overloaded: boolean
  onChange (fn: (overloaded: boolean) => void): void
}

/** The edge's limits on what clients send (issue 15, the input side). */
export interface EdgeLimitOptions {
  /** `mqtt.max_packet_size`: a larger remaining length closes the connection before its body is read */
  maxPacketSize: number
  /** `mqtt.max_topic_levels`, `mqtt.max_qos_allowed`, `mqtt.max_subscriptions` */
  rules: ClientRules
  /** `mqtt.await_rel_timeout` */
  awaitRelTimeoutMs: number
  /** a listener's `messages_rate` and `bytes_rate`, by listener id (`tcp:default`) */
  ratesOf: (listener: string) => ClientRates
  /** `overload_protection`; undefined when disabled */
  overload?: OverloadSignal | undefined
  /** `overload_protection.backoff_new_conn`: refuse CONNECTs (CONNACK 0x03) while overloaded */
  backoffNewConn: boolean
  /** `overload_protection.backoff_publish`: stop reading clients that publish while overloaded */
  backoffPublish: boolean
  events: LimitEvents
}

/** The listeners' events the limits count (src/listeners `Listeners`). */
export interface ListenerEventSource {
  on (event: 'closed', fn: (e: { listener: string; reason: string }) => void): unknown
  on (event: 'throttled', fn: (e: { listener: string }) => void): unknown
}

/** Where the edge's Kafka writes stand: no room means the pending bound is reached. */
export interface PublishRoom {
  hasRoom (): boolean
  waitForRoom (): Promise<void>
}

interface ClientState {
  listener: string
  peer: string
  limiter: InboundLimiter | undefined
  /** filters granted (SUBACK) and not unsubscribed; made at the first SUBSCRIBE */
  held: Set<string> | undefined
  /** the read gate or the PUBREL expiry holds something of this client: forget it when the connection closes */
  closeHooked: boolean
}

/**
 * Every limit the edge applies to what clients send, behind four calls the edge makes: `attach`
 * for each new connection (packet size, rates, overload pauses, watched as mqtt-packet parses),
 * `publishHook` and `subscribeHook` around aedes' hooks (topic levels, QoS, subscriptions, Kafka's
 * pending bound, QoS 2 awaiting PUBREL), `refuseConnect` for the CONNECT rules (overload). The
 * limits aedes applies itself (idle_timeout, topic levels above 100) are counted from its error
 * events; the inbound window's refusals (max_awaiting_rel, Receive Maximum) by `inboundRefused`.
 * Every event goes to `LimitEvents` (metric and rate-limited log line).
 */
export class EdgeLimits {
  private readonly states = new WeakMap<Client, ClientState>()
  private readonly gate = new ReadGate()
  private readonly awaitRel: AwaitRelExpiry
  private readonly events: LimitEvents
  /** What `watchIncoming` calls for every connection's packets: one object for all of them. */
  private readonly incoming: IncomingWatch

  /** `inbound`: the window that bounds QoS 2 PUBLISHes awaiting PUBREL (`mqtt.max_awaiting_rel`) */
  constructor (aedes: () => Aedes, private readonly opts: EdgeLimitOptions, private readonly room: PublishRoom, inbound: InboundWindow) {
    this.events = opts.events
    this.awaitRel = new AwaitRelExpiry(aedes, opts.awaitRelTimeoutMs, client => inbound.awaitingRel(client), (client, messageId) => {
      this.record('await_rel_timeout', client, { messageId })
    })
    opts.overload?.onChange(overloaded => { if (!overloaded) this.gate.resumeAll('overload') })
    const maxQos = opts.rules.maxQosAllowed
    this.incoming = {
      maxPacketSize: opts.maxPacketSize,
      onTooLarge: (client, cmd, bytes) => this.record('packet_too_large', client, { packet: cmd, bytes, max: opts.maxPacketSize }),
      onHeader: (client, cmd, bytes) => {
        const state = this.states.get(client)
        if (state !== undefined) this.onHeader(client, state, cmd, bytes)
      },
      // a SUBSCRIBE asking more than max_qos_allowed is granted max_qos_allowed (and its SUBACK says so)
      onPacket: maxQos === 2 ? undefined : (_client, packet) => {
        if (packet.cmd !== 'subscribe') return
        for (const s of (packet as unknown as { subscriptions: Array<{ qos: number }> }).subscriptions) {
          if (s.qos > maxQos) s.qos = maxQos
        }
      }
    }
  }

  /** Subscribes to aedes' events (after the broker is built). */
  watch (aedes: Aedes): void {
    const refused = (client: Client, err: Error): void => {
      const reason = aedesRefusal(err)
      if (reason !== undefined) this.record(reason, client)
    }
    aedes.on('clientError', refused)
    aedes.on('connectionError', refused)
    aedes.on('unsubscribe', (filters, client) => {
      const held = this.states.get(client)?.held
      if (held !== undefined) for (const f of filters) held.delete(f)
    })
  }

  /** Counts what the listeners did (listeners/index.ts events): max_connections refusals, max_conn_rate waits. */
  watchListeners (listeners: ListenerEventSource): void {
    listeners.on('closed', e => { if (e.reason === 'max_connections') this.events.record('max_connections', { listener: e.listener }) })
    listeners.on('throttled', e => this.events.record('conn_rate', { listener: e.listener }))
  }

  /** A new connection from `listener` (id) and `peer` (address): watch its packets as they are read. */
  attach (client: Client, listener: string, peer: string): void {
    const rates = this.opts.ratesOf(listener)
    const state: ClientState = {
      listener,
      peer,
      limiter: InboundLimiter.needed(rates) ? new InboundLimiter(rates, Date.now()) : undefined,
      held: undefined,
      closeHooked: false
    }
    this.states.set(client, state)
    watchIncoming(client, this.incoming)
  }

  /**
   * The connection's read gate or PUBREL expiry now holds something of `client`: both forget it when
   * the connection closes (hooked on first use, so an idle connection holds no listener for it).
   */
  private forgetOnClose (client: Client): void {
    const state = this.states.get(client)
    if (state === undefined || state.closeHooked) return
    state.closeHooked = true
    client.conn.once('close', () => {
      this.gate.forget(client)
      this.awaitRel.forget(client)
    })
  }

  /** For the CONNECT rules: CONNACK 0x03 (server unavailable) while the node is overloaded. */
  readonly refuseConnect = (client: Client): ConnectRuleBreach | undefined => {
    if (this.opts.overload?.overloaded !== true || !this.opts.backoffNewConn) return undefined
    this.record('overloaded', client, { refused: 'CONNECT' })
    return { returnCode: 3, reason: 'overloaded' }
  }

  /** Counts a CONNECT refused for a configured limit (`client_id_too_long`, `username_too_long`). */
  readonly connectBreach = (client: Client, breach: ConnectRuleBreach): void => {
    this.record(breach.reason, client, { refused: 'CONNECT', returnCode: breach.returnCode })
  }

  /** The inbound window refused a PUBLISH (publish-hook.ts): `awaiting_rel_full` or `receive_maximum_exceeded`. */
  readonly inboundRefused = (client: Client, reason: InboundRefusal): void => {
    this.record(reason, client)
  }

  /** aedes' authorizePublish with the publish limits checked first. */
  publishHook (inner: AuthorizePublishHandler): AuthorizePublishHandler {
    return (client, packet, done) => {
      if (client === null || isWillOf(client, packet)) { inner(client, packet, done); return }
      const breach = publishBreach(packet.topic, packet.qos, this.opts.rules)
      if (breach !== undefined) {
        this.record(breach, client, { topic: packet.topic, qos: packet.qos })
        // aedes 2 would answer an MQTT 5 client's error with PUBACK/PUBREC 0x87 and keep it: it is a
        // protocol error there, DISCONNECT 0x9B above the advertised Maximum QoS (§3.2.2.3.4)
        if (client.version === 5) endConnection(client, breach === 'qos_not_allowed' ? REASON.qosNotSupported : REASON.topicNameInvalid)
        else done(new Error(`PUBLISH refused: ${breach}`))
        return
      }
      if (!this.room.hasRoom()) this.waitForRoom(client)
      if (packet.qos === 2) {
        this.forgetOnClose(client)
        this.awaitRel.arrived(client, (packet as PublishPacket & { messageId: number }).messageId)
      }
      inner(client, packet, done)
    }
  }

  /** An MQTT 5 PUBLISH with Payload Format Indicator 1 and a payload that is not UTF-8 was refused (publish-hook.ts). */
  readonly payloadFormatInvalid = (client: Client): void => {
    this.record('payload_format_invalid', client)
  }

  /**
   * aedes' authorizeSubscribe with the subscribe limits checked first: a breach is 0x80 for that
   * filter (MQTT 3.1.1), for MQTT 5 0x97 quota exceeded (`max_subscriptions`) or 0x8F (too many levels).
   */
  subscribeHook (inner: AuthorizeSubscribeHandler): AuthorizeSubscribeHandler {
    return (client, sub, done) => {
      const state = client === null ? undefined : this.states.get(client)
      if (client === null || state === undefined) { inner(client, sub, done); return }
      const filter = parseShareFilter(sub.topic)?.filter ?? sub.topic
      const held = state.held ??= new Set()
      const breach = subscribeBreach(filter, held, this.opts.rules)
      if (breach !== undefined) {
        this.record(breach, client, { filter: sub.topic, held: held.size })
        refuseFilterV5(client, sub, breach === 'max_subscriptions' ? REASON.quotaExceeded : REASON.topicFilterInvalid)
        done(null, null)
        return
      }
      // counted as held from now: the other filters of the same SUBSCRIBE are asked before this one is granted
      const had = held.has(sub.topic)
      held.add(sub.topic)
      inner(client, sub, (err, granted) => {
        if ((err !== null && err !== undefined) || granted === null || granted === undefined) {
          if (!had) held.delete(sub.topic)
        }
        done(err, granted)
      })
    }
  }

  /** Clients whose socket is not read now (rate, overload, Kafka's pending bound). */
  get pausedClients (): number { return this.gate.size }

  close (): void {
    this.gate.close()
    this.awaitRel.close()
  }

  private onHeader (client: Client, state: ClientState, cmd: string, bytes: number): void {
    const publish = cmd === 'publish'
    if (state.limiter !== undefined) {
      const wait = state.limiter.onPacket(publish, bytes, Date.now())
      if (wait > 0) this.forgetOnClose(client)
      if (wait > 0 && this.gate.pauseFor(client, wait)) this.record('rate_limited', client, { pauseMs: wait })
    }
    if (publish && this.opts.backoffPublish && this.opts.overload?.overloaded === true && this.pause(client, 'overload')) {
      this.record('overloaded', client, { paused: 'publisher' })
    }
  }

  /** The read gate's pause, with the connection's close hooked to forget it. */
  private pause (client: Client, reason: PauseReason): boolean {
    this.forgetOnClose(client)
    return this.gate.pause(client, reason)
  }

  /** Kafka's pending bound is reached: stop reading this publisher until there is room again. */
  private waitForRoom (client: Client): void {
    if (!this.pause(client, 'room')) return
    void this.room.waitForRoom().then(() => this.gate.resume(client, 'room'))
  }

  private record (reason: string, client: Client, extra: Record<string, unknown> = {}): void {
    const state = this.states.get(client)
    const ctx: LimitContext = { clientId: client.id ?? undefined, peer: state?.peer, listener: state?.listener, ...extra }
    this.events.record(reason, ctx)
  }
}
