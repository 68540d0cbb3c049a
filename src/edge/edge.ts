import { Aedes, type Client } from 'aedes'
import type { Duplex } from 'node:stream'
import type { Authenticate, Authorize, AuthzSubject } from '../auth/hooks.js'
import type { Claim, LocalConnection } from '../cluster/takeover.js'
import type { ListenersConfig } from '../config/listeners-schema.js'
import { Listeners, type Connection, type ListenerDescription, type ListenerStats } from '../listeners/index.js'
import type { Logger } from '../observability/logger.js'
import type { RetainedView } from '../retained/retained-view.js'
import type { LogPublisher } from '../routing/log-publisher.js'
import type { SessionManager } from '../session/session-manager.js'
import type { WillStore } from '../session/will-store.js'
import type { SharedSubscriptions } from '../shared/shared-subscriptions.js'
import { checkAedes, incomingPersistence, parseOneBatchAtATime } from './aedes-internals.js'
import { ConnectFlow } from './connect.js'
import { ConnectRules } from './connect-rules.js'
import { Delivery } from './delivery.js'
import { DisconnectFlow } from './disconnect.js'
import { createLocalEmitter } from './local-emitter.js'
import { withPeerIdentity, type PeerCertAsOptions } from './peer-identity.js'
import { createPersistence } from './persistence.js'
import { createPublishHook } from './publish-hook.js'
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
  /** aedes' own CONNECT checks and bounds */
  mqtt: { maxClientIdLength: number; maxUsernameLength: number; connectTimeoutMs: number; maxInflightInbound: number }
  /** `mqtt.peer_cert_as_username` / `peer_cert_as_clientid`: a verified client certificate names the client */
  peerCertAs: PeerCertAsOptions
  authenticate: Authenticate
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
  private readonly connections: ConnectFlow
  private readonly disconnects: DisconnectFlow

  constructor (private readonly opts: MqttEdgeOptions) {
    this.log = opts.logger.child({ component: 'mqtt' })
    const { sessions, wills } = opts
    const mq = createLocalEmitter(100)
    const aedes = (): Aedes => this.aedes
    const subscriptions = new ClientSubscriptions(opts.interest)
    this.delivery = new Delivery({ aedes, mq: () => mq, sessionOf: c => this.connections.sessionOf(c) })
    const rules = new ConnectRules({ maxClientIdLength: opts.mqtt.maxClientIdLength, maxUsernameLength: opts.mqtt.maxUsernameLength })
    this.connections = new ConnectFlow({
      aedes,
      authenticate: opts.authenticate,
      authorize: opts.authorize,
      claim: opts.claim,
      sessions,
      wills,
      delivery: this.delivery,
      subscriptions,
      connectionOf: c => this.connectionOf(c),
      rules,
      logger: this.log
    })
    this.disconnects = new DisconnectFlow({ node: opts.node, inc: opts.inc, connections: this.connections, sessions, wills, logger: this.log })
    const persistence = createPersistence({
      retained: opts.retained,
      sessionOf: (clientId) => sessions.get(clientId),
      subscriptionsChanged: (session) => sessions.changed(session),
      putWill: (client, will) => this.disconnects.putWill(client, will)
    })
    const subjectOf = (c: Client): AuthzSubject | undefined => this.connections.connected(c)?.subject
    this.aedes = new Aedes({
      id: opts.node,
      mq,
      persistence,
      maxClientsIdLength: opts.mqtt.maxClientIdLength,
      connectTimeout: opts.mqtt.connectTimeoutMs,
      maxInflightInbound: opts.mqtt.maxInflightInbound,
      preConnect: withPeerIdentity(c => this.connectionsByStream.get(c.conn)?.tls, opts.peerCertAs, rules.preConnect),
      authenticate: this.connections.authenticate,
      authorizePublish: createPublishHook({
        publisher: opts.publisher,
        node: opts.node,
        persistence: () => incomingPersistence(this.aedes),
        authorize: opts.authorize,
        subjectOf,
        willPublishing: (client, written) => this.disconnects.willPublishing(client, written),
        logger: this.log
      }),
      authorizeSubscribe: (client, sub, done) => subscribeHook(client, sub, done),
      authorizeForward: guardRetained(this.delivery.authorizeForward, { authorize: opts.authorize, subjectOf })
    })
    const sharedMembers = new SharedMembers(this.aedes, opts.shared)
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
    this.aedes.on('client', client => this.log.debug({ clientId: client.id }, 'client connected'))
    this.aedes.on('clientReady', client => this.connections.resume(client))
    this.aedes.on('clientDisconnect', client => {
      this.log.debug({ clientId: client.id }, 'client disconnected')
      sharedMembers.clientGone(client)
      subscriptions.clientGone(client)
      this.disconnects.ended(client)
    })
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
      parseOneBatchAtATime(this.aedes.handle(c.stream))
    }, this.opts.logger)
  }

  /** Stop accepting connections (existing ones keep working). */
  async stopAccepting (): Promise<void> {
    this.listeners?.stopAccepting()
  }

  /** Close every client connection and aedes itself; resolves when their wills and final session states are written. */
  async close (): Promise<void> {
    await new Promise<void>(resolve => this.aedes.close(() => resolve()))
    // connections still in a TLS or WebSocket handshake, which aedes never saw
    this.listeners?.close()
    await this.disconnects.drain()
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
