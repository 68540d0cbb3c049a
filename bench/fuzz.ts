/**
 * The fuzzing harness (issue 15): throws generated and mutated MQTT packets at a running edge over
 * many connections (every packet type, wrong remaining lengths, invalid UTF-8, reserved flag bits,
 * QoS 3, 5-byte and 268 MB remaining lengths, packets before CONNECT, a second CONNECT, wildcards in
 * PUBLISH topics, other protocol levels, random byte flips, bytes split over many TCP writes; see
 * lib/fuzz-cases.ts), while a bystander client (persistent session, QoS 1) makes a round trip every
 * few hundred ms and a probe (CONNECT + PINGREQ on a fresh connection) checks the node still answers.
 * Everything sent is derived from --seed: the same seed sends the same bytes.
 *
 *   npm run build && node --import tsx bench/fuzz.ts [--seed 1] [--cases 100000] [--connections 32]
 *       [--brokers host:port]                            # a Kafka to start the edge on (default: a local one)
 *       [--url mqtt://host:port --http http://host:port [--pid PID]]   # or an edge that is already running
 *       [--quiet-ms 1500] [--probe-timeout-ms 10000] [--bystander-ms 300] [--edge-log FILE]
 *       [--only TEXT]                                     # only the connections whose bad case's category contains TEXT
 *
 * Prints cases/s, connections opened and how each ended, the node's error-level log lines (when it
 * started the node), RSS before/after, /ready, and the bystander's round trips; a table of what the
 * server did with each category of bad case. Exits 1 when the node died, a probe got no answer within
 * --probe-timeout-ms, or the bystander missed a message, lost its session or was disconnected.
 */
import { createWriteStream } from 'node:fs'
import { parseArgs } from 'node:util'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { benchKafka, type BenchKafka } from './lib/bench-kafka.js'
import { Bystander, type BystanderReport } from './lib/fuzz-bystander.js'
import { planConnection } from './lib/fuzz-cases.js'
import { runPlan, type Outcome } from './lib/fuzz-connection.js'
import { LogTally } from './lib/log-tally.js'
import { connect, PINGREQ } from './lib/mqtt-bytes.js'
import { ProcSampler, rssBytes } from './lib/proc-stats.js'

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    cases: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '32' },
    brokers: { type: 'string' },
    url: { type: 'string' },
    http: { type: 'string' },
    pid: { type: 'string' },
    'quiet-ms': { type: 'string', default: '1500' },
    'probe-timeout-ms': { type: 'string', default: '10000' },
    'bystander-ms': { type: 'string', default: '300' },
    'edge-log': { type: 'string' },
    only: { type: 'string' }
  }
})
const seed = Number(values.seed)
const totalCases = Number(values.cases)
const concurrency = Number(values.connections)
const quietMs = Number(values['quiet-ms'])
const probeTimeoutMs = Number(values['probe-timeout-ms'])
const say = (line: string): void => { process.stderr.write(line + '\n') }
const mb = (bytes: number | undefined): string => bytes === undefined ? 'n/a' : `${(bytes / 1048576).toFixed(0)} MB`

let kafka: BenchKafka | undefined
let node: WharfProcess | undefined
const tally = new LogTally()
let host: string
let port: number
let httpBase: string | undefined = values.http
let pid = values.pid === undefined ? undefined : Number(values.pid)
if (values.url !== undefined) {
  const u = new URL(values.url)
  host = u.hostname
  port = Number(u.port === '' ? 1883 : u.port)
} else {
  kafka = await benchKafka(values.brokers, () => say('# starting a local Kafka'))
  const brokers = kafka.brokers
  const logFile = values['edge-log'] === undefined ? undefined : createWriteStream(values['edge-log'])
  const onLine = (line: string): void => { tally.add(line); logFile?.write(line + '\n') }
  node = await WharfProcess.start({ brokers, topics: uniqueTopics('fuzz'), nodeName: 'fuzz-edge', keepLines: 200, onLine })
  host = '127.0.0.1'
  port = node.mqttPort
  httpBase = `http://127.0.0.1:${node.httpPort}`
  pid = node.pid
}

/** A fresh connection: CONNECT + PINGREQ, answered with CONNACK 0 and PINGRESP within the bound. */
let probes = 0
async function probe (): Promise<{ ok: boolean; ms: number }> {
  const t0 = performance.now()
  const packets = [connect({ clientId: `fz-probe-${seed}-${probes++}`, clean: true }), PINGREQ]
  const r = await runPlan(host, port, { index: -1, packets, split: 'none', chunkSeed: 0, abrupt: false }, probeTimeoutMs)
  return { ok: r.outcome === 'answered' && r.connack === 0, ms: performance.now() - t0 }
}

async function ready (): Promise<string> {
  if (httpBase === undefined) return 'n/a (no --http)'
  try {
    const res = await fetch(`${httpBase}/ready`, { signal: AbortSignal.timeout(5000) })
    return `${res.status} ${(await res.text()).slice(0, 400)}`
  } catch (err) {
    return `no answer (${(err as Error).message})`
  }
}

const exitCode = await (async (): Promise<number> => {
  try {
    const first = await probe()
    if (!first.ok) throw new Error('the edge does not answer a CONNECT + PINGREQ before the run')
    const rssBefore = pid === undefined ? undefined : rssBytes(pid)
    const sampler = pid === undefined ? undefined : new ProcSampler({ edge: pid })
    const bystander = await Bystander.start(`mqtt://${host}:${port}`, `fz-bystander-${seed}-${process.pid}`, Number(values['bystander-ms']))

    // probes while the fuzzing runs
    let probing = true
    const probeFails: number[] = []
    let probeMaxMs = 0
    const prober = (async () => {
      while (probing) {
        const p = await probe()
        probeMaxMs = Math.max(probeMaxMs, p.ms)
        if (!p.ok) probeFails.push(Math.round(p.ms))
        await new Promise(resolve => setTimeout(resolve, 2000))
      }
    })()

    // the fuzzing: connection i's packets come from (seed, i); connections are taken in order until the cases are reached
    const outcomes: Record<Outcome, number> = { closed: 0, answered: 0, silent: 0, refused: 0 }
    const byCategory = new Map<string, { expect: string } & Record<Outcome, number>>()
    let generated = 0
    let written = 0
    let bytes = 0
    let garbage = 0
    let nextIndex = 0
    const t0 = performance.now()
    const progress = setInterval(() => {
      const s = (performance.now() - t0) / 1000
      say(`# ${generated} cases, ${nextIndex} connections, ${(generated / s).toFixed(0)} cases/s; bystander ${bystander.received}/${bystander.sent}; edge RSS ${mb(pid === undefined ? undefined : rssBytes(pid))}`)
    }, 5000)
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (generated < totalCases && node?.proc.exitCode == null && node?.proc.signalCode == null) {
        const plan = planConnection(seed, nextIndex++)
        if (values.only !== undefined && plan.bad?.category.includes(values.only) !== true) continue
        generated += plan.packets.length
        const r = await runPlan(host, port, plan, quietMs)
        outcomes[r.outcome]++
        written += r.written
        bytes += r.bytes
        if (r.serverGarbage) garbage++
        const key = plan.bad?.category ?? '(valid packets only)'
        const row = byCategory.get(key) ?? { expect: plan.bad?.expect ?? 'open', closed: 0, answered: 0, silent: 0, refused: 0 }
        row[r.outcome]++
        byCategory.set(key, row)
      }
    }))
    clearInterval(progress)
    const secs = (performance.now() - t0) / 1000
    probing = false
    await prober
    const last = await probe()
    if (!last.ok) probeFails.push(Math.round(last.ms))
    const by: BystanderReport = await bystander.stop(30000)
    const usage = sampler?.stop()
    const rssAfter = pid === undefined ? undefined : rssBytes(pid)
    const alive = node === undefined ? undefined : node.proc.exitCode === null && node.proc.signalCode === null
    const readyText = await ready()

    const out = (line: string): void => { process.stdout.write(line + '\n') }
    out(`# fuzz: seed ${seed}, ${generated} cases generated (${written} packets, ${(bytes / 1048576).toFixed(1)} MB written before the server closed), ${nextIndex} connections, ${concurrency} at a time`)
    out(`cases/s: ${(generated / secs).toFixed(0)} (${secs.toFixed(1)} s)`)
    out(`connections: ${nextIndex} opened; closed by the server ${outcomes.closed}, still served at the end (PINGRESP) ${outcomes.answered}, silent for ${quietMs} ms ${outcomes.silent}, refused ${outcomes.refused}; server bytes that were not MQTT: ${garbage}`)
    out(`probes (CONNECT + PINGREQ, bound ${probeTimeoutMs} ms): ${probes}, failed ${probeFails.length}${probeFails.length > 0 ? ` (${probeFails.join(', ')} ms)` : ''}, slowest ${probeMaxMs.toFixed(0)} ms`)
    out(`edge RSS: before ${mb(rssBefore)}, after ${mb(rssAfter)}, peak ${mb(usage?.edge?.rssPeakBytes)}; CPU ${usage?.edge?.cpuPct ?? 'n/a'}% of a core`)
    out(`edge alive: ${alive ?? 'n/a (not started here)'}; /ready: ${readyText}`)
    out(`bystander: ${by.ok}/${by.sent} round trips ok, missed ${by.missed}, duplicates ${by.duplicates}, disconnects ${by.disconnects}, sessions lost ${by.sessionsLost}; round trip p50 ${by.p50Ms} ms, p99 ${by.p99Ms} ms, max ${by.maxMs} ms`)
    if (node !== undefined) {
      out(`edge log: ${tally.lines} lines, ${tally.errorCount} error-level (${tally.nonJsonCount} not JSON)`)
      for (const [msg, n] of [...tally.errors].sort((a, b) => b[1] - a[1]).slice(0, 15)) out(`  error x${n}: ${msg}`)
      for (const line of tally.nonJson.slice(0, 10)) out(`  raw: ${line.slice(0, 300)}`)
      for (const [msg, n] of [...tally.warnings].sort((a, b) => b[1] - a[1]).slice(0, 8)) out(`  warn x${n}: ${msg}`)
    }
    out('category                                     expect  conns  closed  served  silent')
    for (const [name, r] of [...byCategory].sort((a, b) => a[0].localeCompare(b[0]))) {
      const odd = (r.expect === 'close' && r.answered > 0) || (r.expect === 'open' && r.closed + r.silent > 0) ? '  <- not as expected' : ''
      out(`${name.padEnd(44)} ${r.expect.padEnd(6)} ${String(r.closed + r.answered + r.silent + r.refused).padStart(6)} ${String(r.closed).padStart(7)} ${String(r.answered).padStart(7)} ${String(r.silent).padStart(7)}${odd}`)
    }
    const failures = [
      ...(alive === false ? ['the edge died'] : []),
      ...(probeFails.length > 0 ? [`${probeFails.length} probe(s) unanswered within ${probeTimeoutMs} ms (hung)`] : []),
      ...(by.missed > 0 ? [`the bystander missed ${by.missed} message(s)`] : []),
      ...(by.disconnects > 0 ? [`the bystander was disconnected ${by.disconnects} time(s)`] : []),
      ...(by.sessionsLost > 0 ? [`the bystander lost its session ${by.sessionsLost} time(s)`] : []),
      ...(outcomes.refused > 0 ? [`${outcomes.refused} connection(s) refused`] : [])
    ]
    out(failures.length === 0 ? 'result: PASS' : `result: FAIL: ${failures.join('; ')}`)
    return failures.length === 0 ? 0 : 1
  } catch (err) {
    say(`fuzz: ${(err as Error).stack ?? String(err)}`)
    return 1
  } finally {
    if (node !== undefined) {
      const exit = await node.stop()
      if (exit.code !== 0) say(`# the edge exited with ${exit.code ?? exit.signal}`)
      if (node.lines.length > 0 && exit.code !== 0) say(node.lines.slice(-20).join('\n'))
    }
    await kafka?.stop()
  }
})()
process.exit(exitCode)
