/**
 * Cross-node delivery latency at a steady rate: one publisher on edge A, one subscriber on edge B,
 * a send timestamp in every payload, percentiles of (receive time - send time).
 *
 *   node --import tsx bench/cross-node-latency.ts [--rate 1000] [--seconds 20] [--qos 1] [--brokers host:port]
 *
 * Without --brokers it starts a local single-node Kafka in a temporary folder; it always starts two
 * fresh edges (the built CLI, so run `npm run build` first) and stops everything at the end.
 * Prints one JSON line.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mqtt from 'mqtt'
import { LocalKafka } from '../src/kafka/local/index.js'
import { createLogger } from '../src/observability/logger.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    qos: { type: 'string', default: '1' },
    brokers: { type: 'string' }
  }
})
const rate = Number(values.rate)
const seconds = Number(values.seconds)
const qos = Number(values.qos) as 0 | 1 | 2

let kafka: LocalKafka | undefined
let dir: string | undefined
let brokers = values.brokers?.split(',')
if (brokers === undefined) {
  dir = await mkdtemp(join(tmpdir(), 'wharf-bench-kafka-'))
  kafka = await LocalKafka.start({ dir, nodes: 1, port: 0, logger: createLogger({ level: 'warn' }) })
  brokers = kafka.brokers
}
const topics = uniqueTopics('latency')
const [a, b] = await Promise.all([
  WharfProcess.start({ brokers, topics, nodeName: 'bench-a' }),
  WharfProcess.start({ brokers, topics, nodeName: 'bench-b' })
])
try {
  const sub = await mqtt.connectAsync(b.url, { protocolVersion: 4 })
  const pub = await mqtt.connectAsync(a.url, { protocolVersion: 4 })
  const latencies: number[] = []
  let warmup = true
  sub.on('message', (_t, payload) => {
    if (warmup) return
    latencies.push(Number(process.hrtime.bigint() - payload.readBigUInt64BE(0)) / 1e6)
  })
  await sub.subscribeAsync('bench/latency', { qos })
  const send = (): void => {
    const p = Buffer.alloc(16)
    p.writeBigUInt64BE(process.hrtime.bigint(), 0)
    pub.publish('bench/latency', p, { qos })
  }
  // a second of warm-up, then the measured run, paced in 10 ms ticks
  const run = async (ms: number): Promise<number> => {
    let sent = 0
    const t0 = Date.now()
    while (Date.now() - t0 < ms) {
      const due = Math.floor((Date.now() - t0) * rate / 1000)
      while (sent < due) { send(); sent++ }
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    return sent
  }
  await run(1000)
  await new Promise(resolve => setTimeout(resolve, 500))
  warmup = false
  const sent = await run(seconds * 1000)
  await new Promise(resolve => setTimeout(resolve, 2000))
  latencies.sort((x, y) => x - y)
  const pct = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN) * 100) / 100
  console.log(JSON.stringify({ rate, seconds, qos, sent, received: latencies.length, p50Ms: pct(0.5), p90Ms: pct(0.9), p99Ms: pct(0.99), p999Ms: pct(0.999), maxMs: pct(1) }))
  await Promise.all([sub.endAsync(), pub.endAsync()])
} finally {
  await Promise.all([a.stop(), b.stop()])
  await kafka?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
}
