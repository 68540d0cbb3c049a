import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes'
import type { Socket } from 'node:net'
import type { Claim, LocalConnection } from '../cluster/takeover.js'
import type { Logger } from '../observability/logger.js'
import type { LocalSink } from '../routing/log-delivery.js'
import type { MqttMessage } from '../protocol/message.js'
import type { RetainedStore } from '../retained/retained-store.js'
import type { LogPublisher } from '../routing/log-publisher.js'
import type { PersistentSession } from '../session/persistent-session.js'
import type { SessionManager } from '../session/session-manager.js'
import type { WillStore } from '../session/will-store.js'
import { createLocalEmitter } from './local-emitter.js'
import { createPersistence } from './persistence.js'
import { createPublishHook, type IncomingPersistence } from './publish-hook.js'
import { SessionDelivery } from './session-delivery.js'
import type { SharedSubscriptions } from '../shared/shared-subscriptions.js'
import { SharedMembers } from './shared-members.js'
import { closeTcpListeners, openTcpListeners, type BoundListener, type TcpListenerSpec } from './tcp-listeners.js'

type MQEmitter = ReturnType<typeof createLocalEmitter>

/** Persistent sessions and wills (absent: every session ends with its connection, as in aedes). */
export interface EdgeSessions {
  manager: SessionManager
  wills: WillStore
  /** this node process' incarnation id */
  inc: string
}

export interface MqttEdgeOptions {
  node: string
  listeners: TcpListenerSpec[]
  maxClientIdLength: number
  connectTimeoutMs: number
  maxInflightInbound: number
  publisher: LogPublisher
  retained: RetainedStore
  logger: Logger
  /**
   * Called for every CONNECT before its CONNACK (from aedes' authenticate hook): resolves once the
   * client id is claimed cluster-wide; a rejection refuses the CONNECT (server unavailable).
   */
  claim?: (clientId: string, connection: LocalConnection) => Promise<Claim>
  sessions?: EdgeSessions
  /** `$share/...` and `$queue/...` subscriptions (absent: refused like any unknown filter would be) */
  shared?: SharedSubscriptions
}

/**
 * The MQTT side of one node: aedes on every TCP listener. Every aedes detail stays in this folder.
 * PUBLISHes go to Kafka through the publish hook; deliveries come back from the log through
 * `deliver()`, which is this node's LocalSink.
 */
export class MqttEdge implements LocalSink {
  private readonly aedes: Aedes
  private readonly mq: MQEmitter
  private readonly log: Logger
  private listeners: BoundListener[] = []
  private readonly sockets = new Set<Socket>()
  private readonly claims = new WeakMap<object, Claim>()
  private readonly bound = new WeakMap<Client, PersistentSession>()
  /** the CONNECT's user name, for the records of the client's messages (`mqtt.username`, `${username}`) */
  private readonly usernames = new WeakMap<Client, string>()
  private readonly willsInFlight = new WeakMap<Client, Promise<void>>()
  /** connections whose end is still being written to Kafka (will, final session state) */
  private readonly ending = new Set<Promise<void>>()
  private readonly delivery: SessionDelivery
  private readonly sharedMembers: SharedMembers | undefined

  constructor (private readonly opts: MqttEdgeOptions) {
    this.log = opts.logger.child({ component: 'mqtt' })
    const sessions = opts.sessions
    const persistence = createPersistence({
      retained: opts.retained.view,
      sessionOf: (clientId) => sessions?.manager.get(clientId),
      subscriptionsChanged: (session) => sessions === undefined ? Promise.resolve() : sessions.manager.changed(session),
      putWill: (client, will) => this.putWill(client, will)
    })
    this.mq = createLocalEmitter(100)
    this.aedes = new Aedes({
      id: opts.node,
      mq: this.mq,
      persistence,
      maxClientsIdLength: opts.maxClientIdLength,
      connectTimeout: opts.connectTimeoutMs,
      maxInflightInbound: opts.maxInflightInbound,
      authenticate: (client, username, _password, done) => {
        if (username !== undefined && username !== null && username !== '') this.usernames.set(client, username)
        const claim = opts.claim
        if (claim === undefined) { done(null, true); return }
        const clientId = client.id
        claim(clientId, { close: () => { if (!client.closed) client.close() } })
          .then(c => this.openSession(client, c))
          .then(
          () => {
            done(null, true)
          },
          (err: unknown) => {
            this.log.warn({ clientId, err }, 'CONNECT refused: the client id could not be claimed in Kafka')
            done(Object.assign(new Error('Server unavailable'), { returnCode: 3 }) as unknown as AuthenticateError, false)
          }
        )
      },
      authorizePublish: createPublishHook({
        publisher: opts.publisher,
        retained: opts.retained,
        node: opts.node,
        persistence: () => persistence as unknown as IncomingPersistence,
        logger: this.log,
        onWill: (client, written) => this.willsInFlight.set(client, written),
        usernameOf: (client) => this.usernames.get(client)
      }),
      authorizeForward: (client, packet) => this.delivery.authorizeForward(client, packet),
      authorizeSubscribe: (client, sub, callback) => {
        if (this.sharedMembers !== undefined) this.sharedMembers.authorizeSubscribe(client, sub, callback)
        else callback(null, sub)
      }
    })
    this.delivery = new SessionDelivery(this.aedes, client => this.bound.get(client), () => (opts.sessions?.manager.size ?? 0) > 0)
    this.sharedMembers = opts.shared === undefined ? undefined : new SharedMembers(this.aedes, opts.shared, this.log)
    this.aedes.on('clientError', (client, err) => {
      this.log.info({ clientId: client.id, err: err.message }, 'client connection closed on error')
    })
    this.aedes.on('connectionError', (client, err) => {
      this.log.info({ clientId: client.id, err: err.message }, 'connection closed before CONNECT completed')
    })
    this.aedes.on('client', client => this.log.debug({ clientId: client.id }, 'client connected'))
    this.aedes.on('clientReady', client => this.resume(client))
    this.aedes.on('clientDisconnect', client => {
      this.claims.get(client)?.release()
      this.log.debug({ clientId: client.id }, 'client disconnected')
      this.sharedMembers?.clientGone(client)
      this.endSession(client)
    })
  }

  /**
   * Before the CONNACK (aedes' authenticate hook, after the cluster-wide claim): close a local
   * connection of the same client id, open the persistent session (the previous owner hands it over
   * first) or drop a stored one for clean = 1, and discard a stale will of a dead connection.
   */
  private async openSession (client: Client, claim: Claim): Promise<void> {
    // the connection may have gone while the claim was written
    if (client.closed) { claim.release(); return }
    this.claims.set(client, claim)
    const sessions = this.opts.sessions
    if (sessions === undefined) return
    const previous = (this.aedes as unknown as { clients: Record<string, Client> }).clients[client.id]
    if (previous !== undefined && previous !== client) previous.close()
    const opened = await sessions.manager.open(client.id, client.clean, claim.conn)
    await sessions.wills.discardStale(client.id, claim.conn)
    if (opened.session === undefined) return
    if (client.closed) { void sessions.manager.close(opened.session); return }
    this.bound.set(client, opened.session)
    this.delivery.prepare(client, opened.session)
  }

  /** CONNACK sent and aedes' own queue done: replay from the log, then go live. */
  private resume (client: Client): void {
    const session = this.bound.get(client)
    const manager = this.opts.sessions?.manager
    if (session === undefined || manager === undefined) return
    const t0 = Date.now()
    manager.resume(session, item => this.delivery.replay(client, item)).then(
      ({ replayed, gap }) => {
        this.delivery.goLive(client, session)
        this.log.info({ clientId: client.id, replayed, gap: gap.toString(), ms: Date.now() - t0 }, 'session resumed')
      },
      (err: unknown) => {
        if (client.closed) return
        this.log.warn({ clientId: client.id, err }, 'session could not be resumed from Kafka; closing the connection')
        client.close()
      }
    )
  }

  /** The connection ended: its will (if aedes publishes it) goes first, then its final state. */
  private endSession (client: Client): void {
    const sessions = this.opts.sessions
    const claim = this.claims.get(client)
    if (sessions === undefined || claim === undefined) return
    const session = this.bound.get(client)
    const willDone = (this.willsInFlight.get(client) ?? Promise.resolve())
      .then(() => sessions.wills.release(client.id, claim.conn))
      .catch(err => this.log.warn({ err, clientId: client.id }, 'will record not removed'))
    const ended = (session === undefined ? willDone : sessions.manager.close(session, willDone))
      .finally(() => this.ending.delete(ended))
    this.ending.add(ended)
  }

  private async putWill (client: Client, will: PublishPacket): Promise<void> {
    const sessions = this.opts.sessions
    const claim = this.claims.get(client)
    if (sessions === undefined || claim === undefined) return
    const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload
    await sessions.wills.put(client.id, { node: this.opts.node, inc: sessions.inc, conn: claim.conn },
      { topic: will.topic, payload, qos: will.qos, retain: will.retain })
  }

  get connectedClients (): number { return this.aedes.connectedClients }

  /** The bound listeners (name, host, actual port). */
  get boundListeners (): ReadonlyArray<Pick<BoundListener, 'name' | 'host' | 'port'>> { return this.listeners }

  async start (): Promise<void> {
    await this.aedes.listen()
    this.listeners = await openTcpListeners(this.opts.listeners, socket => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
      this.aedes.handle(socket)
    }, this.log)
  }

  /**
   * Hand a message read from the log to every matching local subscriber. It goes straight to the
   * emitter, synchronously and in log order: aedes' own `publish()` runs QoS 1/2 packets through an
   * asynchronous step (its offline queue) that QoS 0 packets skip, so a QoS 0 record could overtake
   * the QoS 1 records before it — and aedes' per-client de-duplication (broker id + a counter taken
   * at packet creation) would then drop those as stale. The offline queue of persistent sessions is
   * the durable-session issue's, built on the log; aedes' in-memory one is not used.
   */
  deliver (message: MqttMessage, tp: string, offset: string): Promise<void> {
    const packet = this.delivery.livePacket(message, tp, offset)
    return new Promise(resolve => this.mq.emit(packet, () => { this.delivery.done(packet); resolve() }))
  }

  /** Stop accepting connections (existing ones keep working). */
  async stopAccepting (): Promise<void> {
    const closing = closeTcpListeners(this.listeners)
    this.listeners = []
    // server.close() waits for open sockets; do not wait for that here
    void closing
  }

  /** Close every client connection and aedes itself; resolves when their wills and final session states are written. */
  async close (): Promise<void> {
    await new Promise<void>(resolve => this.aedes.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    await Promise.all([...this.ending])
  }
}
