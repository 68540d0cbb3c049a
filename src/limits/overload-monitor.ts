import { totalmem } from 'node:os'
import { getHeapStatistics } from 'node:v8'
import type { Logger } from '../observability/logger.js'
import { parseByteSize } from './rate.js'

/** Why the node is overloaded. */
export type OverloadReason = 'heap' | 'rss' | 'kafka_pending' | 'kafka_ack_stalled'

/** A watermark as configured: a share of a whole ("85%") or a number of bytes; undefined = off. */
export type Watermark = { percent: number } | { bytes: number } | undefined

/** Reads a watermark: "85%", bytes (2147483648, "2GB"), or "off" (undefined); null when it is none of these. */
export function parseWatermark (value: string | number): Watermark | null {
  if (value === 'off') return undefined
  const percent = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value) : null
  if (percent !== null) {
    const p = Number(percent[1])
    return p > 0 && p <= 100 ? { percent: p } : null
  }
  const bytes = parseByteSize(value)
  return bytes !== undefined && bytes > 0 ? { bytes } : null
}

/** One high/low pair in bytes: overloaded at or above `high`, recovered below `low`. */
export interface Band {
  high: number
  low: number
}

/** The overload settings, in bytes and milliseconds (see `resolveBand`). */
export interface OverloadSettings {
  heap?: Band | undefined
  rss?: Band | undefined
  kafkaPending?: Band | undefined
  /** overloaded when records wait for Kafka and none was acknowledged for this long; recovered at the next acknowledgement */
  kafkaAckTimeoutMs?: number | undefined
}

/** What the monitor looks at, sampled every check. */
export interface LoadSample {
  heapUsed: number
  rss: number
  /** bytes accepted but not yet acknowledged by Kafka */
  kafkaPending: number
  /** how long records have waited for Kafka without any acknowledgement (0 = none waits, or one was acknowledged lately) */
  kafkaAckStalledMs: number
}

/** A watermark pair (as configured) in bytes: a percentage of `whole`, or bytes as given; undefined when either is off. */
export function resolveBand (high: string | number, low: string | number, whole: number): Band | undefined {
  const bytes = (text: string | number): number | undefined => {
    const w = parseWatermark(text)
    return w === undefined || w === null ? undefined : 'bytes' in w ? w.bytes : Math.floor(whole * w.percent / 100)
  }
  const h = bytes(high)
  const l = bytes(low)
  if (h === undefined || l === undefined) return undefined
  return { high: h, low: Math.min(l, h) }
}

/** The V8 heap limit of this process (what heap percentages are of). */
export function heapLimit (): number {
  return getHeapStatistics().heap_size_limit
}

/** The memory this process may use (what RSS percentages are of): the cgroup limit when there is one, else the machine's. */
export function memoryLimit (): number {
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.()
  const total = totalmem()
  return constrained !== undefined && constrained > 0 && constrained < total ? constrained : total
}

/**
 * The overload state with hysteresis, pure: each reason starts when its value reaches the high
 * watermark and ends only when it falls below the low one (the Kafka acknowledgement stall ends
 * with the next acknowledgement), so the node does not flap around one threshold.
 */
export class OverloadState {
  private readonly active = new Set<OverloadReason>()
  private sinceAt = 0

  constructor (private readonly settings: OverloadSettings) {}

  get overloaded (): boolean { return this.active.size > 0 }
  get reasons (): OverloadReason[] { return [...this.active] }
  /** when the node became overloaded (ms), 0 when it is not */
  get since (): number { return this.overloaded ? this.sinceAt : 0 }

  /** Applies one sample; true when the overloaded state (or its set of reasons) changed. */
  update (sample: LoadSample, now: number): boolean {
    const before = this.reasons.join(',')
    this.band('heap', this.settings.heap, sample.heapUsed)
    this.band('rss', this.settings.rss, sample.rss)
    this.band('kafka_pending', this.settings.kafkaPending, sample.kafkaPending)
    const timeout = this.settings.kafkaAckTimeoutMs
    if (timeout !== undefined && sample.kafkaAckStalledMs >= timeout) this.active.add('kafka_ack_stalled')
    else if (sample.kafkaAckStalledMs === 0) this.active.delete('kafka_ack_stalled')
    const after = this.reasons.join(',')
    if (before === '' && after !== '') this.sinceAt = now
    return before !== after
  }

  private band (reason: OverloadReason, band: Band | undefined, value: number): void {
    if (band === undefined) { this.active.delete(reason); return }
    if (value >= band.high) this.active.add(reason)
    else if (value < band.low) this.active.delete(reason)
  }
}

export interface OverloadMonitorOptions {
  settings: OverloadSettings
  checkIntervalMs: number
  /** the Kafka side of a sample (the node's producer) */
  kafka: () => Pick<LoadSample, 'kafkaPending' | 'kafkaAckStalledMs'>
  logger: Logger
  /** memory figures; default process.memoryUsage() */
  memory?: () => { heapUsed: number; rss: number }
  now?: () => number
}

/**
 * `overload_protection`: samples heap, RSS and the Kafka producer every `checkIntervalMs` and tells
 * its listeners when the node becomes overloaded and when it recovers (by itself, with
 * hysteresis). The edge then refuses new CONNECTs and pauses reading publishers; /ready and
 * /metrics say so.
 */
export class OverloadMonitor {
  readonly state: OverloadState
  private timer: NodeJS.Timeout | undefined
  private readonly listeners: Array<(overloaded: boolean) => void> = []
  private readonly log: Logger
  private readonly memory: () => { heapUsed: number; rss: number }
  private readonly now: () => number
  private last: LoadSample = { heapUsed: 0, rss: 0, kafkaPending: 0, kafkaAckStalledMs: 0 }

  constructor (private readonly opts: OverloadMonitorOptions) {
    this.state = new OverloadState(opts.settings)
    this.log = opts.logger.child({ component: 'overload' })
    this.memory = opts.memory ?? (() => process.memoryUsage())
    this.now = opts.now ?? Date.now
  }

  get overloaded (): boolean { return this.state.overloaded }

  /** Calls `fn(overloaded)` whenever the node becomes overloaded or recovers. */
  onChange (fn: (overloaded: boolean) => void): void {
    this.listeners.push(fn)
  }

  start (): void {
    this.check()
    this.timer = setInterval(() => this.check(), this.opts.checkIntervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** What /ready shows. */
  report (): { overloaded: boolean; reasons?: OverloadReason[]; since?: string; sample?: LoadSample } {
    if (!this.state.overloaded) return { overloaded: false }
    return { overloaded: true, reasons: this.state.reasons, since: new Date(this.state.since).toISOString(), sample: this.last }
  }

  /** Takes one sample now (the timer calls it; tests may too). */
  check (): void {
    const { heapUsed, rss } = this.memory()
    const sample: LoadSample = { heapUsed, rss, ...this.opts.kafka() }
    this.last = sample
    const was = this.state.overloaded
    if (!this.state.update(sample, this.now())) return
    const is = this.state.overloaded
    if (is) this.log.warn({ reasons: this.state.reasons, ...sample }, 'node overloaded: refusing new connections and pausing publishers')
    else this.log.warn({ ...sample }, 'node no longer overloaded')
    if (was !== is) for (const fn of this.listeners) fn(is)
  }
}
