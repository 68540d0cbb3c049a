import type { MqttMessage } from '../protocol/message.js'
import type { WillsClaimSink } from '../cluster/nodes-log.js'
import { encodeNodeRecord, willsClaimKey, type WillsClaimRecord } from '../cluster/node-records.js'
import type { BatchingProducer } from '../kafka/batching-producer.js'
import type { Logger } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'
import type { Owner, WillRecord } from './session-record.js'
import type { SessionView } from './session-view.js'
import { willMessage } from './will-store.js'

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
 * record), so each will is published once, by one survivor. If the winner dies too before it is
 * done, the survivors claim again in the next round, and so on.
 */
export class DeadNodeWills implements WillsClaimSink {
  /** "node/inc" of a dead node -> the winner of the latest decided round of claims */
  private readonly winners = new Map<string, { round: number; winner: Owner }>()
  private readonly claimed = new Set<string>()
  private readonly publishing = new Set<string>()
  /** "node/inc" of a dead node -> when this node first found it dead (a will's delay counts from then) */
  private readonly deadSince = new Map<string, number>()
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
    const round = record.round ?? 0
    const current = this.winners.get(key)
    // the first claim of the next undecided round wins it; every node reads the same order
    if ((current === undefined && round !== 0) || (current !== undefined && round !== current.round + 1)) return
    const winner = { node: record.by, inc: record.byInc, conn: '' }
    this.winners.set(key, { round, winner })
    // this node won: publish now rather than at the next tick
    if (this.isMe(winner)) this.tick()
  }

  /**
   * Look for wills of dead owners: claim them (again, in a new round, when the previous winner
   * died before it published them all), or publish the ones this node won.
   */
  tick (): void {
    for (const [clientId, will] of this.deps.view.wills) {
      const owner = will.owner
      if (this.isMe(owner) || this.deps.ownerLive(owner)) continue
      const key = `${owner.node}/${owner.inc}`
      if (!this.deadSince.has(key)) this.deadSince.set(key, Date.now())
      const decided = this.winners.get(key)
      if (decided === undefined) {
        this.claim(key, owner, 0)
      } else if (this.isMe(decided.winner)) {
        if (!this.publishing.has(clientId) && this.due(will, key)) void this.publish(clientId, will)
      } else if (!this.deps.ownerLive(decided.winner)) {
        this.claim(key, owner, decided.round + 1)
      }
    }
  }

  /**
   * MQTT 5 Will Delay Interval: a will is due its delay after the connection ended, or, when the
   * node died under a connected client, after this node found the node dead (a client that
   * reconnects meanwhile deletes the record, so it is never published).
   */
  private due (will: WillRecord, key: string): boolean {
    const delayS = will.delayS ?? 0
    if (delayS <= 0) return true
    const since = will.disconnectedAt ?? this.deadSince.get(key) ?? Date.now()
    return Date.now() >= since + delayS * 1000
  }

  private isMe (o: { node: string; inc: string }): boolean {
    return o.node === this.opts.node && o.inc === this.opts.inc
  }

  private claim (key: string, owner: Owner, round: number): void {
    const claimKey = `${key}#${round}`
    if (this.claimed.has(claimKey)) return
    this.claimed.add(claimKey)
    const record: WillsClaimRecord = { v: 1, type: 'wills', node: owner.node, inc: owner.inc, by: this.opts.node, byInc: this.opts.inc, round, at: Date.now() }
    this.log.info({ deadNode: owner.node, round }, 'claiming the wills of a dead node')
    this.deps.producer.send({ topic: this.opts.nodesTopic, key: willsClaimKey(owner.node), value: encodeNodeRecord(record) })
      .catch(err => {
        this.claimed.delete(claimKey)
        this.log.warn({ err, deadNode: owner.node }, 'claim on a dead node\'s wills not written; trying again')
      })
  }

  private async publish (clientId: string, record: WillRecord): Promise<void> {
    this.publishing.add(clientId)
    const w = record.will
    try {
      await this.deps.publish(willMessage(record, this.opts.node))
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
