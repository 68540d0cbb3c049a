/**
 * The benchmark runner: starts each target fresh, runs the same scenarios against each, samples the
 * broker's CPU and RSS (and the Kafka JVM's for Wharf), prints one table and writes the raw results
 * to bench/results/<timestamp>.json.
 *
 *   npm run bench -- all                                  # the full run (~10 min on 2 cores)
 *   npm run bench -- p2p|fan-in|fan-out [--qos 0,1] [--size 16,1024] [--publishers N] [--subscribers N]
 *                    [--rate MSG_PER_S] [--window N] [--seconds S] [--warmup S] [--mqtt-version 4,5]
 *   npm run bench -- latency [--rate 1000] [--seconds 10]  # 1 publisher -> 1 subscriber at a fixed rate
 *   npm run bench -- connections [--connections 18000] [--conn-rate 1000]
 *   npm run bench -- smoke                                # seconds; CI: exits 1 if nothing is delivered
 *   npm run bench -- scale [--rate 2000] [--seconds 20] [--connections 300]   # three edges: what each pays (bench/scale.ts)
 *   common: [--targets wharf1,wharf2,mosquitto,aedes] [--brokers host:port [--kafka-pid PID]] [--kafka-gc g1|serial] [--profile] [--no-json]
 *           [--kafka-warmup S (30)] [--target-warmup S (5): unmeasured traffic before the first scenario, per target]
 *           [--env WHARF_KEY=value ...]  (extra environment for the Wharf edges, e.g. producer settings)
 *
 * Run `npm run build` first (Wharf runs as the built CLI, `node dist/cli/main.js start`). Without
 * --brokers a single-node local Kafka is started once per run (in a temporary folder) and stopped at
 * the end; every Wharf target run gets fresh topic names.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, release, totalmem, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { LocalKafka, PINNED_KAFKA_VERSION } from '../src/local-kafka/index.js'
import { createLogger } from '../src/observability/logger.js'
import { runConnections, type ConnResult } from './lib/connections.js'
import { envPairs } from './lib/env-pairs.js'
import { runLoad, SCENARIO_SHAPES, type LoadResult, type LoadSpec, type ScenarioKind } from './lib/loadgen.js'
import { CpuWindow, ProcSampler, type ProcUsage } from './lib/proc-stats.js'
import { ALL_TARGETS, ensureMosquitto, startTarget, type RunningTarget, type TargetName } from './lib/targets.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    targets: { type: 'string' },
    qos: { type: 'string' },
    size: { type: 'string' },
    publishers: { type: 'string' },
    subscribers: { type: 'string' },
    rate: { type: 'string' },
    window: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'conn-rate': { type: 'string' },
    'mqtt-version': { type: 'string' },
    brokers: { type: 'string' },
    'kafka-pid': { type: 'string' },
    'kafka-gc': { type: 'string' },
    'kafka-warmup': { type: 'string' },
    'target-warmup': { type: 'string' },
    env: { type: 'string', multiple: true },
    profile: { type: 'boolean', default: false },
    'no-json': { type: 'boolean', default: false }
  }
})

const mode = positionals[0] ?? 'all'
const log = (line: string): void => { process.stderr.write(line + '\n') }
const num = (v: string | undefined, d: number): number => v === undefined ? d : Number(v)

/** Unmeasured p2p traffic through a target, half the time QoS 1 and half QoS 0 (JITs warmed up). */
async function warmUp (target: { pubUrl: string, subUrl: string }, seconds: number): Promise<void> {
  for (const qos of [1, 0] as const) {
    await runLoad({ kind: 'p2p', qos, payloadBytes: 16, publishers: 10, subscribers: 10, window: 20, warmupS: 0, durationS: Math.max(1, Math.round(seconds / 2)) }, target.pubUrl, target.subUrl)
  }
}

if (mode === 'scale') {
  // three edges, what each one pays (bench/scale.ts); a table of its own
  const { runScale } = await import('./scale.js')
  const rows = await runScale({ rate: num(values.rate, 2000), seconds: num(values.seconds, 20), devicesPerEdge: num(values.connections, 300), brokers: values.brokers?.split(','), log })
  process.stdout.write(rows.join('\n') + '\n')
  process.exit(0)
}
const list = (v: string | undefined, d: number[]): number[] => v === undefined ? d : v.split(',').map(Number)

interface Scenario { name: string; spec: LoadSpec }

/** MQTT versions the clients speak, one scenario each: 4 (3.1.1, the default) and/or 5 ("v5" in the name) */
const versions = list(values['mqtt-version'], [4]) as Array<4 | 5>
for (const v of versions) if (v !== 4 && v !== 5) { log(`unknown --mqtt-version ${v}: 4 or 5`); process.exit(2) }
const versionSuffix = (v: 4 | 5): string => v === 5 ? ' v5' : ''

function loadScenarios (kinds: ScenarioKind[]): Scenario[] {
  const out: Scenario[] = []
  for (const kind of kinds) {
    for (const qos of list(values.qos, [0, 1]) as Array<0 | 1>) {
      for (const size of list(values.size, [16, 1024])) for (const version of versions) {
        const shape = SCENARIO_SHAPES[kind]
        const rate = values.rate === undefined ? undefined : Number(values.rate)
        out.push({
          name: `${kind} q${qos} ${size}B${rate === undefined ? '' : ` @${rate}/s`}${versionSuffix(version)}`,
          spec: {
            protocolVersion: version,
            kind,
            qos,
            payloadBytes: size,
            publishers: num(values.publishers, shape.publishers),
            subscribers: num(values.subscribers, shape.subscribers),
            window: num(values.window, shape.window),
            ...(rate === undefined ? {} : { rate }),
            warmupS: num(values.warmup, 2),
            durationS: num(values.seconds, 6)
          }
        })
      }
    }
  }
  return out
}

function latencyScenarios (): Scenario[] {
  const rate = num(values.rate, 1000)
  return versions.map(version => ({
    name: `latency q1 16B @${rate}/s${versionSuffix(version)}`,
    spec: { kind: 'p2p', qos: 1, payloadBytes: 16, publishers: 1, subscribers: 1, window: 1, rate, warmupS: num(values.warmup, 2), durationS: num(values.seconds, 10), protocolVersion: version }
  }))
}

let scenarios: Scenario[] = []
let connTarget = 0
let targets: TargetName[] = values.targets === undefined ? ALL_TARGETS : values.targets.split(',') as TargetName[]
const hardNoFile = Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim()) || 1024
const softNoFile = Number(execFileSync('sh', ['-c', 'ulimit -Sn']).toString().trim()) || 1024
// the load generator and the broker each need one descriptor per connection; keep 1,000 spare
const connCap = Math.max(0, Math.min(hardNoFile, softNoFile) - 1000)
switch (mode) {
  case 'all':
    scenarios = [...loadScenarios(['p2p', 'fan-in', 'fan-out']), ...latencyScenarios()]
    connTarget = Math.min(num(values.connections, 18000), connCap)
    break
  case 'p2p': case 'fan-in': case 'fan-out':
    scenarios = loadScenarios([mode])
    break
  case 'latency':
    scenarios = latencyScenarios()
    break
  case 'connections':
    connTarget = Math.min(num(values.connections, 18000), connCap)
    break
  case 'smoke':
    targets = values.targets === undefined ? ['wharf1', 'aedes'] : targets
    scenarios = versions.map(version => ({ name: `smoke p2p q1 16B${versionSuffix(version)}`, spec: { kind: 'p2p', qos: 1, payloadBytes: 16, publishers: 2, subscribers: 2, window: 10, warmupS: 1, durationS: num(values.seconds, 3), protocolVersion: version } }))
    break
  default:
    log(`unknown scenario ${mode}: all | p2p | fan-in | fan-out | latency | connections | smoke`)
    process.exit(2)
}
for (const t of targets) if (!ALL_TARGETS.includes(t)) { log(`unknown target ${t}: ${ALL_TARGETS.join(', ')}`); process.exit(2) }

interface ScenarioResult {
  target: TargetName
  scenario: string
  spec: LoadSpec
  load?: LoadResult
  error?: string
  usage: { broker: ProcUsage; kafka?: ProcUsage; loadgen: ProcUsage }
  /** CPU µs per delivered message over the measured window, per process (broker0, broker1, kafka, loadgen) */
  cpuUsPerMessage?: Record<string, number>
}
interface ConnectionResult { target: TargetName; result?: ConnResult; error?: string }

function sumUsage (u: Record<string, ProcUsage>, prefix: string): ProcUsage {
  const parts = Object.entries(u).filter(([k]) => k.startsWith(prefix)).map(([, v]) => v)
  return {
    cpuPct: Math.round(parts.reduce((s, p) => s + p.cpuPct, 0) * 10) / 10,
    rssPeakBytes: parts.reduce((s, p) => s + p.rssPeakBytes, 0),
    rssEndBytes: parts.reduce((s, p) => s + p.rssEndBytes, 0)
  }
}

const results: ScenarioResult[] = []
const connResults: ConnectionResult[] = []
const startedAt = new Date()
const needsKafka = targets.some(t => t.startsWith('wharf'))
let kafka: LocalKafka | undefined
let kafkaDir: string | undefined
let brokers = values.brokers?.split(',')
let kafkaPid: number | undefined = values['kafka-pid'] === undefined ? undefined : Number(values['kafka-pid'])
let profileDir: string | undefined
const wharfEnv = envPairs(values.env)
if (targets.includes('mosquitto')) ensureMosquitto(log)

try {
  if (needsKafka && brokers === undefined) {
    kafkaDir = await mkdtemp(join(tmpdir(), 'wharf-bench-kafka-'))
    log('starting a local single-node Kafka')
    // G1 with 20 ms pause goal, as Kafka's own scripts (docs/benchmarks.md, "Per-message cost"): the
    // serial collector of the small-machine default stops Kafka for 100s of ms per young collection
    const gc = values['kafka-gc'] === 'serial' ? 'serial' : 'g1'
    kafka = await LocalKafka.start({ dir: kafkaDir, nodes: 1, port: 0, gc, logger: createLogger({ level: 'warn' }) })
    brokers = kafka.brokers
    kafkaPid = (await kafka.status())[0]?.pid
  }
  if (values.profile) {
    profileDir = fileURLToPath(new URL(`./results/profiles-${stamp(startedAt)}`, import.meta.url))
    mkdirSync(profileDir, { recursive: true })
  }
  if (needsKafka && scenarios.length > 0 && mode !== 'smoke') {
    // a freshly started JVM is slow until its JIT has warmed up: put traffic through Kafka (one
    // edge, topics of its own, not measured, QoS 1 then QoS 0) before the first Wharf target is
    // measured. 10 s were not enough: the first scenario of a run (p2p QoS 0) still cost Kafka
    // 36 µs of CPU per message against 20 µs for the same records minutes later
    const seconds = num(values['kafka-warmup'], 30)
    log(`== warming up Kafka (${seconds} s of p2p QoS 1 and 0 through a throw-away edge, not measured)`)
    const warm = await startTarget('wharf1', { brokers: brokers ?? [], env: wharfEnv })
    try {
      await warmUp(warm, seconds)
    } finally {
      await warm.stop()
    }
  }
  const targetWarmupS = num(values['target-warmup'], 5)
  for (const name of targets) {
    if (scenarios.length > 0) {
      log(`== ${name}: starting`)
      const target = await startTarget(name, {
        brokers: brokers ?? [],
        env: wharfEnv,
        ...(kafkaPid === undefined ? {} : { kafkaPid }),
        ...(profileDir === undefined || !name.startsWith('wharf') ? {} : { wharfNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] })
      })
      try {
        // every target starts fresh (a new process, a cold JIT): some unmeasured traffic first, so
        // that the first scenario of the list is not the one that pays for it
        if (targetWarmupS > 0 && mode !== 'smoke') {
          log(`  ${name}: ${targetWarmupS} s of unmeasured p2p QoS 1 and 0`)
          await warmUp(target, targetWarmupS)
        }
        for (const s of scenarios) results.push(await runScenario(target, s))
      } finally {
        await target.stop()
      }
    }
    if (connTarget > 0 && name !== 'wharf2') {
      log(`== ${name}: connection scale, ${connTarget} idle connections at ${num(values['conn-rate'], 1000)}/s`)
      const target = await startTarget(name, { brokers: brokers ?? [], env: wharfEnv, ...(kafkaPid === undefined ? {} : { kafkaPid }) })
      try {
        const result = await runConnections({ host: target.host, port: target.port, target: connTarget, rate: num(values['conn-rate'], 1000), sourceAddresses: 8, pids: target.brokerPids }, log)
        connResults.push({ target: name, result })
        log(`  ${result.reached}/${result.target} in ${result.seconds} s, ${fmtBytes(result.bytesPerConnection)} per connection (second half: ${result.marginalBytesPerConnection === undefined ? '-' : fmtBytes(result.marginalBytesPerConnection)})${result.error === undefined ? '' : `, stopped by: ${result.error}`}`)
      } catch (err) {
        connResults.push({ target: name, error: (err as Error).message })
      } finally {
        await target.stop()
      }
    }
  }
} finally {
  await kafka?.stop()
  if (kafkaDir !== undefined) await rm(kafkaDir, { recursive: true, force: true })
}

async function runScenario (target: RunningTarget, s: Scenario): Promise<ScenarioResult> {
  log(`  ${target.name}: ${s.name}`)
  const pids: Record<string, number> = { loadgen: process.pid }
  target.brokerPids.forEach((pid, i) => { pids[`broker${i}`] = pid })
  if (target.kafkaPid !== undefined) pids.kafka = target.kafkaPid
  const sampler = new ProcSampler(pids)
  const window = new CpuWindow(pids)
  let load: LoadResult | undefined
  let error: string | undefined
  try {
    load = await runLoad(s.spec, target.pubUrl, target.subUrl, { window })
  } catch (err) {
    error = (err as Error).message
    log(`    failed: ${error}`)
  }
  const u = sampler.stop()
  const r: ScenarioResult = {
    target: target.name,
    scenario: s.name,
    spec: s.spec,
    ...(load === undefined ? {} : { load }),
    ...(error === undefined ? {} : { error }),
    usage: { broker: sumUsage(u, 'broker'), loadgen: u.loadgen as ProcUsage, ...(u.kafka === undefined ? {} : { kafka: u.kafka }) },
    ...(load === undefined || load.delivered === 0 ? {} : { cpuUsPerMessage: window.usPer(load.delivered) })
  }
  if (load !== undefined) {
    const ack = load.ackLatencyMs === undefined ? '' : ` (PUBACK p50 ${load.ackLatencyMs.p50} ms, p99 ${load.ackLatencyMs.p99} ms)`
    log(`    ${load.deliveredPerSec} msg/s delivered, p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms${ack}, lost ${load.lost}, broker CPU ${r.usage.broker.cpuPct}%${r.usage.kafka === undefined ? '' : `, Kafka CPU ${r.usage.kafka.cpuPct}%`}`)
  }
  return r
}

function stamp (d: Date): string { return d.toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z') }
function fmtBytes (b: number): string { return b >= 1048576 ? `${(b / 1048576).toFixed(0)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B` }
function pad (cells: string[], widths: number[]): string { return '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |' }
function table (head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  return [pad(head, widths), pad(widths.map(w => '-'.repeat(w)), widths), ...rows.map(r => pad(r, widths))].join('\n')
}

// ---- report
const rows = results.map(r => {
  const l = r.load
  const kafkaCell = r.usage.kafka === undefined ? '' : `${r.usage.kafka.cpuPct}% / ${fmtBytes(r.usage.kafka.rssPeakBytes)}`
  if (l === undefined) return [r.scenario, r.target, 'failed', '', '', '', '', '', kafkaCell, '', r.error ?? '']
  return [r.scenario, r.target, String(l.deliveredPerSec), String(l.latencyMs.p50), String(l.latencyMs.p99), String(l.latencyMs.p999),
    `${r.usage.broker.cpuPct}%`, fmtBytes(r.usage.broker.rssPeakBytes), kafkaCell, `${r.usage.loadgen.cpuPct}%`, l.lost > 0 || l.stalls > 0 ? `lost ${l.lost}, stalls ${l.stalls}` : '']
})
const out: string[] = []
if (rows.length > 0) {
  out.push(table(['scenario', 'target', 'delivered msg/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'broker CPU', 'broker RSS', 'Kafka CPU / RSS', 'loadgen CPU', 'notes'], rows))
  // Wharf's ratio to each peer, delivered msg/s (and p99 for the fixed-rate latency scenario)
  const ratioRows: string[][] = []
  for (const s of scenarios) {
    const get = (t: TargetName): LoadResult | undefined => results.find(r => r.scenario === s.name && r.target === t)?.load
    for (const w of ['wharf1', 'wharf2'] as TargetName[]) {
      const wl = get(w)
      if (wl === undefined) continue
      const cells = (['aedes', 'mosquitto'] as TargetName[]).map(p => {
        const pl = get(p)
        if (pl === undefined || pl.deliveredPerSec === 0) return ''
        return `${(wl.deliveredPerSec / pl.deliveredPerSec).toFixed(2)}× tput, ${(wl.latencyMs.p99 / Math.max(0.01, pl.latencyMs.p99)).toFixed(1)}× p99`
      })
      ratioRows.push([s.name, w, ...cells])
    }
  }
  if (ratioRows.length > 0) out.push('', table(['scenario', 'Wharf', 'vs aedes', 'vs mosquitto'], ratioRows))
  // CPU per delivered message over the measured window: the comparison that does not depend on who
  // else shares the cores (issue 18)
  const us = (v: number | undefined): string => v === undefined ? '' : v.toFixed(1)
  const cpuRows = results.filter(r => r.cpuUsPerMessage !== undefined).map(r => {
    const c = r.cpuUsPerMessage as Record<string, number>
    const edges = Object.keys(c).filter(k => k.startsWith('broker')).map(k => c[k] as number)
    const broker = edges.reduce((a, b) => a + b, 0)
    return [r.scenario, r.target, us(broker) + (edges.length > 1 ? ` (${edges.map(us).join(' + ')})` : ''), us(c.kafka), us(c.loadgen),
      us(broker + (c.kafka ?? 0))]
  })
  if (cpuRows.length > 0) out.push('', 'CPU µs per delivered message (measured window):', table(['scenario', 'target', 'broker', 'Kafka', 'loadgen', 'broker + Kafka'], cpuRows))
}
if (connResults.length > 0) {
  out.push('', table(['connections', 'reached / target', 'seconds', 'broker RSS before → after', 'bytes per connection', 'second half, per connection', 'stopped by'],
    connResults.map(c => c.result === undefined
      ? [c.target, 'failed', '', '', '', '', c.error ?? '']
      : [c.target, `${c.result.reached} / ${c.result.target}`, String(c.result.seconds), `${fmtBytes(c.result.rssBeforeBytes)} → ${fmtBytes(c.result.rssAfterBytes)}`, fmtBytes(c.result.bytesPerConnection),
          c.result.marginalBytesPerConnection === undefined ? '' : fmtBytes(c.result.marginalBytesPerConnection), c.result.error ?? ''])))
}
console.log(out.join('\n'))

if (!values['no-json'] && mode !== 'smoke') {
  const file = fileURLToPath(new URL(`./results/${stamp(startedAt)}.json`, import.meta.url))
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true })
  let mosquittoVersion = ''
  try { mosquittoVersion = execFileSync('sh', ['-c', "dpkg-query -W -f='${Version}' mosquitto"]).toString() } catch { /* not a Debian system */ }
  writeFileSync(file, JSON.stringify({
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    argv: process.argv.slice(2),
    wharfEnv,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), kernel: release(), node: process.version, kafka: PINNED_KAFKA_VERSION, mosquitto: mosquittoVersion, nofileSoft: softNoFile, nofileHard: hardNoFile },
    results,
    connections: connResults
  }, null, 2) + '\n')
  log(`raw results: ${file}`)
}
if (profileDir !== undefined) log(`CPU profiles of the Wharf edges: ${profileDir} (summarise with: node --import tsx bench/profile-summary.ts <file>)`)

const failed = results.filter(r => r.load === undefined || r.load.delivered === 0 || (r.spec.qos === 1 && r.load.lost > 0))
if (mode === 'smoke' && (failed.length > 0 || results.length === 0)) {
  log(`bench smoke failed: ${failed.map(r => `${r.target} ${r.scenario}: ${r.error ?? `delivered ${r.load?.delivered}, lost ${r.load?.lost}`}`).join('; ')}`)
  process.exit(1)
}
process.exit(0)
