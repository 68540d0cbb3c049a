import type { Aedes, Client } from 'aedes'
import { expireAwaitingRel } from './aedes-internals.js'

/**
 * `mqtt.await_rel_timeout`: an inbound QoS 2 PUBLISH whose PUBREL does not come within the timeout
 * is forgotten (its slot of `mqtt.max_awaiting_rel` is free again). aedes keeps them until PUBREL
 * or the end of the connection, so a client that never sends PUBREL would stay at its limit.
 * Checked every few seconds while any such PUBLISH waits; nothing runs otherwise.
 */
export class AwaitRelExpiry {
  /** per client: message id -> when its PUBLISH arrived, and whether aedes was seen holding it */
  private readonly waiting = new Map<Client, Map<number, { at: number; held: boolean }>>()
  private timer: NodeJS.Timeout | undefined
  private readonly sweepMs: number

  /**
   * `held`: the ids of a client's QoS 2 PUBLISHes awaiting PUBREL (the inbound window's,
   * `InboundWindow.awaitingRel`); `expired` is told of each one forgotten.
   */
  constructor (
    private readonly aedes: () => Aedes,
    private readonly timeoutMs: number,
    private readonly held: (client: Client) => ReadonlySet<number>,
    private readonly expired: (client: Client, messageId: number) => void
  ) {
    this.sweepMs = Math.max(100, Math.min(5000, Math.floor(timeoutMs / 2)))
  }

  /** A QoS 2 PUBLISH of `client` arrived (a retransmission keeps its first time). */
  arrived (client: Client, messageId: number, now = Date.now()): void {
    let ids = this.waiting.get(client)
    if (ids === undefined) {
      ids = new Map()
      this.waiting.set(client, ids)
    }
    if (!ids.has(messageId)) ids.set(messageId, { at: now, held: false })
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), this.sweepMs)
      this.timer.unref()
    }
  }

  forget (client: Client): void {
    this.waiting.delete(client)
    this.stopWhenIdle()
  }

  /**
   * Expires what waited too long; drops what aedes has released (PUBREL came) and what it never
   * held (the PUBLISH is noted before aedes stores it, which waits for Kafka, or failed).
   */
  sweep (now = Date.now()): void {
    for (const [client, ids] of this.waiting) {
      if (client.closed) { this.waiting.delete(client); continue }
      const held = this.held(client)
      for (const [id, w] of ids) {
        const waited = now - w.at
        if (!held.has(id)) {
          if (w.held || waited >= this.timeoutMs) ids.delete(id)
          continue
        }
        w.held = true
        if (waited < this.timeoutMs) continue
        ids.delete(id)
        void expireAwaitingRel(this.aedes(), client, id)
        this.expired(client, id)
      }
      if (ids.size === 0) this.waiting.delete(client)
    }
    this.stopWhenIdle()
  }

  close (): void {
    this.waiting.clear()
    this.stopWhenIdle()
  }

  private stopWhenIdle (): void {
    if (this.waiting.size > 0 || this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
  }
}
