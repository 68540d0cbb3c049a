/**
 * How many Kafka requests the edge makes per delivered message, per scenario: a load through one
 * edge, with its /metrics read before and after (Produce requests from the produce round-trip
 * histogram, Fetch requests and records from the fetch counters of the messages topic).
 *
 *   node --import tsx bench/kafka-requests.ts [--brokers host:port] [--scenarios p2p-0,p2p-1,fan-in-1,fan-out-1] [--seconds 6]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { LocalKafka } from '../src/local-kafka/index.js'
import { createLogger } from '../src/observability/logger.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { runLoad, type ScenarioKind } from './lib/loadgen.js'

const { values } = parseArgs({ options: { brokers: { type: 'string' }, scenarios: { type: 'string' }, seconds: { type: 'string' }, env: { type: 'string', multiple: true } } })

const SHAPES: Record<ScenarioKind, { publishers: number, subscribers: number, window: number }> = {
  p2p: { publishers: 10, subscribers: 10, window: 20 },
  'fan-in': { publishers: 20, subscribers: 1, window: 10 },
  'fan-out': { publishers: 1, subscribers: 20, window: 20 }
}

async function metrics (port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

function sum (m: Map<string, number>, prefix: string, contains = ''): number {
  let n = 0
  for (const [k, v] of m) if (k.startsWith(prefix) && k.includes(contains)) n += v
  return n
}

let kafka: LocalKafka | undefined
let dir: string | undefined
let brokers = values.brokers
if (brokers === undefined) {
  dir = await mkdtemp(join(tmpdir(), 'wharf-kreq-'))
  kafka = await LocalKafka.start({ dir, nodes: 1, port: 0, gc: 'g1', logger: createLogger({ level: 'warn' }) })
  brokers = kafka.brokers.join(',')
}
const env = Object.fromEntries((values.env ?? []).map(e => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
try {
  for (const s of (values.scenarios ?? 'p2p-0,p2p-1,fan-in-1,fan-out-1').split(',')) {
    const kind = s.slice(0, s.lastIndexOf('-')) as ScenarioKind
    const qos = Number(s.slice(s.lastIndexOf('-') + 1)) as 0 | 1
    const edge = await WharfProcess.start({ brokers: brokers.split(','), topics: uniqueTopics('kreq'), nodeName: 'kreq', env, keepLines: 20 })
    try {
      const seconds = Number(values.seconds ?? 6)
      let before: Map<string, number> | undefined
      const timer = setTimeout(() => { void metrics(edge.httpPort).then(m => { before = m }) }, 2000)
      const r = await runLoad({ kind, ...SHAPES[kind], qos, payloadBytes: 16, warmupS: 2, durationS: seconds }, edge.url, edge.url)
      clearTimeout(timer)
      const after = await metrics(edge.httpPort)
      const b = before ?? new Map()
      const d = (prefix: string, contains = ''): number => sum(after, prefix, contains) - sum(b, prefix, contains)
      const produce = d('wharf_kafka_produce_request_seconds_count')
      const fetches = d('wharf_kafka_fetch_requests_total', 'mqtt.messages')
      const records = d('wharf_kafka_fetched_records_total', 'mqtt.messages')
      const others = d('wharf_kafka_fetch_requests_total') - fetches
      const delivered = r.delivered
      console.log(`${s}: ${Math.round(r.deliveredPerSec)} msg/s; per 1000 deliveries: produce requests ${(produce / delivered * 1000).toFixed(1)}, fetch requests ${(fetches / delivered * 1000).toFixed(1)}, fetches of other topics ${(others / delivered * 1000).toFixed(1)}, records fetched ${(records / delivered * 1000).toFixed(0)}; records per produce ${(records / Math.max(1, produce)).toFixed(1)}`)
    } finally {
      await edge.stop()
    }
  }
} finally {
  await kafka?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
}
