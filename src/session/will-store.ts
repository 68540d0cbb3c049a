import type { MqttMessage } from '../protocol/message.js'
import type { BatchingProducer } from '../kafka/batching-producer.js'
import { encodeSessionRecord, willKey, type Owner, type WillRecord } from './session-record.js'
import type { SessionView } from './session-view.js'

/**
 * Wills in the sessions topic (key `<clientId>#will`): written when a client connects with a will
 * (before its CONNACK), removed when the will has been published or discarded. While a will record
 * exists its owner's node is responsible for it; when that node dies, a survivor publishes it (see
 * DeadNodeWills). Clients without a will leave nothing here.
 */
export class WillStore {
  /** client id -> connection whose will this node wrote */
  private readonly mine = new Map<string, string>()

  constructor (private readonly producer: BatchingProducer, private readonly topic: string, private readonly view: SessionView) {}

  /** Store the will of a connection; resolves when Kafka has it. */
  async put (clientId: string, owner: Owner, will: MqttMessage): Promise<void> {
    const record: WillRecord = {
      v: 1,
      clientId,
      owner,
      at: Date.now(),
      will: { topic: will.topic, payload: will.payload.toString('base64'), qos: will.qos, retain: will.retain }
    }
    this.mine.set(clientId, owner.conn)
    await this.producer.send({ topic: this.topic, key: willKey(clientId), value: encodeSessionRecord(record) })
  }

  /** The connection `conn` is gone and its will was published or discarded: remove the record. */
  async release (clientId: string, conn: string): Promise<void> {
    if (this.mine.get(clientId) !== conn) return
    this.mine.delete(clientId)
    await this.remove(clientId)
  }

  /**
   * A new connection of `clientId` (not `conn`) found a will of an earlier connection that can no
   * longer be handed over (its node is dead or did not answer): the client is back, so the old will
   * is discarded rather than published after the client's return.
   */
  async discardStale (clientId: string, conn: string): Promise<void> {
    const stored = this.view.wills.get(clientId)
    if (stored === undefined || stored.owner.conn === conn || this.mine.get(clientId) === conn) return
    await this.remove(clientId)
  }

  /** Delete the will record of `clientId` (tombstone). */
  remove (clientId: string): Promise<void> {
    return this.producer.send({ topic: this.topic, key: willKey(clientId), value: null })
  }
}
