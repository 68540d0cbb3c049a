import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The node's Prometheus metrics (served on the HTTP port at `/metrics`). One registry per node, so
 * that several nodes in one process (tests) do not share counters. Add a metric here, next to the
 * others, and hand the object to whoever counts it.
 */
export function createMetrics (node: string) {
  const registry = new Registry()
  registry.setDefaultLabels({ node })
  collectDefaultMetrics({ register: registry, prefix: 'wharf_process_' })
  const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] })
  return {
    registry,
    sessionsResumed: counter('wharf_sessions_resumed_total', 'persistent sessions resumed (clean session = 0 with a stored session)'),
    sessionsCreated: counter('wharf_sessions_created_total', 'persistent sessions created'),
    sessionsExpired: counter('wharf_sessions_expired_total', 'expired sessions deleted by this node'),
    replayedRecords: counter('wharf_session_replayed_messages_total', 'messages delivered to resuming sessions from the log (new and resent)'),
    resumeGapRecords: counter('wharf_session_resume_gap_records_total', 'records a resuming session needed that had already left Kafka (retention)'),
    offlineLimitHits: counter('wharf_session_offline_limit_hits_total', 'resumes that reached mqtt.max_offline_messages and skipped the rest of the backlog'),
    takeoverTimeouts: counter('wharf_session_handover_timeouts_total', 'resumes that went ahead without the previous owner\'s final session record'),
    deadNodeWills: counter('wharf_dead_node_wills_published_total', 'wills of clients of dead nodes published by this node'),
    sharedDelivered: counter('wharf_shared_delivered_total', 'shared-subscription messages acknowledged by a member of this node'),
    sharedRedelivered: counter('wharf_shared_redelivered_total', 'shared-subscription messages given to another member because the first one left first'),
    localSessions: new Gauge({ name: 'wharf_sessions_local', help: 'persistent sessions connected to this node', registers: [registry] })
  }
}

export type Metrics = ReturnType<typeof createMetrics>
