/**
 * Two (or more) Wharf builds or settings, measured against each other on one Kafka: each variant in
 * turn, round after round (A, B, A, B, ...), a fresh edge each time, so that the machine's drift
 * over minutes falls on every variant alike. Prints each round's edge and Kafka CPU per delivered
 * message and the delivered rate, then each variant's median. For deciding whether a change to the
 * per-message path pays (`npm run bench` compares with the peers; this compares Wharf with itself).
 *
 *   node --import tsx bench/ab.ts --variant before:/work/before/dist/cli/main.js --variant after:
 *        [--variant 'gc1::--single-threaded-gc'] [--scenario p2p|fan-in|fan-out|latency] [--qos 1] [--size 16]
 *        [--rate MSG_PER_S] [--rounds 3] [--seconds 8] [--kafka-warmup 30] [--brokers host:port] [--env KEY=value ...]
 *
 * `latency` is the runner's latency scenario (one publisher, one subscriber, QoS 1, at `--rate`,
 * default 1000/s); every scenario also reports the delivery latency's p50 and p99.
 *
 * A variant is `label:cli:node flags:settings`: the built CLI to run (empty: this checkout's
 * dist/cli/main.js), node flags separated by spaces, and environment settings of its own separated by
 * commas (`WHARF_KAFKA__PRODUCER__LINGER_MS=0`); all but the label optional.
 */
import { parseArgs } from 'node:util'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { benchKafka } from './lib/bench-kafka.js'
import { envPairs } from './lib/env-pairs.js'
import { runLoad, SCENARIO_SHAPES, type LoadSpec, type ScenarioKind } from './lib/loadgen.js'
import { CpuWindow } from './lib/proc-stats.js'

const { values } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true },
    scenario: { type: 'string' },
    qos: { type: 'string' },
    size: { type: 'string' },
    rate: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'kafka-warmup': { type: 'string' },
    brokers: { type: 'string' },
    env: { type: 'string', multiple: true }
  }
})

interface Variant { label: string; cli: string | undefined; nodeArgs: string[]; env: Record<string, string> }
const variants: Variant[] = (values.variant ?? []).map(v => {
  const [label = '', cli = '', flags = '', settings = ''] = v.split(':')
  return { label, cli: cli === '' ? undefined : cli, nodeArgs: flags.split(' ').filter(f => f !== ''), env: envPairs(settings.split(',').filter(s => s !== '')) }
})
if (variants.length < 2) {
  console.error('give at least two --variant label:cli:flags')
  process.exit(2)
}
const latency = values.scenario === 'latency'
const kind = (latency ? 'p2p' : values.scenario ?? 'p2p') as ScenarioKind
if (!(kind in SCENARIO_SHAPES)) {
  console.error(`unknown --scenario ${kind}: p2p, fan-in, fan-out or latency`)
  process.exit(2)
}
const rate = values.rate === undefined ? (latency ? 1000 : undefined) : Number(values.rate)
const spec: LoadSpec = {
  kind,
  ...(latency ? { publishers: 1, subscribers: 1, window: 1 } : SCENARIO_SHAPES[kind]),
  qos: Number(values.qos ?? 1) as 0 | 1,
  payloadBytes: Number(values.size ?? 16),
  ...(rate === undefined ? {} : { rate }),
  warmupS: 2,
  durationS: Number(values.seconds ?? 8)
}
const rounds = Number(values.rounds ?? 3)
const env = envPairs(values.env)

interface Sample { edgeUs: number; kafkaUs: number; msgPerS: number; p50: number; p99: number }
const samples = new Map<string, Sample[]>(variants.map(v => [v.label, []]))

/** One measured load through a fresh edge of `v`. */
async function measure (v: Variant, brokers: string[], kafkaPid: number | undefined, warmS: number): Promise<Sample> {
  const edge = await WharfProcess.start({ brokers, topics: uniqueTopics(`ab-${v.label}`), nodeName: `ab-${v.label}`, env: { ...env, ...v.env }, keepLines: 20, nodeArgs: v.nodeArgs, ...(v.cli === undefined ? {} : { cli: v.cli }) })
  try {
    if (warmS > 0) await runLoad({ ...spec, warmupS: 0, durationS: warmS }, edge.url, edge.url)
    const pids: Record<string, number> = { edge: edge.pid }
    if (kafkaPid !== undefined) pids.kafka = kafkaPid
    const window = new CpuWindow(pids)
    const load = await runLoad(spec, edge.url, edge.url, { window })
    const us = window.usPer(Math.max(1, load.delivered))
    return { edgeUs: us.edge ?? 0, kafkaUs: us.kafka ?? 0, msgPerS: load.deliveredPerSec, p50: load.latencyMs.p50, p99: load.latencyMs.p99 }
  } finally {
    await edge.stop()
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}

const kafka = await benchKafka(values.brokers, () => console.log('starting a local Kafka'))
try {
  const kafkaPid = kafka.local === undefined ? undefined : (await kafka.local.status())[0]?.pid
  const warm = Number(values['kafka-warmup'] ?? 30)
  if (warm > 0) {
    console.log(`warming Kafka for ${warm} s (not measured)`)
    await measure(variants[0] as Variant, kafka.brokers, kafkaPid, warm)
  }
  console.log(`${latency ? 'latency' : kind} q${spec.qos} ${spec.payloadBytes}B${rate === undefined ? '' : ` @${rate}/s`}, ${spec.durationS} s per round`)
  for (let r = 1; r <= rounds; r++) {
    // the order turns each round, so that neither variant is always the one after the Kafka pause
    const order = r % 2 === 1 ? variants : [...variants].reverse()
    for (const v of order) {
      const s = await measure(v, kafka.brokers, kafkaPid, 3)
      samples.get(v.label)?.push(s)
      console.log(`round ${r} ${v.label.padEnd(12)} edge ${s.edgeUs.toFixed(1).padStart(6)} µs/msg  Kafka ${s.kafkaUs.toFixed(1).padStart(6)} µs/msg  ${String(s.msgPerS).padStart(7)} msg/s  p50 ${s.p50} ms  p99 ${s.p99} ms`)
    }
  }
  console.log('\n| variant | edge µs/msg (median) | each round | Kafka µs/msg | msg/s (median) | p50 ms | p99 ms (median) | p99 each round |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const v of variants) {
    const s = samples.get(v.label) ?? []
    console.log(`| ${v.label} | ${median(s.map(x => x.edgeUs)).toFixed(1)} | ${s.map(x => x.edgeUs.toFixed(1)).join(', ')} | ${median(s.map(x => x.kafkaUs)).toFixed(1)} | ${Math.round(median(s.map(x => x.msgPerS)))} | ${median(s.map(x => x.p50)).toFixed(2)} | ${median(s.map(x => x.p99)).toFixed(2)} | ${s.map(x => x.p99).join(', ')} |`)
  }
} finally {
  await kafka.stop()
}
