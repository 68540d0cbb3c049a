import type { Socket } from 'node:net'
import { burstOf } from '../limits/inbound-limiter.js'
import { TokenBucket } from '../limits/token-bucket.js'

interface Held {
  socket: Socket
  go: () => void
}

/**
 * `max_conn_rate`: connections are taken on at most at this rate (bursts of a tenth of a second's
 * worth). Above it accepting pauses: the connection is accepted by TCP but nothing of it is read,
 * no TLS handshake or MQTT CONNECT is handled, until its turn comes, in arrival order. Nothing is
 * refused (a held connection still counts against `max_connections`, which bounds how many wait);
 * a client that gives up while it waits is simply forgotten.
 */
export class AcceptGate {
  private readonly bucket: TokenBucket
  private readonly held: Held[] = []
  private timer: NodeJS.Timeout | undefined
  /** connections that had to wait for their turn */
  throttled = 0

  /** `perSecond`: connections per second */
  constructor (perSecond: number, private readonly onThrottled: () => void, private readonly now: () => number = Date.now) {
    this.bucket = new TokenBucket(perSecond, burstOf(perSecond), this.now())
  }

  /** Runs `go` for this new connection now or, above the rate, when its turn comes. */
  admit (socket: Socket, go: () => void): void {
    if (this.held.length === 0 && this.bucket.waitFor(1, this.now()) === 0) {
      this.bucket.take(1, this.now())
      go()
      return
    }
    // not paused: a fresh socket with no reader buffers what arrives (up to its high-water mark, then
    // TCP pushes back) and stays in the state every next step (PROXY header, TLS, aedes) expects
    this.held.push({ socket, go })
    this.throttled++
    this.onThrottled()
    this.schedule()
  }

  /** Connections waiting for their turn now. */
  get waiting (): number { return this.held.length }

  /** Stops the gate; connections still waiting are left to the listener to close. */
  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.held.length = 0
  }

  private schedule (): void {
    if (this.timer !== undefined || this.held.length === 0) return
    const wait = this.bucket.waitFor(1, this.now())
    this.timer = setTimeout(() => { this.timer = undefined; this.release() }, Math.max(1, wait))
  }

  private release (): void {
    while (this.held.length > 0 && this.bucket.waitFor(1, this.now()) === 0) {
      const next = this.held.shift() as Held
      if (next.socket.destroyed) continue
      this.bucket.take(1, this.now())
      next.go()
    }
    this.schedule()
  }
}
