import type { OutgoingRecord } from '../kafka/batching-producer.js'
import type { Logger } from '../observability/logger.js'
import { encodeClientRecord, type ClientRecord } from './client-record.js'
import type { Liveness, PresenceView } from './presence-view.js'

export interface PresenceSweeperOptions {
  node: string
  topic: string
  /** `cluster.node_timeout_ms`: a record younger than this is never taken for a dead node's */
  nodeTimeoutMs: number
  intervalMs: number
}

export interface PresenceSweeperDeps {
  view: PresenceView
  producer: { send (record: OutgoingRecord): Promise<void> }
  isLive: Liveness
  /** the live nodes, sorted by name: the first one sweeps */
  liveNodes: () => string[]
}

/**
 * Keeps the clients topic true where no owner can: the first live node (by name) marks the clients
 * of dead node incarnations disconnected (`node_down`; a clean session's record is then removed),
 * and removes the records of persistent sessions whose expiry has passed. Every node runs one; only
 * the first live node acts, so two nodes rarely write the same mark (and a repeated mark is harmless).
 */
export class PresenceSweeper {
  private timer: NodeJS.Timeout | undefined
  private readonly log: Logger
  /** records written by this node's sweeps */
  swept = 0

  constructor (private readonly opts: PresenceSweeperOptions, private readonly deps: PresenceSweeperDeps, logger: Logger) {
    this.log = logger.child({ component: 'presence' })
  }

  start (): void {
    this.timer = setInterval(() => this.sweep(Date.now()), this.opts.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** One pass (public for tests). */
  sweep (now: number): void {
    if (this.deps.liveNodes()[0] !== this.opts.node) return
    const dead: ClientRecord[] = []
    const expired: string[] = []
    for (const r of this.deps.view.values()) {
      if (r.connected) {
        if (now - r.at > this.opts.nodeTimeoutMs && !this.deps.isLive(r.node, r.inc)) dead.push(r)
      } else if (r.clean || (r.expiryS > 0 && now - (r.disconnectedAt ?? r.at) > r.expiryS * 1000)) {
        expired.push(r.clientId)
      }
    }
    for (const r of dead) {
      this.send(r.clientId, encodeClientRecord({ ...r, connected: false, disconnectedAt: now, reason: 'node_down', at: now }))
      if (r.clean) this.send(r.clientId, null)
    }
    for (const clientId of expired) this.send(clientId, null)
    if (dead.length > 0) this.log.info({ clients: dead.length, nodes: [...new Set(dead.map(r => r.node))] }, 'clients of dead nodes marked disconnected')
  }

  private send (clientId: string, value: Buffer | null): void {
    this.swept++
    this.deps.producer.send({ topic: this.opts.topic, key: clientId, value })
      .catch((err: unknown) => this.log.warn({ err, clientId }, 'presence record not written'))
  }
}
