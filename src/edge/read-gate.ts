import type { Client } from 'aedes'
import { pauseReading, refreshKeepalive, resumeReading } from './aedes-internals.js'

/** Why a client's socket is not read: its rate, the node's overload, Kafka's pending bound. */
export type PauseReason = 'rate' | 'overload' | 'room'

/** How often the keep-alive timers of paused clients are refreshed. */
const KEEPALIVE_REFRESH_MS = 5000

interface Gate {
  client: Client
  reasons: Set<PauseReason>
  /** ends the rate pause */
  timer: NodeJS.Timeout | undefined
}

/**
 * Stops and restarts reading clients' sockets, for any number of reasons at once: a client is read
 * again only when the last reason is gone. While a client is paused the node reads none of its
 * packets, PINGREQ included, so its keep-alive timer is refreshed: the silence is the node's doing.
 */
export class ReadGate {
  private readonly gates = new Map<Client, Gate>()
  private keepalive: NodeJS.Timeout | undefined

  /** Whether the client is paused for `reason`. */
  has (client: Client, reason: PauseReason): boolean {
    return this.gates.get(client)?.reasons.has(reason) ?? false
  }

  /** Pauses the client for `reason`; true when it was not paused for that reason before. */
  pause (client: Client, reason: PauseReason): boolean {
    let gate = this.gates.get(client)
    if (gate === undefined) {
      gate = { client, reasons: new Set(), timer: undefined }
      this.gates.set(client, gate)
      pauseReading(client)
      this.keepaliveOn()
    }
    if (gate.reasons.has(reason)) return false
    gate.reasons.add(reason)
    return true
  }

  /** Pauses the client for `rate` for `ms` from now (replacing a shorter rate pause); true when newly paused. */
  pauseFor (client: Client, ms: number): boolean {
    const fresh = this.pause(client, 'rate')
    const gate = this.gates.get(client) as Gate
    clearTimeout(gate.timer)
    gate.timer = setTimeout(() => { gate.timer = undefined; this.resume(client, 'rate') }, ms)
    return fresh
  }

  /** Ends the pause for `reason`; the client is read again when no reason is left. */
  resume (client: Client, reason: PauseReason): void {
    const gate = this.gates.get(client)
    if (gate === undefined || !gate.reasons.delete(reason)) return
    if (reason === 'rate') { clearTimeout(gate.timer); gate.timer = undefined }
    if (gate.reasons.size > 0) return
    this.gates.delete(client)
    if (this.gates.size === 0) this.keepaliveOff()
    refreshKeepalive(client)
    resumeReading(client)
  }

  /** Ends `reason` for every client paused for it (the node recovered). */
  resumeAll (reason: PauseReason): void {
    for (const gate of [...this.gates.values()]) this.resume(gate.client, reason)
  }

  /** The connection is gone: forget it. */
  forget (client: Client): void {
    const gate = this.gates.get(client)
    if (gate === undefined) return
    clearTimeout(gate.timer)
    this.gates.delete(client)
    if (this.gates.size === 0) this.keepaliveOff()
  }

  /** Clients paused now (for /ready and tests). */
  get size (): number { return this.gates.size }

  close (): void {
    for (const gate of this.gates.values()) clearTimeout(gate.timer)
    this.gates.clear()
    this.keepaliveOff()
  }

  private keepaliveOn (): void {
    if (this.keepalive !== undefined) return
    this.keepalive = setInterval(() => { for (const c of this.gates.keys()) refreshKeepalive(c) }, KEEPALIVE_REFRESH_MS)
    this.keepalive.unref()
  }

  private keepaliveOff (): void {
    clearInterval(this.keepalive)
    this.keepalive = undefined
  }
}
