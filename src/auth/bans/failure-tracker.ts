import { normalizeIp } from '../authz/acl-rule.js'
import type { BanKind, BanRecord } from './banned-record.js'

/** `flapping_detect` (EMQX's names), durations in ms. */
export interface FailureTrackerOptions {
  max_count: number
  window_time: number
  ban_time: number
  /** keys kept at most; past it, keys without a failure in the window are dropped first */
  max_keys?: number
}

/**
 * Counts failed logins per client address and per user name: `max_count` failures within
 * `window_time` make a ban of `ban_time` (a BanRecord for the banned topic). Pure: the clock is
 * injected, nothing is written anywhere. A success clears the user name's count, not the
 * address's (one good account must not reset an address that is guessing others' passwords).
 */
export class FailureTracker {
  private readonly failures = new Map<string, number[]>()
  private readonly maxKeys: number

  constructor (private readonly opts: FailureTrackerOptions, private readonly now: () => number = Date.now) {
    this.maxKeys = opts.max_keys ?? 100_000
  }

  get size (): number { return this.failures.size }

  /** A failed login; returns the bans it triggers (none, one or two). */
  failure (c: { username?: string | undefined; peerhost: string }): BanRecord[] {
    const bans: BanRecord[] = []
    const peer = this.count('peerhost', normalizeIp(c.peerhost))
    if (peer !== undefined) bans.push(peer)
    if (c.username !== undefined) {
      const user = this.count('username', c.username)
      if (user !== undefined) bans.push(user)
    }
    return bans
  }

  success (c: { username?: string | undefined }): void {
    if (c.username !== undefined) this.failures.delete(`username:${c.username}`)
  }

  private count (kind: BanKind, value: string): BanRecord | undefined {
    const key = `${kind}:${value}`
    const now = this.now()
    const since = now - this.opts.window_time
    const times = (this.failures.get(key) ?? []).filter(t => t > since)
    times.push(now)
    this.failures.delete(key)
    if (times.length >= this.opts.max_count) {
      return { v: 1, kind, value, by: 'flapping_detect', reason: `${times.length} failed logins within ${this.opts.window_time} ms`, at: now, until: now + this.opts.ban_time }
    }
    this.failures.set(key, times)
    if (this.failures.size > this.maxKeys) this.prune(since)
    return undefined
  }

  /** Drops keys without a failure in the window, then the oldest keys while still over the bound. */
  private prune (since: number): void {
    for (const [k, times] of this.failures) if ((times[times.length - 1] as number) <= since) this.failures.delete(k)
    for (const k of this.failures.keys()) {
      if (this.failures.size <= this.maxKeys) break
      this.failures.delete(k)
    }
  }
}
