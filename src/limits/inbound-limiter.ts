import { TokenBucket } from './token-bucket.js'

/** A listener's per-client rates (`messages_rate`, `bytes_rate`), per second; undefined = no limit. */
export interface ClientRates {
  messages?: number | undefined
  bytes?: number | undefined
}

/** The burst a bucket of `perSecond` allows: a tenth of a second's worth, at least one token. */
export function burstOf (perSecond: number): number {
  return Math.max(1, perSecond / 10)
}

/**
 * What one client may send: PUBLISH packets against `messages_rate`, every packet's bytes against
 * `bytes_rate` (EMQX counts the same). Asked once per packet, when its fixed header has been read;
 * answers how long to stop reading the client's socket (0 = keep reading). Nothing is dropped.
 */
export class InboundLimiter {
  private readonly messages: TokenBucket | undefined
  private readonly bytes: TokenBucket | undefined

  constructor (rates: ClientRates, now: number) {
    this.messages = rates.messages === undefined ? undefined : new TokenBucket(rates.messages, burstOf(rates.messages), now)
    this.bytes = rates.bytes === undefined ? undefined : new TokenBucket(rates.bytes, burstOf(rates.bytes), now)
  }

  /** Whether any rate applies (a client without one needs no limiter at all). */
  static needed (rates: ClientRates): boolean {
    return rates.messages !== undefined || rates.bytes !== undefined
  }

  /** One packet of `bytes` (whole packet) arrived; `publish` when it is a PUBLISH. Milliseconds to pause. */
  onPacket (publish: boolean, bytes: number, now: number): number {
    const m = publish && this.messages !== undefined ? this.messages.take(1, now) : 0
    const b = this.bytes === undefined ? 0 : this.bytes.take(bytes, now)
    return Math.max(m, b)
  }
}
