/**
 * The listeners' cost, in one run, on two targets side by side:
 * - `edge`: a real Wharf edge (the built CLI, `wharf start`) with tcp, ssl and ws listeners on a
 *   local Kafka: what a device sees;
 * - `aedes`: the same listeners (src/listeners) in front of an in-memory aedes
 *   (bench/targets/listeners-server.ts), no Kafka: the transport's cost alone.
 * Per target: TLS handshakes per second (handshake, close; no MQTT), new MQTT connections per
 * second (TCP or TLS + CONNECT/CONNACK + DISCONNECT), and QoS 1 throughput over tcp, ssl and ws
 * (1 publisher -> 1 subscriber, closed loop); beside each rate the target process' CPU time per
 * operation (per handshake, per connection, per message delivered), which a machine shared with
 * other work distorts much less than the rates.
 *
 *   npm run build && npm run bench:listeners -- [--seconds 8] [--concurrency 8] [--window 20]
 *                                               [--size 64] [--targets edge,aedes] [--brokers host:port]
 *
 * Without --brokers a single-node local Kafka is started in a temporary folder and stopped at the
 * end. Client, broker and Kafka share the machine: on 2 cores the numbers are a lower bound, and
 * the ratios between rows are what to read.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import mqttPacket from 'mqtt-packet'
import { LocalKafka } from '../src/local-kafka/index.js'
import { createLogger } from '../src/observability/logger.js'
import { makeCa, makeCert } from '../test/support/test-certs.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { runLoad } from './lib/loadgen.js'
import { cpuTicks, ProcSampler } from './lib/proc-stats.js'
import { stopChild, waitForLine } from './lib/targets.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '8' },
    window: { type: 'string', default: '20' },
    size: { type: 'string', default: '64' },
    targets: { type: 'string', default: 'edge,aedes' },
    brokers: { type: 'string' }
  }
})
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const targetNames = values.targets.split(',') as Array<'edge' | 'aedes'>
const SERVER = fileURLToPath(new URL('./targets/listeners-server.ts', import.meta.url))

type Kind = 'tcp' | 'ssl' | 'ws'
/** A target with its listeners open: the port of each kind and the process whose CPU is sampled. */
interface Target { name: string, ports: Record<Kind, number>, pid: number, stop: () => Promise<void> }

const dir = mkdtempSync(join(tmpdir(), 'wharf-bench-listeners-'))
const ca = makeCa(dir)
const cert = makeCert(dir, 'server', ca, '/CN=localhost', true)
const caPem = readFileSync(ca.cert)
const listeners = {
  tcp: { default: { bind: '127.0.0.1:0' } },
  ssl: { default: { bind: '127.0.0.1:0', ssl_options: { certfile: cert.cert, keyfile: cert.key } } },
  ws: { default: { bind: '127.0.0.1:0' } }
}

/** Plain aedes in memory behind the listeners, its own process. */
async function startAedes (): Promise<Target> {
  const configFile = join(dir, 'listeners.json')
  writeFileSync(configFile, JSON.stringify(listeners))
  const server: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SERVER, configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  const line = await waitForLine(server, /listening (\[.*\])\n/, 'listeners server')
  const ports = Object.fromEntries((JSON.parse(line[1] ?? '[]') as Array<{ kind: Kind, port: number }>).map((d) => [d.kind, d.port])) as Record<Kind, number>
  return { name: 'aedes', ports, pid: server.pid as number, stop: async () => { await stopChild(server) } }
}

/** A real edge on Kafka with the same three listeners. */
async function startEdge (brokers: string[]): Promise<Target> {
  const config = join(dir, 'wharf.yaml')
  writeFileSync(config, JSON.stringify({ listeners }))
  const edge = await WharfProcess.start({ brokers, topics: uniqueTopics('bench-listeners'), nodeName: 'bench-listeners', args: ['--config', config], keepLines: 50 })
  const ports = { tcp: edge.port('tcp:default'), ssl: edge.port('ssl:default'), ws: edge.port('ws:default') }
  return { name: 'edge', ports, pid: edge.pid, stop: async () => { await edge.stop() } }
}

/** Opens a TCP or TLS connection; resolves once it is established (TLS: handshake done). */
function open (t: Target, kind: 'tcp' | 'ssl'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = kind === 'tcp'
      ? netConnect(t.ports.tcp, '127.0.0.1', () => resolve(socket))
      : tlsConnect({ port: t.ports.ssl, host: '127.0.0.1', ca: caPem, servername: 'localhost' }, () => resolve(socket))
    socket.setNoDelay(true)
    socket.once('error', reject)
  })
}

/** A TLS handshake and nothing else: connect, handshake, close. */
async function oneHandshake (t: Target): Promise<void> {
  const socket = await open(t, 'ssl')
  socket.destroy()
}

/** One MQTT connection: open (TCP or TLS), CONNECT, CONNACK, DISCONNECT, close. */
async function oneConnection (t: Target, kind: 'tcp' | 'ssl', n: number): Promise<void> {
  const socket = await open(t, kind)
  await new Promise<void>((resolve, reject) => {
    socket.once('data', (d: Buffer) => {
      if (d[0] !== 0x20 || d[3] !== 0) reject(new Error(`expected CONNACK 0, got ${d.subarray(0, 4).toString('hex')}`))
      else socket.end(Buffer.from([0xe0, 0]))
    })
    socket.once('close', () => resolve())
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `hs-${n}`, clean: true, keepalive: 0 }))
  })
}

/** CPU of the target process and of this one (the clients), % of one core, over a measurement. */
function sampleCpu (t: Target): () => string {
  const sampler = new ProcSampler({ server: t.pid, clients: process.pid })
  return () => {
    const usage = sampler.stop()
    return `${usage.server?.cpuPct ?? 0}% / ${usage.clients?.cpuPct ?? 0}%`
  }
}

const CLK_TCK = 100
/** The target's CPU time (user + system) from now until the returned function is called, in ms. */
function cpuMs (t: Target): () => number {
  const t0 = cpuTicks(t.pid) ?? 0
  return () => ((cpuTicks(t.pid) ?? 0) - t0) / CLK_TCK * 1000
}

/**
 * `concurrency` loops of `one` for `seconds`: operations per second, and the target's CPU time per
 * operation (which a loaded machine distorts much less than the rate).
 */
async function rate (t: Target, one: (n: number) => Promise<void>): Promise<{ perSec: number, cpuMsPerOp: number, cpu: string }> {
  let done = 0
  const cpu = sampleCpu(t)
  const targetCpu = cpuMs(t)
  const started = performance.now()
  const deadline = started + seconds * 1000
  await Promise.all(Array.from({ length: concurrency }, async (_, loop) => {
    while (performance.now() < deadline) await one(loop * 1_000_000 + done++)
  }))
  return { perSec: Math.round(done / ((performance.now() - started) / 1000)), cpuMsPerOp: targetCpu() / done, cpu: cpu() }
}

/** One row per measurement: what, then per target the rate, the target's CPU per operation, and CPU % of target / clients. */
interface Cell { rate: string, perOp: string, cpu: string }
const rows = new Map<string, Map<string, Cell>>()
function record (what: string, target: string, cell: Cell): void {
  const row = rows.get(what) ?? new Map<string, Cell>()
  row.set(target, cell)
  rows.set(what, row)
  console.log(`# ${target}: ${what}: ${cell.rate}, target CPU ${cell.perOp} (CPU target / clients ${cell.cpu})`)
}

async function measure (t: Target): Promise<void> {
  // warm up: JIT, and on the edge its Kafka connections
  for (let i = 0; i < 20; i++) await oneConnection(t, i % 2 === 0 ? 'tcp' : 'ssl', 900_000_000 + i)
  const hs = await rate(t, () => oneHandshake(t))
  record('TLS handshakes/s (P-256 certificate, no MQTT)', t.name, { rate: String(hs.perSec), perOp: `${hs.cpuMsPerOp.toFixed(2)} ms`, cpu: hs.cpu })
  for (const kind of ['tcp', 'ssl'] as const) {
    const r = await rate(t, (n) => oneConnection(t, kind, n))
    record(`new MQTT connections/s, ${kind}`, t.name, { rate: String(r.perSec), perOp: `${r.cpuMsPerOp.toFixed(2)} ms`, cpu: r.cpu })
  }
  const urls: Record<Kind, string> = { tcp: `mqtt://127.0.0.1:${t.ports.tcp}`, ssl: `mqtts://127.0.0.1:${t.ports.ssl}`, ws: `ws://127.0.0.1:${t.ports.ws}/mqtt` }
  for (const kind of ['tcp', 'ssl', 'ws'] as const) {
    let cpu = (): string => ''
    let targetCpu = (): number => 0
    let windowCpuMs = 0
    const r = await runLoad({ kind: 'p2p', qos: 1, payloadBytes: Number(values.size), publishers: 1, subscribers: 1, window: Number(values.window), warmupS: 2, durationS: seconds },
      urls[kind], urls[kind], {
        clientOptions: { ca: caPem },
        window: { start: () => { cpu = sampleCpu(t); targetCpu = cpuMs(t) }, end: () => { windowCpuMs = targetCpu() } }
      })
    if (r.lost > 0) throw new Error(`${t.name} ${kind}: ${r.lost} QoS 1 messages lost`)
    const perMessageUs = windowCpuMs * 1000 / Math.max(1, r.delivered)
    record(`QoS 1 msgs/s, ${kind} (1 -> 1, ${values.size} B, window ${values.window})`, t.name,
      { rate: `${Math.round(r.deliveredPerSec)} (p50 ${r.latencyMs.p50.toFixed(1)} ms)`, perOp: `${Math.round(perMessageUs)} µs/msg`, cpu: cpu() })
  }
}

const logger = createLogger({ level: 'warn' })
let kafka: LocalKafka | undefined
let kafkaDir: string | undefined
try {
  console.log(`# listeners bench: ${seconds} s per measurement, ${concurrency} at once, Node ${process.version}, ${cpus()[0]?.model ?? '?'}, ${availableParallelism()} CPUs`)
  for (const name of targetNames) {
    let brokers = values.brokers?.split(',')
    if (name === 'edge' && brokers === undefined) {
      kafkaDir ??= mkdtempSync(join(tmpdir(), 'wharf-bench-kafka-'))
      kafka ??= await LocalKafka.start({ dir: kafkaDir, nodes: 1, port: 0, logger })
      brokers = kafka.brokers
    }
    const t = name === 'edge' ? await startEdge(brokers ?? []) : await startAedes()
    try {
      await measure(t)
    } finally {
      await t.stop()
    }
  }
  const width = Math.max(...[...rows.keys()].map((w) => w.length))
  const cell = 20
  const heads = targetNames.flatMap((n) => [`${n} rate`.padStart(cell), `${n} CPU/op`.padStart(14)]).join('  ')
  console.log(`\n${'measurement'.padEnd(width)}  ${heads}  CPU % of a core, target / clients (${targetNames.join(', ')})`)
  for (const [what, byTarget] of rows) {
    const cells = targetNames.flatMap((n) => [(byTarget.get(n)?.rate ?? '-').padStart(cell), (byTarget.get(n)?.perOp ?? '-').padStart(14)]).join('  ')
    console.log(`${what.padEnd(width)}  ${cells}  ${targetNames.map((n) => byTarget.get(n)?.cpu ?? '-').join(', ')}`)
  }
} finally {
  if (kafka !== undefined) await kafka.stop()
  if (kafkaDir !== undefined) rmSync(kafkaDir, { recursive: true, force: true })
  rmSync(dir, { recursive: true, force: true })
}
