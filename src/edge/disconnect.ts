import type { Client, PublishPacket } from 'aedes'
import type { Logger } from '../observability/logger.js'
import type { SessionManager } from '../session/session-manager.js'
import type { WillStore } from '../session/will-store.js'
import { sessionExpiryS, type ConnectFlow } from './connect.js'

export interface DisconnectOptions {
  node: string
  /** this node process' incarnation id (will records name it) */
  inc: string
  connections: ConnectFlow
  sessions: SessionManager
  wills: WillStore
  logger: Logger
}

/**
 * Wills and the end of a connection. A will is written to Kafka before the CONNACK (`putWill`,
 * through aedes' persistence); aedes publishes it through the publish hook when the connection ends
 * abnormally (`willPublishing`), and a clean DISCONNECT discards it. When the connection ends
 * (`ended`), the will record is removed once its publication settled, and only then is the session's
 * final state written, so a new owner waiting for that record never races the old will.
 */
export class DisconnectFlow {
  private readonly willsInFlight = new WeakMap<Client, Promise<void>>()
  /** connections whose end is still being written to Kafka (will, final session state) */
  private readonly ending = new Set<Promise<void>>()

  constructor (private readonly opts: DisconnectOptions) {}

  /** A client connects with a will: resolves when Kafka has it (the CONNACK waits for it). */
  async putWill (client: Client, will: PublishPacket): Promise<void> {
    const claim = this.opts.connections.connected(client)?.claim
    if (claim === undefined) return
    const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload
    await this.opts.wills.put(client.id, { node: this.opts.node, inc: this.opts.inc, conn: claim.conn },
      { topic: will.topic, payload, qos: will.qos, retain: will.retain })
  }

  /** aedes is publishing the client's will while it closes the connection; `written` settles when Kafka answered. */
  willPublishing (client: Client, written: Promise<void>): void {
    this.willsInFlight.set(client, written)
  }

  /** The connection ended (aedes' `clientDisconnect`). */
  ended (client: Client): void {
    const connected = this.opts.connections.connected(client)
    if (connected === undefined) return
    connected.claim.release()
    const { sessions, wills } = this.opts
    const willDone = (this.willsInFlight.get(client) ?? Promise.resolve())
      .then(() => wills.release(client.id, connected.claim.conn))
      .catch(err => this.opts.logger.warn({ err, clientId: client.id }, 'will record not removed'))
    const session = connected.session
    // MQTT 5: the DISCONNECT may have changed the Session Expiry Interval (aedes applied and capped it)
    const endNow = session !== undefined && client.version === 5 && client.sessionExpiryInterval === 0
    if (session !== undefined && client.version === 5 && !endNow) session.expiryS = sessionExpiryS(client)
    const ended = (session === undefined ? willDone : sessions.close(session, willDone, endNow))
      .finally(() => this.ending.delete(ended))
    this.ending.add(ended)
  }

  /** Resolves when every ended connection's will and final session state are written. */
  async drain (): Promise<void> {
    await Promise.all([...this.ending])
  }
}
