import { Aedes, type Client } from 'aedes'
import type { Duplex } from 'node:stream'
import type { Authenticate, Authorize, AuthzSubject, EnhancedAuthenticator } from '../auth/hooks.js'
import type { Claim, LocalConnection } from '../cluster/takeover.js'
import type { ListenersConfig } from '../config/listeners-schema.js'
import { Listeners, type Connection, type ListenerDescription, type ListenerStats } from '../listeners/index.js'
import type { Logger } from '../observability/logger.js'
import type { TrafficCounters } from '../observability/traffic.js'
import type { ClientEvents } from '../presence/client-events.js'
import type { RetainedView } from '../retained/retained-view.js'
import type { LogPublisher } from '../routing/log-publisher.js'
import type { PersistentSession } from '../session/persistent-session.js'
import type { SessionManager } from '../session/session-manager.js'
import type { WillStore } from '../session/will-store.js'
import type { SharedSubscriptions } from '../shared/shared-subscriptions.js'
import { hardenBroker, hardenIncomingStore, handleConnection, discardIncoming, leaveSessionExpiryToWharf, takeOverWillDelay } from './aedes-hardening.js'
import { checkAedes, endConnection, incomingPersistence, lazyTopicAliases, parseOneBatchAtATime } from './aedes-internals.js'
import { aedesMqtt5Options, advertisedProperties, withOutboundAliases, withServerKeepAlive, type Mqtt5Options } from './mqtt5-options.js'
import { advertiseOn } from './mqtt5-wire.js'
import { writeWholePackets } from './packet-writer.js'
import { leanParserBuffers } from './parser-buffers.js'
import { rewriteV5Filters } from './v5-filters.js'
import { refuseSessionExpiryRaise } from './v5-disconnect.js'
import { REASON } from '../protocol/reason-codes.js'
import { CatchUp } from './catch-up.js'
import { watchClients } from './client-watch.js'
import { ConnectFlow } from './connect.js'
import { ConnectRules } from './connect-rules.js'
import { Delivery } from './delivery.js'
import { EdgeLimits, type EdgeLimitOptions } from './edge-limits.js'
import { EnhancedAuth } from './enhanced-auth.js'
import { DisconnectFlow } from './disconnect.js'
import { createLocalEmitter } from './local-emitter.js'
import { Outbound, type OutboundLimitReason } from './outbound.js'
import { withPeerIdentity, type PeerCertAsOptions } from './peer-identity.js'
import { createPersistence } from './persistence.js'
import { createPublishHook } from './publish-hook.js'
import { InboundWindow } from './inbound-window.js'
import { guardRetained } from './retained-guard.js'
import { SharedMembers } from './shared-members.js'
import { createSubscribeHook } from './subscribe-hook.js'
import { ClientSubscriptions, type InterestSink } from './subscriptions.js'

export interface MqttEdgeOptions {
  node: string
  /** this node process' incarnation id (session and will records name it) */
  inc: string
  /** where clients connect (src/listeners) */
  listeners: ListenersConfig
  /** aedes' own CONNECT checks and bounds, and what a client may have waiting (edge/outbound.ts) */
  mqtt: {
    maxClientIdLength: number
    maxUsernameLength: number
    connectTimeoutMs: number
    /** QoS 2 PUBLISHes awaiting PUBREL per client (`mqtt.max_awaiting_rel`) */
    maxAwaitingRel: number
    maxInflight: number
    maxQueueLen: number
    maxClientBufferBytes: number
    slowClientTimeoutMs: number
  }
  /** what MQTT 5 clients are told in the CONNACK, and the limits aedes applies to them (mqtt5-options.ts) */
  mqtt5: Mqtt5Options
  /** a limit took effect `n` times (wharf_limit_events_total) */
  onLimit: (reason: OutboundLimitReason, n: number) => void
  /** `mqtt.peer_cert_as_username` / `peer_cert_as_clientid`: a verified client certificate names the client */
  peerCertAs: PeerCertAsOptions
  /** what clients may send: packet size, rates, topic levels, QoS, subscriptions, overload (edge-limits.ts) */
  limits: EdgeLimitOptions
  authenticate: Authenticate
  /** MQTT 5 enhanced authentication (`authentication.scram`), when enabled */
  enhancedAuth?: EnhancedAuthenticator | undefined
  authorize: Authorize
  /** what the node reads for its clients' subscriptions (held before SUBACK and CONNACK) */
  interest: InterestSink
  /** resolves once the client id is claimed cluster-wide (before the CONNACK); a rejection refuses the CONNECT (server unavailable) */
  claim: (clientId: string, connection: LocalConnection) => Promise<Claim>
  publisher: LogPublisher
  retained: RetainedView
  sessions: SessionManager
  wills: WillStore
  shared: SharedSubscriptions
  /** told when clients connect, subscribe and go (presence, $SYS), and what their connections carry */
  clientEvents?: ClientEvents
  traffic?: TrafficCounters
  logger: Logger
}

/**
 * The MQTT side of one node: aedes on every listener, and the wiring of the hooks through which
 * Wharf takes over aedes' decisions: CONNECT (`connect.ts`), PUBLISH (`publish-hook.ts`), SUBSCRIBE
 * (`subscribe-hook.ts`), delivery from the log (`delivery.ts`), wills and the end of a connection
 * (`disconnect.ts`). aedes' private parts are reached through `aedes-internals.ts` only.
 */
export class MqttEdge {
  private readonly aedes: Aedes
  private readonly log: Logger
  private listeners: Listeners | undefined
  /** what the listener knew of each connection (peer from a PROXY header, TLS), by its stream (aedes' client.conn) */
  private readonly connectionsByStream = new WeakMap<Duplex, Connection>()
  readonly delivery: Delivery
  readonly limits: EdgeLimits
  private readonly connections: ConnectFlow
  private readonly disconnects: DisconnectFlow
  private readonly enhanced: EnhancedAuth
  /** a v5 CONNECT's CONNACK gets Wharf's capabilities */
  private readonly advertise: (stream: Duplex) => void

  constructor (private readonly opts: MqttEdgeOptions) {
    this.log = opts.logger.child({ component: 'mqtt' })
    const { sessions, wills } = opts
    const mq = createLocalEmitter()
    const aedes = (): Aedes => this.aedes
    const subscriptions = new ClientSubscriptions(opts.interest)
    const { maxInflight, maxQueueLen, maxClientBufferBytes, slowClientTimeoutMs } = opts.mqtt
    const outbound = new Outbound({
      limits: { maxInflight, maxQueueLen, maxBufferBytes: maxClientBufferBytes, slowClientTimeoutMs },
      aedes,
      onLimit: opts.onLimit,
      logger: this.log
    })
    const sessionOf = (c: Client): PersistentSession | undefined => this.connections.sessionOf(c)
    this.delivery = new Delivery({ aedes, mq: () => mq, sessionOf, outbound, maxHeld: Math.max(1, maxQueueLen) })
    const catchUp = new CatchUp({ sessions, delivery: this.delivery, outbound, subscriptions, logger: this.log })
    // Receive Maximum (QoS 1 and 2 not yet acknowledged) and max_awaiting_rel (QoS 2 awaiting PUBREL)
    const inbound = new InboundWindow(opts.mqtt5.receiveMaximum, opts.mqtt.maxAwaitingRel)
    this.limits = new EdgeLimits(aedes, opts.limits, opts.publisher, inbound)
    this.enhanced = new EnhancedAuth({ authenticator: opts.enhancedAuth, timeoutMs: opts.mqtt.connectTimeoutMs, logger: this.log })
    const rules = new ConnectRules({ maxClientIdLength: opts.mqtt.maxClientIdLength, maxUsernameLength: opts.mqtt.maxUsernameLength, maxQos: opts.mqtt5.maxQos, refuse: this.limits.refuseConnect, onLimitBreach: this.limits.connectBreach })
    this.connections = new ConnectFlow({
      aedes,
      authenticate: opts.authenticate,
      authorize: opts.authorize,
      claim: opts.claim,
      sessions,
      wills,
      delivery: this.delivery,
      catchUp,
      subscriptions,
      connectionOf: c => this.connectionOf(c),
      rules,
      enhancedOf: c => this.enhanced.outcomeOf(c),
      reasonStrings: opts.mqtt5.reasonStrings,
      logger: this.log
    })
    const mayPublishWill = (c: Client, will: { topic: string; qos: 0 | 1 | 2; retain: boolean }): boolean => {
      const subject = this.connections.connected(c)?.subject
      if (subject === undefined || will.topic.startsWith('$SYS/')) return false
      return subject.superuser || opts.authorize.mayPublish(subject, will.topic, will.qos, will.retain)
    }
    this.disconnects = new DisconnectFlow({ node: opts.node, inc: opts.inc, connections: this.connections, sessions, wills, mayPublishWill, logger: this.log })
    const persistence = createPersistence({
      retained: opts.retained,
      sessionOf: (clientId) => sessions.get(clientId),
      subscriptionsChanged: (session) => sessions.changed(session),
      putWill: (client, will) => this.disconnects.putWill(client, will)
    })
    hardenIncomingStore(persistence, inbound)
    const subjectOf = (c: Client): AuthzSubject | undefined => this.connections.connected(c)?.subject
    const preConnect = withOutboundAliases(opts.mqtt5.maxTopicAlias, withServerKeepAlive(opts.mqtt5.serverKeepalive, withPeerIdentity(c => this.connectionsByStream.get(c.conn)?.tls, opts.peerCertAs, this.enhanced.preConnect(rules.preConnect))))
    this.aedes = new Aedes({
      id: opts.node,
      mq,
      persistence,
      maxClientsIdLength: opts.mqtt.maxClientIdLength,
      connectTimeout: opts.mqtt.connectTimeoutMs,
      ...aedesMqtt5Options(opts.mqtt5),
      // a backstop behind mqtt.slow_client_timeout: aedes closes a socket that took no bytes this long
      drainTimeout: 2 * slowClientTimeoutMs,
      // only a v5 CONNACK carries Wharf's capabilities: a 3.1.1 connection holds no entry for them
      preConnect: (client, packet, done) => {
        if (packet.protocolVersion === 5) this.advertise(client.conn)
        preConnect(client, packet, done)
      },
      authenticate: this.connections.authenticate,
      authorizePublish: this.limits.publishHook(createPublishHook({
        publisher: opts.publisher,
        node: opts.node,
        persistence: () => incomingPersistence(this.aedes),
        authorize: opts.authorize,
        subjectOf,
        willPublishing: (client, written) => this.disconnects.willPublishing(client, written),
        inbound,
        onInboundRefused: this.limits.inboundRefused,
        onPayloadFormatInvalid: this.limits.payloadFormatInvalid,
        logger: this.log
      })),
      authorizeSubscribe: this.limits.subscribeHook((client, sub, done) => subscribeHook(client, sub, done)),
      authorizeForward: outbound.wrap(guardRetained(this.delivery.authorizeForward, { authorize: opts.authorize, subjectOf }))
    })
    hardenBroker(this.aedes)
    leaveSessionExpiryToWharf(this.aedes)
    takeOverWillDelay(this.aedes, (client, will, delayS) => this.disconnects.willDelayed(client, will, delayS))
    if (!writeWholePackets()) this.log.warn('MQTT packets are written in chunks: another writer wraps mqtt-packet already')
    if (!leanParserBuffers()) this.log.warn('mqtt-packet or bl are not shaped as expected: every parser keeps a stream per connection')
    const advertised = advertisedProperties(opts.mqtt5)
    this.advertise = stream => advertiseOn(stream, advertised)
    outbound.attach(this.aedes)
    outbound.onRoom(client => {
      const session = sessionOf(client)
      if (session !== undefined) catchUp.roomFor(client, session)
    })
    this.limits.watch(this.aedes)
    const sharedMembers = new SharedMembers(this.aedes, opts.shared, {
      onTooLarge: client => outbound.limit('delivery_too_large', client),
      stallTimeoutMs: slowClientTimeoutMs,
      onStalled: (client, unacknowledged) => outbound.disconnectSlow(client,
        'slow client disconnected: a shared-subscription member acknowledged nothing for mqtt.slow_client_timeout while its deliveries held its group', { unacknowledged })
    })
    const subscribeHook = createSubscribeHook({
      authorize: opts.authorize,
      subjectOf,
      shared: sharedMembers,
      subscriptions,
      sessionOf: c => this.connections.sessionOf(c),
      logger: this.log
    })
    this.aedes.on('unsubscribe', (filters, client) => subscriptions.release(client, filters))
    this.aedes.on('clientError', (client, err) => {
      this.log.info({ clientId: client.id, err: err.message }, 'client connection closed on error')
    })
    this.aedes.on('connectionError', (client, err) => {
      this.log.info({ clientId: client.id, err: err.message }, 'connection closed before CONNECT completed')
    })
    // MQTT 5: tell the client why before aedes closes the connection
    this.aedes.on('keepaliveTimeout', client => endConnection(client, REASON.keepAliveTimeout))
    this.aedes.on('client', client => this.log.debug({ clientId: client.id }, 'client connected'))
    this.aedes.on('clientReady', client => this.connections.resume(client))
    this.aedes.on('clientDisconnect', client => {
      this.log.debug({ clientId: client.id }, 'client disconnected')
      sharedMembers.clientGone(client)
      subscriptions.clientGone(client)
      outbound.gone(client)
      this.disconnects.ended(client)
      // a session that ends with its connection takes its inbound QoS 2 ids with it [MQTT-3.1.2-6] (MQTT 5: [MQTT-3.1.2-4])
      if (client.clean) void discardIncoming(this.aedes, client)
    })
    watchClients(this.aedes, {
      connOf: c => this.connections.connected(c)?.claim.conn,
      usernameOf: c => this.connections.connected(c)?.subject.username,
      connectionOf: c => this.connectionOf(c),
      events: opts.clientEvents,
      traffic: opts.traffic
    })
  }

  /** Deliver a message to this node's subscribers only, never through Kafka (`$SYS`). */
  publishLocal (topic: string, payload: Buffer): void {
    this.aedes.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, () => undefined)
  }

  get connectedClients (): number { return this.aedes.connectedClients }

  /** The open listeners: kind, name, bind, port bound, connections (empty before start). */
  describeListeners (): ListenerDescription[] { return this.listeners?.describe() ?? [] }

  /** Each listener's counters by `<kind>:<name>` (empty before start). */
  listenerStats (): Record<string, ListenerStats> { return this.listeners?.stats() ?? {} }

  /**
   * SIGHUP: the TLS listeners read their certificate files again (new connections get what
   * loaded; open ones keep theirs). Whether every listener that tried loaded or kept a valid set.
   */
  reloadCertificates (): boolean {
    return (this.listeners?.reloadCertificates() ?? []).every(r => r.outcome !== 'failed')
  }

  async start (): Promise<void> {
    await this.aedes.listen()
    // aedes sets its persistence up in listen(): check its internals now, before any client
    const warning = checkAedes(this.aedes)
    if (warning !== undefined) this.log.warn({ aedes: warning }, 'aedes version not verified')
    this.listeners = await Listeners.open(this.opts.listeners, c => {
      this.connectionsByStream.set(c.stream, c)
      const client = handleConnection(this.aedes, c.stream)
      parseOneBatchAtATime(client)
      lazyTopicAliases(client)
      this.limits.attach(client, c.listener, c.peer.address)
      // after the limits' parser hook, so before it: SUBSCRIBE QoS capping sees the rewritten $share filters
      rewriteV5Filters(client)
      refuseSessionExpiryRaise(client)
      this.enhanced.attach(client)
    }, this.opts.logger)
    this.limits.watchListeners(this.listeners)
  }

  /** Stop accepting connections (existing ones keep working). */
  async stopAccepting (): Promise<void> {
    this.listeners?.stopAccepting()
  }

  /** Close every client connection and aedes itself; resolves when their wills and final session states are written. */
  async close (): Promise<void> {
    await new Promise<void>(resolve => this.aedes.close(() => resolve()))
    this.limits.close()
    // connections still in a TLS or WebSocket handshake, which aedes never saw
    this.listeners?.close()
    await this.disconnects.drain()
    // delayed wills not due yet stay in Kafka: a survivor publishes them when due
    this.opts.wills.stop()
  }

  /**
   * The listener (`ssl:default`) and the client's address: the listener's `peer`, which is the
   * PROXY header's or a trusted WebSocket proxy's client, never the proxy's socket address.
   */
  private connectionOf (client: Client): { listener: string; peerhost: string } {
    const c = this.connectionsByStream.get(client.conn)
    return { listener: c?.listener ?? '', peerhost: c?.peer.address ?? '' }
  }
}
