/**
 * CONNECTs per second through one real edge (issue 13): password logins checked against the users
 * topic with the default `password_hash_algorithm` (pbkdf2-sha256, 27,500 iterations), next to
 * anonymous CONNECTs on the same edge, with clean and persistent sessions. Each connection is a raw
 * socket: CONNECT (MQTT 3.1.1), wait for the CONNACK, DISCONNECT, close; `--concurrency` of them at
 * a time. Prints connections/s, CONNECT -> CONNACK latency (mean, p50, p99) and the edge's CPU time
 * per connection; "ms per login" is the sequential (concurrency 1) latency.
 *
 *   npm run build && node --import tsx bench/connect-rate.ts [--connections 300] [--concurrency 1,8,32]
 *                                                          [--brokers host:port] [--iterations 27500] [--profile DIR]
 *
 * Without --brokers a single-node local Kafka is started in a temporary folder and stopped at the end.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { wharf } from '../test/support/wharf-cli.js'
import { topicsEnv, uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { benchKafka } from './lib/bench-kafka.js'
import { cpuTicks } from './lib/proc-stats.js'

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '1,8,32' },
    brokers: { type: 'string' },
    iterations: { type: 'string', default: '27500' },
    /** a CPU profile of the edge into this folder (summarise with bench/profile-summary.ts) */
    profile: { type: 'string' }
  }
})
const total = Number(values.connections)
const levels = values.concurrency.split(',').map(Number)
const CLK_TCK = 100

function field (s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

/** CONNECT bytes: MQTT 3.1.1, keepalive 60, with user name and password when given. */
function connectPacket (clientId: string, clean: boolean, username?: string, password?: string): Buffer {
  let flags = clean ? 0x02 : 0
  if (username !== undefined) flags |= 0x80
  if (password !== undefined) flags |= 0x40
  const body = Buffer.concat([field('MQTT'), Buffer.from([4, flags, 0, 60]), field(clientId),
    ...(username === undefined ? [] : [field(username)]), ...(password === undefined ? [] : [field(password)])])
  const len: number[] = []
  let x = body.length
  do { let b = x % 128; x = Math.floor(x / 128); if (x > 0) b |= 0x80; len.push(b) } while (x > 0)
  return Buffer.concat([Buffer.from([0x10, ...len]), body])
}

/** One connection: ms from CONNECT written to CONNACK read; rejects on a refusal. */
function oneConnect (port: number, packet: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host: '127.0.0.1', port }, () => {
      t0 = performance.now()
      s.write(packet)
    })
    let t0 = 0
    s.once('error', reject)
    s.once('data', (d: Buffer) => {
      const ms = performance.now() - t0
      if (d[0] !== 0x20 || d[3] !== 0) { s.destroy(); reject(new Error(`CONNACK refused: ${d.toString('hex')}`)); return }
      s.end(Buffer.from([0xe0, 0]), () => resolve(ms))
    })
  })
}

interface Row { scenario: string; concurrency: number; perSecond: number; mean: number; p50: number; p99: number; cpuMsPerConnect: number }

async function measure (scenario: string, port: number, pid: number, concurrency: number, packetFor: (i: number) => Buffer): Promise<Row> {
  const latencies: number[] = []
  let next = 0
  const ticks0 = cpuTicks(pid) ?? 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) latencies.push(await oneConnect(port, packetFor(next++)))
  }))
  const secs = (performance.now() - t0) / 1000
  const cpuMs = ((cpuTicks(pid) ?? 0) - ticks0) / CLK_TCK * 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number
  return {
    scenario,
    concurrency,
    perSecond: total / secs,
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    p50: at(0.5),
    p99: at(0.99),
    cpuMsPerConnect: cpuMs / total
  }
}

const kafka = await benchKafka(values.brokers)
const brokers = kafka.brokers
const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-connect-'))
let edge: WharfProcess | undefined
try {
  const topics = uniqueTopics('bench-connect')
  const hashEnv = { WHARF_AUTHENTICATION__PASSWORD_HASH_ALGORITHM__ITERATIONS: values.iterations }
  const config = join(dir, 'wharf.yaml')
  // anonymous clients are let in beside the users, so both kinds of CONNECT run on one edge
  await writeFile(config, 'allow_anonymous: true\nauthentication:\n  chain: [built_in_database]\nflapping_detect:\n  enable: false\n')
  const password = `bench-${randomUUID()}`
  await wharf(['users', 'add', 'bench', '--password-stdin'], { env: { WHARF_KAFKA__BROKERS: brokers.join(','), ...topicsEnv(topics), ...hashEnv }, input: password })
  edge = await WharfProcess.start({ brokers, topics, nodeName: 'bench-connect', args: ['--config', config], env: hashEnv, keepLines: 50, ...(values.profile === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] }) })
  const port = edge.mqttPort
  const pid = edge.pid
  const run = randomUUID().slice(0, 6)
  const scenarios: Array<[string, (i: number) => Buffer]> = [
    ['anonymous, clean session', i => connectPacket(`a-${run}-${i}`, true)],
    ['pbkdf2 login, clean session', i => connectPacket(`p-${run}-${i}`, true, 'bench', password)],
    ['anonymous, persistent session', i => connectPacket(`ap-${run}-${i}`, false)],
    ['pbkdf2 login, persistent session', i => connectPacket(`pp-${run}-${i}`, false, 'bench', password)]
  ]
  // warm up (JIT, Kafka connections, the first session records)
  for (const [, packet] of scenarios) for (let i = 0; i < 20; i++) await oneConnect(port, packet(100000 + i))
  const rows: Row[] = []
  for (const concurrency of levels) {
    for (const [name, packet] of scenarios) {
      const row = await measure(name, port, pid, concurrency, i => packet(concurrency * 1000000 + i))
      rows.push(row)
      process.stderr.write(`# ${name}, ${concurrency} at once: ${row.perSecond.toFixed(0)}/s\n`)
    }
  }
  console.log(`# connect-rate: ${total} CONNECTs per row, node ${process.version}, ${cpus()[0]?.model ?? '?'}, ${availableParallelism()} CPUs; edge + Kafka + load generator on one machine`)
  console.log(`# password_hash_algorithm pbkdf2-sha256, ${values.iterations} iterations; CPU = the edge process' user+system time per CONNECT`)
  console.log('scenario                          at once  CONNECTs/s  mean ms  p50 ms  p99 ms  edge CPU ms/CONNECT')
  for (const r of rows) {
    console.log(`${r.scenario.padEnd(33)} ${String(r.concurrency).padStart(7)}  ${r.perSecond.toFixed(0).padStart(10)}  ${r.mean.toFixed(1).padStart(7)}  ${r.p50.toFixed(1).padStart(6)}  ${r.p99.toFixed(1).padStart(6)}  ${r.cpuMsPerConnect.toFixed(2).padStart(19)}`)
  }
} finally {
  await edge?.stop()
  await rm(dir, { recursive: true, force: true })
  await kafka.stop()
}
