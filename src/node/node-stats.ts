import type { NodeStats } from '../api/api-context.js'
import type { NodeCounters } from '../cluster/node-records.js'
import type { SysNumbers } from '../sys/sys-topics.js'
import type { NodeParts } from './build.js'

/** Messages dropped by this node: PUBLISHes the ACL refused, and log records no client can be given (unmappable). */
export function droppedCounts (p: NodeParts): { not_authorized: number; undeliverable_record: number } {
  let undeliverable = 0
  for (const [, n] of p.delivery.skippedCounts()) undeliverable += n
  return { not_authorized: p.auth.authorizer.stats.deny.publish, undeliverable_record: undeliverable }
}

/** One node's numbers now: GET /stats, heartbeats, the dashboard. */
export function nodeStats (p: NodeParts, startedAt: number): NodeStats {
  const t = p.ops.traffic
  const subs = p.ops.presence.subscriptionCounts()
  const d = droppedCounts(p)
  return {
    connections: p.edge.connectedClients,
    connectionsMax: p.ops.presence.peak,
    sessionsLocal: p.sessions.size,
    sessionsStored: p.sessionView.sessions.size,
    subscriptions: subs.plain + subs.shared,
    sharedSubscriptions: subs.shared,
    retained: p.retained.view.size,
    uptimeS: startedAt === 0 ? 0 : Math.floor((Date.now() - startedAt) / 1000),
    received: t.messagesIn,
    sent: t.messagesOut,
    dropped: d.not_authorized + d.undeliverable_record,
    bytesIn: t.bytesIn,
    bytesOut: t.bytesOut,
    pendingBytes: p.producer.pending,
    ackMs: p.ops.produceLatency.lastWindowMs
  }
}

/** What `$SYS/brokers/<node>/stats/...` and `.../metrics/...` show. */
export function sysNumbers (p: NodeParts): SysNumbers {
  const s = nodeStats(p, 0)
  return {
    connections: s.connections,
    connectionsMax: s.connectionsMax,
    sessions: s.sessionsLocal,
    subscriptions: s.subscriptions,
    sharedSubscriptions: s.sharedSubscriptions,
    retained: s.retained,
    dropped: s.dropped,
    traffic: p.ops.traffic
  }
}

/** What a heartbeat carries (rates for the other nodes): closes the Kafka latency window. */
export function heartbeatCounters (p: NodeParts): NodeCounters {
  p.ops.produceLatency.takeWindow()
  const s = nodeStats(p, 0)
  return { received: s.received, sent: s.sent, dropped: s.dropped, bytesIn: s.bytesIn, bytesOut: s.bytesOut, pendingBytes: s.pendingBytes, ackMs: s.ackMs }
}
