import { Aedes, type AuthenticateError } from 'aedes'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import type { Claim, LocalConnection } from '../cluster/takeover.js'
import type { Logger } from '../observability/logger.js'
import type { LocalSink } from '../routing/log-delivery.js'
import type { MqttMessage } from '../bridge/mqtt-message.js'
import type { RetainedStore } from '../retained/retained-store.js'
import type { LogPublisher } from '../routing/log-publisher.js'
import { createLocalEmitter } from './local-emitter.js'
import { createPublishHook, type IncomingPersistence } from './publish-hook.js'
import { createPersistence } from './retained-persistence.js'
import { closeTcpListeners, openTcpListeners, type BoundListener, type TcpListenerSpec } from './tcp-listeners.js'

type MQEmitter = ReturnType<typeof createLocalEmitter>
type PacketConstructor = new (original: object, broker: Aedes) => object
// CommonJS, typed as a namespace: load it the CommonJS way
const Packet = createRequire(import.meta.url)('aedes-packet') as PacketConstructor

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

  constructor (private readonly opts: MqttEdgeOptions) {
    this.log = opts.logger.child({ component: 'mqtt' })
    const persistence = createPersistence(opts.retained.view)
    this.mq = createLocalEmitter(100)
    this.aedes = new Aedes({
      id: opts.node,
      mq: this.mq,
      persistence,
      maxClientsIdLength: opts.maxClientIdLength,
      connectTimeout: opts.connectTimeoutMs,
      maxInflightInbound: opts.maxInflightInbound,
      authenticate: (client, _username, _password, done) => {
        const claim = opts.claim
        if (claim === undefined) { done(null, true); return }
        const clientId = client.id
        claim(clientId, { close: () => { if (!client.closed) client.close() } }).then(
          c => {
            // the connection may have gone while the claim was written
            if (client.closed) c.release()
            else this.claims.set(client, c)
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
        logger: this.log
      })
    })
    this.aedes.on('clientError', (client, err) => {
      this.log.info({ clientId: client.id, err: err.message }, 'client connection closed on error')
    })
    this.aedes.on('connectionError', (client, err) => {
      this.log.info({ clientId: client.id, err: err.message }, 'connection closed before CONNECT completed')
    })
    this.aedes.on('client', client => this.log.debug({ clientId: client.id }, 'client connected'))
    this.aedes.on('clientDisconnect', client => {
      this.claims.get(client)?.release()
      this.log.debug({ clientId: client.id }, 'client disconnected')
    })
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
  deliver (message: MqttMessage): Promise<void> {
    const packet = new Packet({ cmd: 'publish', topic: message.topic, payload: message.payload, qos: message.qos, retain: false, dup: false }, this.aedes)
    return new Promise(resolve => this.mq.emit(packet as { topic: string }, () => resolve()))
  }

  /** Stop accepting connections (existing ones keep working). */
  async stopAccepting (): Promise<void> {
    const closing = closeTcpListeners(this.listeners)
    this.listeners = []
    // server.close() waits for open sockets; do not wait for that here
    void closing
  }

  /** Close every client connection and aedes itself. */
  async close (): Promise<void> {
    await new Promise<void>(resolve => this.aedes.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
  }
}
