/**
 * The listener layer's cost, in one run: new connections per second (TCP or TLS handshake + MQTT
 * CONNECT/CONNACK + close) and QoS 1 throughput over tcp, ssl and ws, through the listeners in
 * front of an in-memory aedes (bench/targets/listeners-server.ts, its own process). No Kafka: what
 * is measured is the transport; the lead reruns it against a real edge.
 *
 *   npm run bench:listeners -- [--seconds 8] [--concurrency 8] [--window 20] [--size 64]
 *
 * Client and server share the machine: on 2 cores the numbers are a lower bound and a ratio.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import mqttPacket from 'mqtt-packet'
import { makeCa, makeCert } from '../test/support/test-certs.js'
import { runLoad } from './lib/loadgen.js'
import { ProcSampler } from './lib/proc-stats.js'
import { stopChild, waitForLine } from './lib/targets.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '8' },
    window: { type: 'string', default: '20' },
    size: { type: 'string', default: '64' }
  }
})
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const SERVER = fileURLToPath(new URL('./targets/listeners-server.ts', import.meta.url))

const dir = mkdtempSync(join(tmpdir(), 'wharf-bench-listeners-'))
const ca = makeCa(dir)
const cert = makeCert(dir, 'server', ca, '/CN=localhost', true)
const caPem = readFileSync(ca.cert)
const configFile = join(dir, 'listeners.json')
writeFileSync(configFile, JSON.stringify({
  tcp: { default: { bind: '127.0.0.1:0' } },
  ssl: { default: { bind: '127.0.0.1:0', ssl_options: { certfile: cert.cert, keyfile: cert.key } } },
  ws: { default: { bind: '127.0.0.1:0' } }
}))

const server = spawn(process.execPath, ['--import', 'tsx', SERVER, configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
const line = await waitForLine(server, /listening (\[.*\])\n/, 'listeners server')
const ports = new Map((JSON.parse(line[1] ?? '[]') as Array<{ kind: string, port: number }>).map((d) => [d.kind, d.port]))
const port = (kind: string): number => ports.get(kind) ?? 0

/** One connection: open (TCP or TLS), CONNECT, wait for CONNACK, close. Resolves when closed. */
function oneConnection (kind: 'tcp' | 'ssl', n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = kind === 'tcp'
      ? netConnect(port('tcp'), '127.0.0.1')
      : tlsConnect({ port: port('ssl'), host: '127.0.0.1', ca: caPem, servername: 'localhost' })
    socket.setNoDelay(true)
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `hs-${n}`, clean: true, keepalive: 0 }))
    socket.once('data', (d: Buffer) => {
      if (d[0] !== 0x20) reject(new Error(`expected CONNACK, got 0x${d[0]?.toString(16) ?? '??'}`))
      socket.destroy()
    })
    socket.once('error', reject)
    socket.once('close', () => resolve())
  })
}

/** `concurrency` loops of oneConnection for `seconds`; connections per second. */
/** CPU of the broker process and of this one (the clients), % of one core. */
function sampleCpu (): () => string {
  const sampler = new ProcSampler({ server: server.pid as number, clients: process.pid })
  return () => {
    const usage = sampler.stop()
    return `${usage.server?.cpuPct ?? 0}% / ${usage.clients?.cpuPct ?? 0}%`
  }
}

async function connectionRate (kind: 'tcp' | 'ssl'): Promise<{ perSec: number, cpu: string }> {
  let done = 0
  const cpu = sampleCpu()
  const started = performance.now()
  const deadline = started + seconds * 1000
  await Promise.all(Array.from({ length: concurrency }, async (_, loop) => {
    while (performance.now() < deadline) await oneConnection(kind, loop * 1_000_000 + done++)
  }))
  const elapsed = (performance.now() - started) / 1000
  return { perSec: Math.round(done / elapsed), cpu: cpu() }
}

const rows: string[][] = []
try {
  console.log(`# listeners bench: ${seconds} s per measurement, Node ${process.version}`)
  for (const kind of ['tcp', 'ssl'] as const) {
    const r = await connectionRate(kind)
    rows.push([`new connections/s, ${kind}${kind === 'ssl' ? ' (TLS handshake, P-256)' : ''}`, String(r.perSec), r.cpu])
    console.log(rows.at(-1)?.join('  '))
  }
  const urls = { tcp: `mqtt://127.0.0.1:${port('tcp')}`, ssl: `mqtts://127.0.0.1:${port('ssl')}`, ws: `ws://127.0.0.1:${port('ws')}/mqtt` }
  for (const [kind, url] of Object.entries(urls)) {
    const cpu = sampleCpu()
    const r = await runLoad({ kind: 'p2p', qos: 1, payloadBytes: Number(values.size), publishers: 1, subscribers: 1, window: Number(values.window), warmupS: 2, durationS: seconds },
      url, url, { clientOptions: { ca: caPem } })
    rows.push([`QoS 1 msgs/s, ${kind} (1 -> 1, ${values.size} B, window ${values.window}; p50 ${r.latencyMs.p50.toFixed(1)} ms)`, String(Math.round(r.deliveredPerSec)), cpu()])
    console.log(rows.at(-1)?.join('  '))
  }
  const width = Math.max(...rows.map((r) => r[0]?.length ?? 0))
  console.log(`\n${'measurement'.padEnd(width)}  ${'rate'.padStart(8)}  CPU, % of a core: broker / clients`)
  for (const [what, rate, cpu] of rows) console.log(`${(what ?? '').padEnd(width)}  ${(rate ?? '').padStart(8)}  ${cpu ?? ''}`)
} finally {
  await stopChild(server)
  rmSync(dir, { recursive: true, force: true })
}
