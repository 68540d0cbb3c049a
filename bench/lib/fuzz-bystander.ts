/**
 * The client a fuzzing run must not disturb: mqtt.js with a persistent session, subscribed at QoS 1
 * to a topic of its own, publishing a numbered QoS 1 message to it every few hundred ms and counting
 * each round trip. Any disconnect, any reconnect whose session is gone, and any message that never
 * comes back is counted.
 */
import mqtt, { type MqttClient } from 'mqtt'

export interface BystanderReport {
  sent: number
  /** distinct messages that came back */
  ok: number
  missed: number
  duplicates: number
  /** times the connection closed while the run was on */
  disconnects: number
  /** reconnects that found no session (sessionPresent = 0) */
  sessionsLost: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export class Bystander {
  private seq = 0
  private readonly sentAt = new Map<number, number>()
  private readonly rttMs: number[] = []
  private duplicates = 0
  private disconnects = 0
  private sessionsLost = 0
  private stopping = false
  private timer: NodeJS.Timeout | undefined

  private constructor (private readonly client: MqttClient, private readonly topic: string) {
    client.on('message', (_topic, payload) => {
      const n = Number(payload.toString())
      const t0 = this.sentAt.get(n)
      if (t0 === undefined) { this.duplicates++; return }
      this.sentAt.delete(n)
      this.rttMs.push(performance.now() - t0)
    })
    client.on('close', () => { if (!this.stopping) this.disconnects++ })
    client.on('connect', connack => { if (!connack.sessionPresent) this.sessionsLost++ })
  }

  /** Connect (a fresh persistent session), subscribe, then publish every `everyMs`. */
  static async start (url: string, clientId: string, everyMs: number): Promise<Bystander> {
    const topic = `fz-bystander/${clientId}`
    const client = mqtt.connect(url, { clientId, clean: false, protocolVersion: 4, keepalive: 30, reconnectPeriod: 1000, connectTimeout: 10000 })
    await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject) })
    await client.subscribeAsync(topic, { qos: 1 })
    const b = new Bystander(client, topic)
    b.timer = setInterval(() => b.publish(), everyMs)
    return b
  }

  private publish (): void {
    const n = ++this.seq
    this.sentAt.set(n, performance.now())
    this.client.publish(this.topic, String(n), { qos: 1 }, () => undefined)
  }

  get sent (): number { return this.seq }
  get received (): number { return this.rttMs.length }

  /** Stop publishing, wait up to `drainMs` for what is still on its way, disconnect, report. */
  async stop (drainMs: number): Promise<BystanderReport> {
    clearInterval(this.timer)
    const deadline = Date.now() + drainMs
    while (this.sentAt.size > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
    this.stopping = true
    await this.client.endAsync(true)
    const sorted = [...this.rttMs].sort((a, b) => a - b)
    const at = (q: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)
    return {
      sent: this.seq,
      ok: this.rttMs.length,
      missed: this.sentAt.size,
      duplicates: this.duplicates,
      disconnects: this.disconnects,
      sessionsLost: this.sessionsLost,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: Math.round(sorted[sorted.length - 1] ?? 0)
    }
  }
}
