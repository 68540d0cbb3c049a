import type { Logger } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'

/**
 * Why a limit refused, slowed or dropped something. The input side's reasons are listed; the
 * output side (slow subscribers) adds its own (`queue_full`, `inflight_full`, `slow_client`), and
 * any snake_case word works.
 */
export type LimitReason =
  | 'packet_too_large'
  | 'delivery_too_large'
  | 'payload_format_invalid'
  | 'rate_limited'
  | 'overloaded'
  | 'kafka_rejected'
  | 'max_connections'
  | 'conn_rate'
  | 'topic_levels'
  | 'max_subscriptions'
  | 'qos_not_allowed'
  | 'awaiting_rel_full'
  | 'receive_maximum_exceeded'
  | 'await_rel_timeout'
  | 'idle_timeout'
  | 'client_id_too_long'
  | 'username_too_long'
  | (string & {})

/** What a log line says about the event: who (client id, else peer address) and anything useful. */
export interface LimitContext {
  clientId?: string | undefined
  peer?: string | undefined
  [field: string]: unknown
}

export interface LimitEventsOptions {
  /** at most one line per (reason, client) in this window; default one minute */
  windowMs?: number
  /** at most this many lines per reason in a window (then counted as suppressed); default 60 */
  linesPerReason?: number
  now?: () => number
}

/** The level of a reason's log line: what a client did is info, what the node or Kafka did is warn. */
const WARN_REASONS = new Set<string>(['overloaded', 'kafka_rejected', 'max_connections', 'conn_rate'])

/** A bound on the (reason, client) keys remembered within one window, whatever clients send. */
const MAX_KEYS = 10_000

/**
 * Counts every limit event by reason (`wharf_limit_events_total{reason}`) and logs it, at most one
 * line a minute per reason and client and at most `linesPerReason` lines a minute per reason, so a
 * flood of refusals cannot flood the log. A line that follows suppressed ones says how many.
 */
export class LimitEvents {
  private readonly counts = new Map<string, number>()
  private readonly lastLogged = new Map<string, number>()
  private readonly window = new Map<string, { start: number; lines: number; suppressed: number }>()
  private readonly windowMs: number
  private readonly linesPerReason: number
  private readonly now: () => number
  private readonly log: Logger

  constructor (logger: Logger, opts: LimitEventsOptions = {}) {
    this.log = logger.child({ component: 'limits' })
    this.windowMs = opts.windowMs ?? 60_000
    this.linesPerReason = opts.linesPerReason ?? 60
    this.now = opts.now ?? Date.now
  }

  /** Counts `n` events of `reason` and logs one line unless that reason and client logged lately. */
  record (reason: LimitReason, ctx: LimitContext = {}, n = 1): void {
    this.count(reason, n)
    const now = this.now()
    const who = ctx.clientId ?? ctx.peer ?? ''
    const key = `${reason}\u0000${who}`
    const last = this.lastLogged.get(key)
    if (last !== undefined && now - last < this.windowMs) return
    const w = this.windowOf(reason, now)
    if (w.lines >= this.linesPerReason) {
      w.suppressed += n
      return
    }
    w.lines++
    if (this.lastLogged.size >= MAX_KEYS) this.prune(now)
    this.lastLogged.set(key, now)
    const suppressed = w.suppressed
    w.suppressed = 0
    const fields = suppressed > 0 ? { reason, ...ctx, suppressed } : { reason, ...ctx }
    if (WARN_REASONS.has(reason)) this.log.warn(fields, 'limit reached')
    else this.log.info(fields, 'limit reached')
  }

  /** Counts `n` events of `reason` without a log line (the caller logged, or it is a bulk count). */
  count (reason: LimitReason, n = 1): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + n)
  }

  /** The count of one reason (tests, /ready). */
  countOf (reason: LimitReason): number {
    return this.counts.get(reason) ?? 0
  }

  /** Every reason's count, as Prometheus label sets. */
  * byReason (): Iterable<[Record<string, string>, number]> {
    for (const [reason, n] of this.counts) yield [{ reason }, n]
  }

  private windowOf (reason: string, now: number): { start: number; lines: number; suppressed: number } {
    let w = this.window.get(reason)
    if (w === undefined || now - w.start >= this.windowMs) {
      const suppressed = w?.suppressed ?? 0
      w = { start: now, lines: 0, suppressed }
      this.window.set(reason, w)
    }
    return w
  }

  /** Forget (reason, client) keys whose window is over; if all are recent, forget the oldest half. */
  private prune (now: number): void {
    for (const [key, at] of this.lastLogged) {
      if (now - at >= this.windowMs) this.lastLogged.delete(key)
    }
    if (this.lastLogged.size < MAX_KEYS) return
    let drop = this.lastLogged.size / 2
    for (const key of this.lastLogged.keys()) {
      if (drop-- <= 0) break
      this.lastLogged.delete(key)
    }
  }
}

/** `wharf_limit_events_total{reason}`: the one counter of every limit and drop, read at scrape time. */
export function registerLimitMetrics (metrics: Metrics, events: LimitEvents): void {
  metrics.countByLabelsFrom('wharf_limit_events_total', 'limits that refused, slowed or dropped something, by reason', ['reason'], () => events.byReason())
}
