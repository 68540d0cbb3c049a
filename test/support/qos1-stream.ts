import type { MqttClient } from 'mqtt'

/**
 * A QoS 1 publisher that keeps up to `window` messages in flight on one topic and remembers which
 * ones were PUBACKed. It stops on `stop()` or when its connection goes; payloads are `<id>:<seq>`.
 */
export class Qos1Stream {
  readonly acked = new Set<string>()
  sent = 0
  private running = true
  private inflight = 0
  readonly done: Promise<void>

  constructor (private readonly client: MqttClient, readonly id: string, private readonly topic: string, private readonly window = 20, private readonly maxMessages = Number.MAX_SAFE_INTEGER) {
    this.done = new Promise(resolve => {
      const finish = (): void => { this.running = false; if (this.inflight === 0) resolve() }
      client.on('close', () => { this.running = false; resolve() })
      const pump = (): void => {
        while (this.running && this.inflight < this.window && this.sent < this.maxMessages) {
          const payload = `${this.id}:${this.sent++}`
          this.inflight++
          client.publish(this.topic, payload, { qos: 1 }, err => {
            this.inflight--
            if (err === undefined || err === null) this.acked.add(payload)
            if (!this.running || this.sent >= this.maxMessages) finish()
            else pump()
          })
        }
      }
      pump()
    })
  }

  stop (): Promise<void> {
    this.running = false
    if (this.inflight === 0) return Promise.resolve()
    return this.done
  }
}

/** How a receiver's messages compare with what was acknowledged to publishers. */
export function lossReport (acked: Iterable<string>, received: string[]): { acked: number; received: number; lost: string[]; duplicates: number } {
  const seen = new Set<string>()
  let duplicates = 0
  for (const r of received) {
    if (seen.has(r)) duplicates++
    else seen.add(r)
  }
  const lost: string[] = []
  let count = 0
  for (const a of acked) {
    count++
    if (!seen.has(a)) lost.push(a)
  }
  return { acked: count, received: received.length, lost, duplicates }
}
