/**
 * A token bucket that may go into debt: `take(n)` always takes (the packet is already read), and
 * answers how long the taker should wait before taking again, so that over time no more than
 * `perSecond` tokens are taken, with bursts of up to `burst`. Used to pause reading a socket (the
 * client is slowed, nothing is dropped) and to space out accepted connections.
 */
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor (private readonly perSecond: number, private readonly burst: number, now: number) {
    this.tokens = burst
    this.updatedAt = now
  }

  /** Takes `n` tokens at `now` (ms); the milliseconds until the bucket is out of debt (0 = none). */
  take (n: number, now: number): number {
    this.refill(now)
    this.tokens -= n
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.perSecond) * 1000)
  }

  /** Milliseconds until `n` tokens are there (0 = now), without taking them. */
  waitFor (n: number, now: number): number {
    this.refill(now)
    return this.tokens >= n ? 0 : Math.ceil(((n - this.tokens) / this.perSecond) * 1000)
  }

  private refill (now: number): void {
    const elapsed = now - this.updatedAt
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.perSecond) / 1000)
      this.updatedAt = now
    }
  }
}
