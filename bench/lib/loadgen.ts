/**
 * The load generator: MQTT connections (mqtt.js) from this process, publishers and subscribers,
 * a send timestamp in every payload, latency into an HDR histogram.
 *
 * Payload layout (at least 16 bytes): [0, 8) send time as float64 ms (performance.timeOrigin +
 * performance.now(), comparable across processes of one machine), [8, 12) publisher index,
 * [12, 16) sequence number, then padding up to the payload size.
 *
 * Two pacing modes:
 * - max rate (closed loop): every publisher keeps at most `window` messages sent but not yet
 *   delivered to all of its subscribers, and sends the next one as deliveries come back. This finds
 *   what a broker sustains end to end without flooding socket buffers; latency then includes the
 *   queueing of `window` messages.
 * - fixed rate: `rate` messages/s in total, spread over the publishers, paced in 5 ms ticks.
 */
import { randomUUID } from 'node:crypto'
import hdr from 'hdr-histogram-js'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'

export type ScenarioKind = 'p2p' | 'fan-in' | 'fan-out'

/** Each kind's clients and window, unless a run says otherwise. */
export const SCENARIO_SHAPES: Record<ScenarioKind, { publishers: number; subscribers: number; window: number }> = {
  p2p: { publishers: 10, subscribers: 10, window: 20 },
  'fan-in': { publishers: 20, subscribers: 1, window: 10 },
  'fan-out': { publishers: 1, subscribers: 20, window: 20 }
}

export interface LoadSpec {
  kind: ScenarioKind
  publishers: number
  subscribers: number
  qos: 0 | 1
  payloadBytes: number
  /** total publish rate, msg/s; undefined = max rate (closed loop) */
  rate?: number
  /** closed loop: messages in flight per publisher */
  window: number
  warmupS: number
  durationS: number
  /** the MQTT version every client of the scenario speaks (default 4 = 3.1.1) */
  protocolVersion?: 4 | 5
}

export interface LoadResult {
  /** messages published during the measured window */
  published: number
  /** deliveries received during the measured window */
  delivered: number
  deliveredPerSec: number
  publishedPerSec: number
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number }
  /** QoS 1: publish -> PUBACK at the publisher (for Wharf: the Kafka write, acks=all) */
  ackLatencyMs?: { p50: number; p99: number; p999: number }
  /** deliveries expected for messages of the measured window that never arrived (after a 3 s drain) */
  lost: number
  /** times a publisher's window was reset because nothing came back for 2 s */
  stalls: number
  /** deliveries during the measured window, per subscriber (index = subscriber number) */
  deliveredPerSubscriber: number[]
}

/** Optional shape changes for scenarios the three kinds do not cover (e.g. shared subscriptions). */
export interface LoadOptions {
  /** publisher i connects to pubUrls[i % length] instead of `pubUrl` */
  pubUrls?: string[]
  /** subscriber s connects to subUrls[s % length] instead of `subUrl` */
  subUrls?: string[]
  /** the topic of publisher i's message `seq` (default: by kind); `base` is unique per run */
  topicOf?: (base: string, i: number, seq: number) => string
  /** what subscriber s subscribes to (default: by kind) */
  filterOf?: (base: string, s: number) => string | string[]
  /** awaited once every subscriber is subscribed and every publisher connected, before the first message */
  ready?: (base: string) => Promise<void>
  /** more mqtt.js options for every connection (e.g. `ca` for mqtts:// and wss://) */
  clientOptions?: IClientOptions
  /** called when the measured window starts and ends (e.g. to read a process' CPU time over it) */
  window?: { start: () => void, end: () => void }
}

const now = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function connect (url: string, id: string, extra: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, clean: true, clientId: id, reconnectPeriod: 0, keepalive: 60, connectTimeout: 30000, ...extra })
  // mqtt.js leaves Nagle on: a QoS 0 publisher gets nothing back to piggyback TCP ACKs on, so its
  // writes stall on the broker's 40 ms delayed ACK (measured: ~88 ms p50 at 1 KiB on every broker).
  // The load generator turns Nagle off on its own sockets; the brokers keep their own defaults.
  const stream = c.stream as unknown as { setNoDelay?: (on: boolean) => void }
  stream.setNoDelay?.(true)
  return c
}

/**
 * Run one scenario: publishers connect to `pubUrl`, subscribers to `subUrl` (the same broker,
 * or another edge of the same cluster).
 */
export async function runLoad (spec: LoadSpec, pubUrl: string, subUrl: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const run = randomUUID().slice(0, 8)
  const base = `bench/${run}`
  const topicOf = (i: number): string => spec.kind === 'fan-out' ? `${base}/out` : `${base}/${i}`
  const topicFor = (i: number, seq: number): string => opts.topicOf === undefined ? topicOf(i) : opts.topicOf(base, i, seq)
  // how many subscribers receive each message of a publisher
  const fanout = spec.kind === 'fan-out' ? spec.subscribers : 1
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 })
  const ackHist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 })

  const subs: MqttClient[] = []
  const pubs: MqttClient[] = []
  const sent = new Array<number>(spec.publishers).fill(0)
  const deliveries = new Array<number>(spec.publishers).fill(0)
  /** deliveries written off by stall resets */
  const writtenOff = new Array<number>(spec.publishers).fill(0)
  const lastProgress = new Array<number>(spec.publishers).fill(0)
  let measuring = false
  let stopped = false
  let measuredPublished = 0
  let measuredDelivered = 0
  let stalls = 0
  /** first sequence number of the measured window per publisher, and where it ended */
  const windowStart = new Array<number>(spec.publishers).fill(Number.MAX_SAFE_INTEGER)
  const windowEnd = new Array<number>(spec.publishers).fill(-1)
  const windowDeliveries = new Array<number>(spec.publishers).fill(0)
  const perSubscriber = new Array<number>(spec.subscribers).fill(0)
  const payload = (i: number, seq: number): Buffer => {
    const p = Buffer.alloc(Math.max(16, spec.payloadBytes))
    p.writeDoubleBE(now(), 0)
    p.writeUInt32BE(i, 8)
    p.writeUInt32BE(seq, 12)
    return p
  }

  const outstanding = (i: number): number => (sent[i] as number) * fanout - (deliveries[i] as number) - (writtenOff[i] as number)
  const send = (i: number): void => {
    const seq = sent[i] as number
    sent[i] = seq + 1
    if (measuring) {
      measuredPublished++
      if (seq < (windowStart[i] as number)) windowStart[i] = seq
      windowEnd[i] = seq
    }
    const t = now()
    const measured = measuring && spec.qos === 1
    ;(pubs[i] as MqttClient).publish(topicFor(i, seq), payload(i, seq), { qos: spec.qos }, measured
      ? (err) => { if (err === undefined || err === null) ackHist.recordValue(Math.max(1, Math.round((now() - t) * 1000))) }
      : undefined)
  }
  const topUp = (i: number): void => {
    if (stopped || spec.rate !== undefined) return
    while (outstanding(i) < spec.window * fanout) send(i)
  }

  try {
    const clientOptions: IClientOptions = { protocolVersion: spec.protocolVersion ?? 4, ...opts.clientOptions }
    for (let s = 0; s < spec.subscribers; s++) {
      const c = await connect(opts.subUrls === undefined ? subUrl : opts.subUrls[s % opts.subUrls.length] as string, `bench-${run}-s${s}`, clientOptions)
      subs.push(c)
      c.on('message', (_topic, p: Buffer) => {
        const t = now()
        const i = p.readUInt32BE(8)
        const seq = p.readUInt32BE(12)
        deliveries[i] = (deliveries[i] as number) + 1
        lastProgress[i] = t
        if (seq >= (windowStart[i] as number) && (windowEnd[i] as number) >= 0 && seq <= (windowEnd[i] as number)) {
          windowDeliveries[i] = (windowDeliveries[i] as number) + 1
        }
        if (measuring) {
          measuredDelivered++
          perSubscriber[s] = (perSubscriber[s] as number) + 1
          hist.recordValue(Math.max(1, Math.round((t - p.readDoubleBE(0)) * 1000)))
        }
        topUp(i)
      })
      const filter = opts.filterOf !== undefined ? opts.filterOf(base, s) : spec.kind === 'p2p' ? topicOf(s) : spec.kind === 'fan-in' ? `${base}/+` : topicOf(0)
      await c.subscribeAsync(filter, { qos: spec.qos })
    }
    for (let i = 0; i < spec.publishers; i++) pubs.push(await connect(opts.pubUrls === undefined ? pubUrl : opts.pubUrls[i % opts.pubUrls.length] as string, `bench-${run}-p${i}`, clientOptions))
    await opts.ready?.(base)
    // cross-node: let the subscriptions settle before the first message (Wharf delivers from the log
    // head each edge saw, so there is nothing to wait for, but give slow brokers a moment)
    await sleep(200)

    const t0 = now()
    lastProgress.fill(t0)
    const rateTimer = spec.rate === undefined
      ? undefined
      : setInterval(() => {
        if (stopped) return
        const due = Math.floor((now() - t0) * (spec.rate as number) / 1000 / spec.publishers)
        for (let i = 0; i < spec.publishers; i++) {
          // never more than 10 s of traffic waiting, whatever the broker does
          while ((sent[i] as number) < due && outstanding(i) < (spec.rate as number) * 10) send(i)
        }
      }, 5)
    const stallTimer = setInterval(() => {
      const t = now()
      for (let i = 0; i < spec.publishers; i++) {
        if (outstanding(i) > 0 && t - (lastProgress[i] as number) > 2000) {
          stalls++
          writtenOff[i] = (writtenOff[i] as number) + outstanding(i)
          lastProgress[i] = t
          topUp(i)
        }
      }
    }, 500)
    for (let i = 0; i < spec.publishers; i++) topUp(i)

    await sleep(spec.warmupS * 1000)
    measuring = true
    opts.window?.start()
    const m0 = now()
    await sleep(spec.durationS * 1000)
    measuring = false
    opts.window?.end()
    const elapsedS = (now() - m0) / 1000
    stopped = true
    if (rateTimer !== undefined) clearInterval(rateTimer)
    clearInterval(stallTimer)
    // drain: count what still arrives for the measured window
    const expected = (): number => windowEnd.reduce((sum, end, i) => sum + (end < 0 ? 0 : (end - (windowStart[i] as number) + 1) * fanout), 0)
    const got = (): number => windowDeliveries.reduce((a, b) => a + b, 0)
    const drainUntil = now() + 3000
    while (got() < expected() && now() < drainUntil) await sleep(50)

    const pct = (q: number): number => Math.round(hist.getValueAtPercentile(q) / 10) / 100
    const ackPct = (q: number): number => Math.round(ackHist.getValueAtPercentile(q) / 10) / 100
    return {
      published: measuredPublished,
      delivered: measuredDelivered,
      publishedPerSec: Math.round(measuredPublished / elapsedS),
      deliveredPerSec: Math.round(measuredDelivered / elapsedS),
      latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: Math.round(hist.maxValue / 10) / 100 },
      ...(spec.qos === 1 ? { ackLatencyMs: { p50: ackPct(50), p99: ackPct(99), p999: ackPct(99.9) } } : {}),
      lost: Math.max(0, expected() - got()),
      stalls,
      deliveredPerSubscriber: perSubscriber
    }
  } finally {
    hist.destroy()
    ackHist.destroy()
    await Promise.all([...pubs, ...subs].map(c => c.endAsync(true).catch(() => undefined)))
  }
}
