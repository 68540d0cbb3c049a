/**
 * CPU and memory of processes by pid, from /proc (Linux only): utime+stime from /proc/<pid>/stat,
 * VmRSS from /proc/<pid>/status. A sampler takes a reading every `intervalMs` and reports CPU as a
 * percentage of one core over the window plus the peak and last RSS.
 */
import { readFileSync } from 'node:fs'

const CLK_TCK = 100 // sysconf(_SC_CLK_TCK) on Linux x86_64/arm64

export function cpuTicks (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name may contain spaces: fields start after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15 of stat)
  } catch {
    return undefined
  }
}

export function rssBytes (pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

export interface ProcUsage {
  /** average CPU over the window, % of one core (200 = both cores of a 2-core machine) */
  cpuPct: number
  rssPeakBytes: number
  rssEndBytes: number
}

export class ProcSampler {
  private readonly startTicks: Map<number, number> = new Map()
  private readonly peak: Map<number, number> = new Map()
  private readonly timer: NodeJS.Timeout
  private readonly t0 = performance.now()

  constructor (private readonly pids: Record<string, number>, intervalMs = 250) {
    for (const pid of Object.values(pids)) {
      this.startTicks.set(pid, cpuTicks(pid) ?? 0)
      this.peak.set(pid, rssBytes(pid) ?? 0)
    }
    this.timer = setInterval(() => this.sample(), intervalMs)
    this.timer.unref()
  }

  private sample (): void {
    for (const pid of Object.values(this.pids)) {
      const rss = rssBytes(pid) ?? 0
      if (rss > (this.peak.get(pid) ?? 0)) this.peak.set(pid, rss)
    }
  }

  stop (): Record<string, ProcUsage> {
    clearInterval(this.timer)
    this.sample()
    const secs = (performance.now() - this.t0) / 1000
    const out: Record<string, ProcUsage> = {}
    for (const [name, pid] of Object.entries(this.pids)) {
      const ticks = (cpuTicks(pid) ?? 0) - (this.startTicks.get(pid) ?? 0)
      out[name] = {
        cpuPct: Math.round(ticks / CLK_TCK / secs * 1000) / 10,
        rssPeakBytes: this.peak.get(pid) ?? 0,
        rssEndBytes: rssBytes(pid) ?? 0
      }
    }
    return out
  }
}

/**
 * CPU time of processes over one window (e.g. a load generator's measured window, its `start` and
 * `end`), so that CPU can be divided by what was counted in the same window.
 */
export class CpuWindow {
  private readonly t0 = new Map<string, number>()
  private readonly t1 = new Map<string, number>()

  constructor (private readonly pids: Record<string, number>) {}

  readonly start = (): void => { for (const [name, pid] of Object.entries(this.pids)) this.t0.set(name, cpuTicks(pid) ?? 0) }
  readonly end = (): void => { for (const [name, pid] of Object.entries(this.pids)) this.t1.set(name, cpuTicks(pid) ?? 0) }

  /** µs of CPU per `count` (e.g. delivered messages) for each process, 0.1 µs resolution */
  usPer (count: number): Record<string, number> {
    const out: Record<string, number> = {}
    for (const name of Object.keys(this.pids)) {
      const ticks = (this.t1.get(name) ?? 0) - (this.t0.get(name) ?? 0)
      out[name] = Math.round(ticks / CLK_TCK * 1e6 / count * 10) / 10
    }
    return out
  }
}
