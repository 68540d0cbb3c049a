import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

/** A count a component keeps itself (a plain number on the hot path), read when Prometheus scrapes. */
export type CountSource = () => number
/** Counts by label values (e.g. reason and Kafka topic), read when Prometheus scrapes. */
export type LabelledCountSource = () => Iterable<[Record<string, string>, number]>

/**
 * The node's Prometheus metrics (served on the HTTP port at `/metrics`). One registry per node, so
 * that several nodes in one process (tests) do not share counters. Add a metric here, next to the
 * others, and hand it to whoever counts it; or let a component keep its own number and register a
 * source with `countFrom`, read at scrape time.
 */
export function createMetrics (node: string) {
  const registry = new Registry()
  registry.setDefaultLabels({ node })
  // the event-loop delay monitor samples every 100 ms instead of prom-client's 10 ms: an idle node wakes up less
  collectDefaultMetrics({ register: registry, prefix: 'wharf_process_', eventLoopMonitoringPrecision: 100 })
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
    localSessions: new Gauge({ name: 'wharf_sessions_local', help: 'persistent sessions connected to this node', registers: [registry] }),

    /** A counter whose value a component keeps; read at every scrape. */
    countFrom (name: string, help: string, read: CountSource): void {
      new Counter({ name, help, registers: [registry], collect () { this.reset(); this.inc(read()) } })
    },

    /** A gauge whose value a component keeps; read at every scrape. */
    gaugeFrom (name: string, help: string, read: CountSource): void {
      new Gauge({ name, help, registers: [registry], collect () { this.set(read()) } })
    },

    /** A labelled gauge whose values a component keeps; read at every scrape. */
    gaugeByLabelsFrom (name: string, help: string, labelNames: string[], read: LabelledCountSource): void {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        collect () {
          this.reset()
          for (const [labels, value] of read()) this.set(labels, value)
        }
      })
    },

    /** A labelled counter whose values a component keeps; read at every scrape. */
    countByLabelsFrom (name: string, help: string, labelNames: string[], read: LabelledCountSource): void {
      new Counter({
        name,
        help,
        labelNames,
        registers: [registry],
        collect () {
          this.reset()
          for (const [labels, value] of read()) this.inc(labels, value)
        }
      })
    }
  }
}

export type Metrics = ReturnType<typeof createMetrics>
