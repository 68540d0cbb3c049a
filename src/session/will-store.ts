import type { MqttMessage } from '../protocol/message.js'
import type { BatchingProducer } from '../kafka/batching-producer.js'
import type { Logger } from '../observability/logger.js'
import { propertiesFromJson, propertiesToJson } from '../mapping/properties-json.js'
import { encodeSessionRecord, willKey, type Owner, type WillRecord } from './session-record.js'
import type { SessionView } from './session-view.js'

export interface WillStoreDeps {
  producer: BatchingProducer
  /** the sessions topic */
  topic: string
  view: SessionView
  /** resolves when the view holds every sessions-topic record acknowledged before the call */
  syncView: () => Promise<void>
  /** publish a will (retained too); resolves when Kafka has it */
  publish: (message: MqttMessage) => Promise<void>
  logger: Logger
}

/** The message a will record holds, as it is published (the publisher's client id; this node). */
export function willMessage (record: WillRecord, node: string): MqttMessage {
  const w = record.will
  const message: MqttMessage = { topic: w.topic, payload: Buffer.from(w.payload, 'base64'), qos: w.qos, retain: w.retain, clientId: record.clientId, node }
  const properties = propertiesFromJson(w.properties)
  if (properties !== undefined && properties !== false) message.properties = properties
  return message
}

/**
 * Wills in the sessions topic (key `<clientId>#will`): written when a client connects with a will
 * (before its CONNACK), removed when the will has been published or discarded. While a will record
 * exists its owner's node is responsible for it; when that node dies, a survivor publishes it (see
 * DeadNodeWills). Clients without a will leave nothing here.
 *
 * MQTT 5 Will Delay Interval, cluster-wide: the node that saw the abnormal disconnect writes the
 * record again with `disconnectedAt` and publishes it `delayS` later, unless the client came back
 * meanwhile on any node: a new connection's takeover claim cancels the timer here (`reconnected`),
 * and its CONNECT deletes the record (`discardStale`), which the timer checks for before it
 * publishes. A node that stops or dies with delayed wills leaves their records: a survivor publishes
 * them when their delay, counted from `disconnectedAt`, has passed.
 */
export class WillStore {
  /** client id -> the record of the connection whose will this node wrote */
  private readonly mine = new Map<string, WillRecord>()
  /** client id -> the delayed will of a connection that ended here */
  private readonly delayed = new Map<string, { conn: string; timer: NodeJS.Timeout }>()
  private readonly log: Logger

  constructor (private readonly deps: WillStoreDeps) {
    this.log = deps.logger.child({ component: 'wills' })
  }

  private get view (): SessionView { return this.deps.view }

  /** Store the will of a connection (`delayS`: its MQTT 5 Will Delay Interval, capped); resolves when Kafka has it. */
  async put (clientId: string, owner: Owner, will: MqttMessage, delayS = 0): Promise<void> {
    const record: WillRecord = {
      v: 1,
      clientId,
      owner,
      at: Date.now(),
      will: { topic: will.topic, payload: will.payload.toString('base64'), qos: will.qos, retain: will.retain }
    }
    if (will.properties !== undefined) record.will.properties = propertiesToJson(will.properties)
    if (delayS > 0) record.delayS = delayS
    this.mine.set(clientId, record)
    await this.write(record)
  }

  /**
   * The connection `conn` ended abnormally and its will waits `delayS` seconds: the record says since
   * when (so a survivor can finish the wait should this node go), and the timer starts once Kafka has
   * it. `message` is what goes out (checked against the ACL by the caller).
   */
  async disconnected (clientId: string, conn: string, delayS: number, message: MqttMessage): Promise<void> {
    const record = this.mine.get(clientId)
    if (record?.owner.conn !== conn) return
    const at = Date.now()
    await this.write({ ...record, at, delayS, disconnectedAt: at })
    if (this.mine.get(clientId) !== record) return // the client is back already
    clearTimeout(this.delayed.get(clientId)?.timer)
    const timer = setTimeout(() => { void this.fire(clientId, conn, message) }, delayS * 1000)
    this.delayed.set(clientId, { conn, timer })
  }

  /** A connection `conn` of `clientId` claimed the client id (on any node): a delayed will of an earlier one is not published. */
  reconnected (clientId: string, conn: string): void {
    const d = this.delayed.get(clientId)
    if (d === undefined || d.conn === conn) return
    clearTimeout(d.timer)
    this.delayed.delete(clientId)
    if (this.mine.get(clientId)?.owner.conn === d.conn) this.mine.delete(clientId)
    this.log.debug({ clientId }, 'client back within its Will Delay Interval: will not published')
  }

  /** The node stops: delayed wills stay in Kafka for a survivor to publish when they are due. */
  stop (): void {
    for (const d of this.delayed.values()) clearTimeout(d.timer)
    this.delayed.clear()
  }

  private async fire (clientId: string, conn: string, message: MqttMessage): Promise<void> {
    if (this.delayed.get(clientId)?.conn !== conn) return
    this.delayed.delete(clientId)
    try {
      // a CONNECT elsewhere deleted the record: the client is back
      await this.deps.syncView()
      if (this.view.wills.get(clientId)?.owner.conn !== conn || this.mine.get(clientId)?.owner.conn !== conn) return
      await this.deps.publish(message)
      await this.release(clientId, conn)
      this.log.debug({ clientId, topic: message.topic }, 'delayed will published')
    } catch (err) {
      this.log.warn({ err, clientId }, 'delayed will not published; a survivor publishes it once this node is gone')
    }
  }

  /** The connection `conn` is gone and its will was published or discarded: remove the record. */
  async release (clientId: string, conn: string): Promise<void> {
    if (this.mine.get(clientId)?.owner.conn !== conn) return
    this.mine.delete(clientId)
    await this.remove(clientId)
  }

  /**
   * A new connection of `clientId` (not `conn`) found a will of an earlier connection that can no
   * longer be handed over (its node is dead or did not answer) or that waits out its delay: the
   * client is back, so the old will is discarded rather than published after the client's return.
   */
  async discardStale (clientId: string, conn: string): Promise<void> {
    const stored = this.view.wills.get(clientId)
    this.reconnected(clientId, conn)
    if (stored === undefined || stored.owner.conn === conn || this.mine.get(clientId)?.owner.conn === conn) return
    await this.remove(clientId)
  }

  /** Delete the will record of `clientId` (tombstone). */
  remove (clientId: string): Promise<void> {
    return this.deps.producer.send({ topic: this.deps.topic, key: willKey(clientId), value: null })
  }

  private async write (record: WillRecord): Promise<void> {
    await this.deps.producer.send({ topic: this.deps.topic, key: willKey(record.clientId), value: encodeSessionRecord(record) })
  }
}
