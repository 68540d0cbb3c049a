import { randomUUID } from 'node:crypto'
import type { BatchingProducer } from '../kafka/batching-producer.js'
import type { Logger } from '../observability/logger.js'
import { encodeNodeRecord, takeoverKey, type KickRecord, type TakeoverRecord } from './node-records.js'

/** One local connection of a client id, as the MQTT edge hands it over: it can be closed. */
export interface LocalConnection {
  close (): void
}

/** What the edge keeps for a connection it claimed; `release()` when the connection ends. */
export interface Claim {
  /** this connection's id, written into the takeover record and into its session and will records */
  readonly conn: string
  release (): void
}

/** A claim as the coordinator keeps it; also the `Claim` the connection holds (one object, no closure per connection). */
class Owned implements Claim {
  /** this connection's own takeover record has been read back from the log */
  seen = false

  constructor (readonly conn: string, readonly connection: LocalConnection, private readonly clientId: string, private readonly owners: Map<string, Owned>) {}

  /** The connection ended: the client id is no longer this connection's (unless a later claim took it already). */
  release (): void {
    if (this.owners.get(this.clientId) === this) this.owners.delete(this.clientId)
  }
}

/**
 * Session takeover across nodes. Before a CONNECT is acknowledged the edge `claim()`s the client id:
 * a takeover record `{ clientId, node, conn }` is written to the nodes topic (key
 * `takeover:<clientId>`, so all takeovers of one id are in one partition, in log order) and the
 * claim resolves once Kafka acknowledged it. Every node reads these records in log order: a record
 * for a client id connected here, read *after* this connection's own record and written by another
 * connection, is a later CONNECT elsewhere, so the local one is closed. The last CONNECT in the log wins.
 */
export class TakeoverCoordinator {
  private readonly owned = new Map<string, Owned>()
  private readonly log: Logger

  constructor (
    private readonly producer: BatchingProducer,
    private readonly opts: {
      node: string
      topic: string
      /** told before a local connection is closed for a later CONNECT elsewhere or a kick */
      onClose?: (clientId: string, conn: string, reason: 'takenover' | 'kicked') => void
      /** told of every claim read from the log, whichever node wrote it (a client is back: its delayed will waits no more) */
      onClaimed?: (clientId: string, conn: string) => void
    },
    logger: Logger
  ) {
    this.log = logger.child({ component: 'takeover' })
  }

  /** Claim `clientId` for a connection on this node; resolves when the claim is in Kafka. */
  async claim (clientId: string, connection: LocalConnection): Promise<Claim> {
    const conn = randomUUID()
    const owned = new Owned(conn, connection, clientId, this.owned)
    this.owned.set(clientId, owned)
    const record: TakeoverRecord = { v: 1, type: 'takeover', clientId, node: this.opts.node, conn, at: Date.now() }
    try {
      await this.producer.send({ topic: this.opts.topic, key: takeoverKey(clientId), value: encodeNodeRecord(record) })
    } catch (err) {
      owned.release()
      throw err
    }
    return owned
  }

  /** A takeover record read from the log, in log order. */
  apply (record: TakeoverRecord): void {
    this.opts.onClaimed?.(record.clientId, record.conn)
    const owned = this.owned.get(record.clientId)
    if (owned === undefined) return
    if (record.conn === owned.conn) {
      owned.seen = true
      return
    }
    // a record of another connection read before our own is older than ours: it lost
    if (!owned.seen) return
    this.owned.delete(record.clientId)
    this.log.info({ clientId: record.clientId, fromNode: this.opts.node, toNode: record.node }, 'session taken over: closing the local connection')
    this.opts.onClose?.(record.clientId, owned.conn, 'takenover')
    owned.connection.close()
  }

  /** A kick read from the log: closes the connection it names if it is this node's. */
  applyKick (record: KickRecord): void {
    if (record.node !== this.opts.node) return
    const owned = this.owned.get(record.clientId)
    if (owned === undefined || owned.conn !== record.conn) return
    this.owned.delete(record.clientId)
    this.log.info({ clientId: record.clientId, by: record.by }, 'client kicked: closing the connection')
    this.opts.onClose?.(record.clientId, owned.conn, 'kicked')
    owned.connection.close()
  }

  /** Ask the node that owns `conn` of `clientId` to close it; resolves when the request is in Kafka. */
  async kick (clientId: string, owner: { node: string; conn: string }, by: string): Promise<void> {
    const record: KickRecord = { v: 1, type: 'kick', clientId, node: owner.node, conn: owner.conn, by, at: Date.now() }
    await this.producer.send({ topic: this.opts.topic, key: takeoverKey(clientId), value: encodeNodeRecord(record) })
  }

  /** Client ids claimed by live local connections (for tests and metrics). */
  get size (): number { return this.owned.size }
}
