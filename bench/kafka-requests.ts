/**
 * How many Kafka requests the edge makes per delivered message, per scenario: a load through one
 * edge, with its /metrics read before and after (Produce requests from the produce round-trip
 * histogram, Fetch requests and records from the fetch counters of the messages topic).
 *
 *   node --import tsx bench/kafka-requests.ts [--brokers host:port] [--scenarios p2p-0,p2p-1,fan-in-1,fan-out-1] [--seconds 6]
 */
import { parseArgs } from 'node:util'
import { metric } from '../test/support/slow-subscribers.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { benchKafka } from './lib/bench-kafka.js'
import { envPairs } from './lib/env-pairs.js'
import { runLoad, SCENARIO_SHAPES, type ScenarioKind } from './lib/loadgen.js'

const { values } = parseArgs({ options: { brokers: { type: 'string' }, scenarios: { type: 'string' }, seconds: { type: 'string' }, env: { type: 'string', multiple: true } } })

/** The counters read before and after the measured window. */
async function counters (edge: WharfProcess): Promise<{ produce: number, fetches: number, records: number, allFetches: number }> {
  return {
    produce: await metric(edge, 'wharf_kafka_produce_request_seconds_count'),
    fetches: await metric(edge, 'wharf_kafka_fetch_requests_total', 'mqtt.messages'),
    records: await metric(edge, 'wharf_kafka_fetched_records_total', 'mqtt.messages'),
    allFetches: await metric(edge, 'wharf_kafka_fetch_requests_total')
  }
}

const kafka = await benchKafka(values.brokers, undefined, 'g1')
const env = envPairs(values.env)
try {
  for (const s of (values.scenarios ?? 'p2p-0,p2p-1,fan-in-1,fan-out-1').split(',')) {
    const kind = s.slice(0, s.lastIndexOf('-')) as ScenarioKind
    const qos = Number(s.slice(s.lastIndexOf('-') + 1)) as 0 | 1
    const edge = await WharfProcess.start({ brokers: kafka.brokers, topics: uniqueTopics('kreq'), nodeName: 'kreq', env, keepLines: 20 })
    try {
      const seconds = Number(values.seconds ?? 6)
      let before = { produce: 0, fetches: 0, records: 0, allFetches: 0 }
      const timer = setTimeout(() => { void counters(edge).then(c => { before = c }) }, 2000)
      const r = await runLoad({ kind, ...SCENARIO_SHAPES[kind], qos, payloadBytes: 16, warmupS: 2, durationS: seconds }, edge.url, edge.url)
      clearTimeout(timer)
      const after = await counters(edge)
      const produce = after.produce - before.produce
      const fetches = after.fetches - before.fetches
      const records = after.records - before.records
      const others = after.allFetches - before.allFetches - fetches
      const delivered = r.delivered
      console.log(`${s}: ${Math.round(r.deliveredPerSec)} msg/s; per 1000 deliveries: produce requests ${(produce / delivered * 1000).toFixed(1)}, fetch requests ${(fetches / delivered * 1000).toFixed(1)}, fetches of other topics ${(others / delivered * 1000).toFixed(1)}, records fetched ${(records / delivered * 1000).toFixed(0)}; records per produce ${(records / Math.max(1, produce)).toFixed(1)}`)
    } finally {
      await edge.stop()
    }
  }
} finally {
  await kafka.stop()
}
