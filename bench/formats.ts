/**
 * Throughput per payload format through one Wharf edge (issue 7): the same p2p load (QoS 1, 16-byte
 * payloads, 10 publishers -> 10 subscribers, 20 in flight each) with every MQTT topic mapped by one
 * rule to a Kafka topic of the format under test, so each message is encoded on the way into Kafka
 * and decoded on the way out. Prints msg/s delivered per format, and first the CPU each format's
 * encode and decode cost per message in this process (no Kafka; steadier on a busy machine).
 *
 *   npm run bench:formats [-- --formats raw,json,avro,avro-registry] [--seconds 10] [--warmup 3]
 *                         [--rounds 1] [--brokers host:port] [--codec-only]
 *
 * `avro-registry` is avro in the Confluent wire format against the test suite's schema registry
 * stand-in (test/support/schema-registry-stand-in.ts), which is only asked at start.
 * Without --brokers a single-node local Kafka is started in a temporary folder and stopped at the end.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { LocalKafka } from '../src/local-kafka/index.js'
import { createLogger } from '../src/observability/logger.js'
import { SchemaRegistryStandIn } from '../test/support/schema-registry-stand-in.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { codecCost, type CodecCost } from './lib/codec-cost.js'
import { runLoad, type LoadSpec } from './lib/loadgen.js'
import { ProcSampler } from './lib/proc-stats.js'

const FORMATS = ['raw', 'json', 'avro', 'avro-registry'] as const
type BenchFormat = typeof FORMATS[number]

const { values } = parseArgs({
  options: {
    formats: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string' },
    brokers: { type: 'string' },
    'codec-only': { type: 'boolean', default: false }
  }
})
const log = (line: string): void => { process.stderr.write(line + '\n') }
const formats = (values.formats?.split(',') ?? [...FORMATS]) as BenchFormat[]
for (const f of formats) if (!FORMATS.includes(f)) { log(`unknown format ${f}: ${FORMATS.join(', ')}`); process.exit(2) }
const spec: LoadSpec = { kind: 'p2p', qos: 1, payloadBytes: 16, publishers: 10, subscribers: 10, window: 20, warmupS: Number(values.warmup ?? 3), durationS: Number(values.seconds ?? 10) }
const rounds = Number(values.rounds ?? 1)

interface Row { format: BenchFormat; round: number; deliveredPerSec: number; publishedPerSec: number; p50: number; p99: number; lost: number; edgeCpuPct: number }

const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-formats-'))
let kafka: LocalKafka | undefined
const registry = await SchemaRegistryStandIn.start()
const rows: Row[] = []
const costs = new Map<BenchFormat, CodecCost>()
try {
  for (const format of formats) {
    const cost = await codecCost(format === 'avro-registry' ? 'avro' : format, format === 'avro-registry' ? registry.url : undefined)
    costs.set(format, cost)
    log(`  ${format}: encode ${cost.encodeUs} µs, decode ${cost.decodeUs} µs per message, value ${cost.valueBytes} B`)
  }
  let brokers = values.brokers?.split(',')
  const loadFormats = values['codec-only'] ? [] : formats
  if (loadFormats.length > 0 && brokers === undefined) {
    log('starting a local single-node Kafka')
    kafka = await LocalKafka.start({ dir: join(dir, 'kafka'), nodes: 1, port: 0, logger: createLogger({ level: 'warn' }) })
    brokers = kafka.brokers
  }
  const edge = async (format: BenchFormat): Promise<WharfProcess> => {
    const topics = uniqueTopics(`bench-${format}`)
    const file = join(dir, `${format}.yaml`)
    const avro = format.startsWith('avro')
    await writeFile(file, JSON.stringify({
      mapping: {
        rules: [{ filter: 'bench/#', kafka_topic: `bench.${format}.${topics.messages.slice(-8)}`, format: avro ? 'avro' : format }],
        ...(format === 'avro-registry' ? { schema_registry: { url: registry.url } } : {})
      }
    }))
    return await WharfProcess.start({ brokers: brokers ?? [], topics, nodeName: `bench-${format}`, keepLines: 50, args: ['--config', file] })
  }
  if (loadFormats.length > 0) {
    // a fresh Kafka JVM is slow until its JIT has warmed up: 10 s of load first, not measured
    log('== warming up Kafka (10 s, raw, not measured)')
    const warm = await edge('raw')
    try {
      await runLoad({ ...spec, warmupS: 2, durationS: 8 }, warm.url, warm.url)
    } finally {
      await warm.stop()
    }
  }
  for (let round = 1; round <= rounds; round++) {
    for (const format of loadFormats) {
      const wharf = await edge(format)
      try {
        const sampler = new ProcSampler({ edge: wharf.pid })
        const r = await runLoad(spec, wharf.url, wharf.url)
        const cpu = sampler.stop().edge?.cpuPct ?? 0
        if (wharf.proc.exitCode !== null || wharf.proc.signalCode !== null) {
          log(`  the ${format} edge ended during the run (${wharf.proc.exitCode ?? wharf.proc.signalCode}); its last lines:\n${wharf.lines.slice(-10).join('\n')}`)
        }
        rows.push({ format, round, deliveredPerSec: r.deliveredPerSec, publishedPerSec: r.publishedPerSec, p50: r.latencyMs.p50, p99: r.latencyMs.p99, lost: r.lost, edgeCpuPct: cpu })
        log(`  ${format} (round ${round}): ${r.deliveredPerSec} msg/s delivered, ${r.publishedPerSec} msg/s published, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, lost ${r.lost}, edge CPU ${cpu}%`)
      } finally {
        await wharf.stop()
      }
    }
  }
} finally {
  await registry.close()
  await kafka?.stop()
  await rm(dir, { recursive: true, force: true })
}

console.log('\n| format | encode µs/msg | decode µs/msg | value bytes (16 B payload) |')
console.log('|---|---|---|---|')
for (const [format, c] of costs) console.log(`| ${format} | ${c.encodeUs} | ${c.decodeUs} | ${c.valueBytes} |`)
if (rows.length > 0) {
  console.log(`\nformats: p2p QoS 1, 16 B, ${spec.publishers} publishers -> ${spec.subscribers} subscribers, ${spec.window} in flight each, ${spec.durationS} s, one edge\n`)
  console.log('| format | round | delivered msg/s | published msg/s | latency p50 ms | p99 ms | lost | edge CPU % |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.format} | ${r.round} | ${r.deliveredPerSec} | ${r.publishedPerSec} | ${r.p50} | ${r.p99} | ${r.lost} | ${r.edgeCpuPct} |`)
}
