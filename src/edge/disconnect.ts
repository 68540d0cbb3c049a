import type { Client, PublishPacket } from 'aedes'
import type { Logger } from '../observability/logger.js'
import type { MqttMessage } from '../protocol/message.js'
import { messagePropertiesOf } from '../protocol/message-properties.js'
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
  /** may this client's will be published (the ACL, as for any PUBLISH of its)? */
  mayPublishWill: (client: Client, will: PublishPacket) => boolean
  logger: Logger
}

/** The MQTT 5 Will Delay Interval of a will, capped by the client's Session Expiry Interval (0: none). */
function willDelayS (client: Client, will: PublishPacket): number {
  if (client.version !== 5) return 0
  const delay = (will.properties as { willDelayInterval?: number } | undefined)?.willDelayInterval ?? 0
  return Math.min(delay, client.sessionExpiryInterval)
}

/**
 * Wills and the end of a connection. A will is written to Kafka before the CONNACK (`putWill`,
 * through aedes' persistence) with its properties and Will Delay Interval; aedes publishes it
 * through the publish hook when the connection ends abnormally (`willPublishing`), and a clean
 * DISCONNECT discards it. A will with a delay is not aedes' to time (`willDelayed`): the will store
 * writes when the connection ended and publishes it after the delay unless the client came back on
 * any node. When the connection ends (`ended`), the will record is removed once its publication
 * settled (or rewritten for its delay), and only then is the session's final state written, so a new
 * owner waiting for that record never races the old will.
 */
export class DisconnectFlow {
  private readonly willsInFlight = new WeakMap<Client, Promise<void>>()
  private readonly delayedWills = new WeakMap<Client, { will: PublishPacket; delayS: number }>()
  /** connections whose end is still being written to Kafka (will, final session state) */
  private readonly ending = new Set<Promise<void>>()

  constructor (private readonly opts: DisconnectOptions) {}

  /** A client connects with a will: resolves when Kafka has it (the CONNACK waits for it). */
  async putWill (client: Client, will: PublishPacket): Promise<void> {
    const claim = this.opts.connections.connected(client)?.claim
    if (claim === undefined) return
    await this.opts.wills.put(client.id, { node: this.opts.node, inc: this.opts.inc, conn: claim.conn }, this.willMessage(client, will), willDelayS(client, will))
  }

  /** aedes is publishing the client's will while it closes the connection; `written` settles when Kafka answered. */
  willPublishing (client: Client, written: Promise<void>): void {
    this.willsInFlight.set(client, written)
  }

  /** aedes would time the client's will (MQTT 5 Will Delay Interval, `delayS` already capped): Wharf does, cluster-wide. */
  willDelayed (client: Client, will: PublishPacket, delayS: number): void {
    this.delayedWills.set(client, { will, delayS })
  }

  /** The connection ended (aedes' `clientDisconnect`). */
  ended (client: Client): void {
    const connected = this.opts.connections.connected(client)
    if (connected === undefined) return
    connected.claim.release()
    const { sessions, wills } = this.opts
    const conn = connected.claim.conn
    const delayed = this.delayedWills.get(client)
    const willWritten = delayed !== undefined && this.opts.mayPublishWill(client, delayed.will)
      ? wills.disconnected(client.id, conn, delayed.delayS, this.willMessage(client, delayed.will))
      : (this.willsInFlight.get(client) ?? Promise.resolve()).then(() => wills.release(client.id, conn))
    const willDone = willWritten.catch(err => this.opts.logger.warn({ err, clientId: client.id }, 'will record not removed'))
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

  /** A will as the message it becomes (its MQTT 5 properties with it, not the Will Delay Interval). */
  private willMessage (client: Client, will: PublishPacket): MqttMessage {
    const message: MqttMessage = {
      topic: will.topic,
      payload: typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload,
      qos: will.qos,
      retain: will.retain,
      clientId: client.id,
      username: this.opts.connections.connected(client)?.subject.username,
      node: this.opts.node
    }
    const properties = messagePropertiesOf(will.properties)
    if (properties !== undefined) message.properties = properties
    return message
  }
}
