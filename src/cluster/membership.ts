import type { HeartbeatRecord, LeaveRecord, NodeCounters } from './node-records.js'

export type NodeStatus = 'live' | 'down' | 'left'

/** Per second, between a node's last two heartbeats of the same incarnation. */
export type NodeRates = Record<'received' | 'sent' | 'dropped' | 'bytesIn' | 'bytesOut', number>

export interface NodeState {
  node: string
  status: NodeStatus
  /** the last heartbeat seen (absent when only a leave record was seen) */
  heartbeat?: HeartbeatRecord
  /** rates from its last two heartbeats that carry counters */
  rates?: NodeRates
  /** time of the last heartbeat or leave, by the writer's clock */
  at: number
}

/**
 * The cluster as read from the nodes topic: node -> last heartbeat. A node is `left` after a leave
 * record (until a later heartbeat), `down` when its last heartbeat is older than `nodeTimeoutMs`,
 * `live` otherwise. Times are the writers' clocks (`at`), so node clocks should be synchronised
 * (NTP) to well under the timeout.
 */
export class Membership {
  private readonly nodes = new Map<string, { heartbeat?: HeartbeatRecord; leftAt?: number; rates?: NodeRates }>()

  constructor (private readonly nodeTimeoutMs: number, private readonly now: () => number = Date.now) {}

  /** Apply a record, in log order. */
  apply (record: HeartbeatRecord | LeaveRecord): void {
    if (record.type === 'heartbeat') {
      const prev = this.nodes.get(record.node)?.heartbeat
      const rates = prev === undefined ? undefined : ratesBetween(prev, record)
      this.nodes.set(record.node, rates === undefined ? { heartbeat: record } : { heartbeat: record, rates })
    } else {
      const prev = this.nodes.get(record.node)
      this.nodes.set(record.node, { ...prev, leftAt: record.at })
    }
  }

  /** Every node seen, sorted by name. */
  states (): NodeState[] {
    const now = this.now()
    return [...this.nodes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([node, s]) => {
      if (s.leftAt !== undefined) return { node, status: 'left' as const, ...(s.heartbeat === undefined ? {} : { heartbeat: s.heartbeat }), at: s.leftAt }
      const hb = s.heartbeat as HeartbeatRecord
      return { node, status: now - hb.at > this.nodeTimeoutMs ? 'down' as const : 'live' as const, heartbeat: hb, ...(s.rates === undefined ? {} : { rates: s.rates }), at: hb.at }
    })
  }

  /**
   * Is this incarnation of `node` alive: its heartbeats are recent and it has not left or been
   * restarted since (a heartbeat without an incarnation id counts for any).
   */
  isLive (node: string, inc: string): boolean {
    const s = this.nodes.get(node)
    if (s === undefined || s.leftAt !== undefined || s.heartbeat === undefined) return false
    if (this.now() - s.heartbeat.at > this.nodeTimeoutMs) return false
    return s.heartbeat.inc === undefined || s.heartbeat.inc === inc
  }

  /** The live nodes, sorted by name. */
  liveNodes (): string[] {
    return this.states().filter(s => s.status === 'live').map(s => s.node)
  }

  /** The live and down nodes (left ones are not part of the cluster any more). */
  summary (): { live: string[]; down: string[] } {
    const states = this.states()
    return {
      live: states.filter(s => s.status === 'live').map(s => s.node),
      down: states.filter(s => s.status === 'down').map(s => s.node)
    }
  }
}

const RATE_FIELDS = ['received', 'sent', 'dropped', 'bytesIn', 'bytesOut'] as const

/** Per-second rates between two heartbeats of one incarnation that carry counters. */
function ratesBetween (a: HeartbeatRecord, b: HeartbeatRecord): NodeRates | undefined {
  const ca: NodeCounters | undefined = a.counters
  const cb: NodeCounters | undefined = b.counters
  const seconds = (b.at - a.at) / 1000
  if (ca === undefined || cb === undefined || a.inc !== b.inc || seconds <= 0) return undefined
  const rates = {} as NodeRates
  for (const f of RATE_FIELDS) rates[f] = Math.max(0, cb[f] - ca[f]) / seconds
  return rates
}
