import type { MqttMessage } from '../bridge/mqtt-message.js'
import type { WillsClaimSink } from '../cluster/nodes-log.js'
import { encodeNodeRecord, willsClaimKey, type WillsClaimRecord } from '../cluster/node-records.js'
import type { BatchingProducer } from '../kafka/batching-producer.js'
import type { Logger } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'
import type { Owner, WillRecord } from './session-record.js'
import type { SessionView } from './session-view.js'

export interface DeadNodeWillsOptions {
  node: string
  inc: string
  nodesTopic: string
  intervalMs: number
}

export interface DeadNodeWillsDeps {
  producer: BatchingProducer
  view: SessionView
  ownerLive: (owner: Owner) => boolean
  /** publish a will as if its client had (retained too); resolves when Kafka has it */
  publish: (message: MqttMessage) => Promise<void>
  /** delete a will record */
  remove: (clientId: string) => Promise<void>
  metrics: Metrics
}

/**
 * Wills of clients whose node died (no heartbeat for `cluster.node_timeout_ms`, or restarted as a new
 * incarnation): every survivor notices the will records whose owner is dead and offers to publish
 * them by writing a claim for that node incarnation to the nodes topic. All nodes read the claims in
 * log order and agree that the first one wins; only the winner publishes each will (then deletes its
 * record), so each will is published once, by one survivor.
 */
export class DeadNodeWills implements WillsClaimSink {
  /** "node/inc" -> winning claimer "node/inc" */
  private readonly winners = new Map<string, string>()
  private readonly claimed = new Set<string>()
  private readonly publishing = new Set<string>()
  private readonly log: Logger
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly opts: DeadNodeWillsOptions, private readonly deps: DeadNodeWillsDeps, logger: Logger) {
    this.log = logger.child({ component: 'dead-node-wills' })
  }

  start (): void {
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs)
    this.timer.unref()
  }

  stop (): void { clearInterval(this.timer) }

  applyClaim (record: WillsClaimRecord): void {
    const key = `${record.node}/${record.inc}`
    if (this.winners.has(key)) return
    const winner = `${record.by}/${record.byInc}`
    this.winners.set(key, winner)
    // this node won: publish now rather than at the next tick
    if (winner === `${this.opts.node}/${this.opts.inc}`) this.tick()
  }

  /** Look for wills of dead owners; claim them, or publish the ones this node won. */
  tick (): void {
    const me = `${this.opts.node}/${this.opts.inc}`
    for (const [clientId, will] of this.deps.view.wills) {
      const owner = will.owner
      if ((owner.node === this.opts.node && owner.inc === this.opts.inc) || this.deps.ownerLive(owner)) continue
      const key = `${owner.node}/${owner.inc}`
      const winner = this.winners.get(key)
      if (winner === undefined) {
        if (!this.claimed.has(key)) this.claim(key, owner)
      } else if (winner === me && !this.publishing.has(clientId)) {
        void this.publish(clientId, will)
      }
    }
  }

  private claim (key: string, owner: Owner): void {
    this.claimed.add(key)
    const record: WillsClaimRecord = { v: 1, type: 'wills', node: owner.node, inc: owner.inc, by: this.opts.node, byInc: this.opts.inc, at: Date.now() }
    this.log.info({ deadNode: owner.node }, 'claiming the wills of a dead node')
    this.deps.producer.send({ topic: this.opts.nodesTopic, key: willsClaimKey(owner.node), value: encodeNodeRecord(record) })
      .catch(err => {
        this.claimed.delete(key)
        this.log.warn({ err, deadNode: owner.node }, 'claim on a dead node\'s wills not written; trying again')
      })
  }

  private async publish (clientId: string, record: WillRecord): Promise<void> {
    this.publishing.add(clientId)
    const w = record.will
    try {
      await this.deps.publish({ topic: w.topic, payload: Buffer.from(w.payload, 'base64'), qos: w.qos, retain: w.retain, clientId, node: this.opts.node })
      await this.deps.remove(clientId)
      this.deps.metrics.deadNodeWills.inc()
      this.log.info({ clientId, topic: w.topic, deadNode: record.owner.node }, 'published the will of a client of a dead node')
    } catch (err) {
      this.log.warn({ err, clientId }, 'will of a dead node\'s client not published yet; trying again')
    } finally {
      // the record leaves the view once the removal is read back; until then it is not published twice
      setTimeout(() => this.publishing.delete(clientId), 10000).unref()
    }
  }
}
