/**
 * What a node's REST API costs under load (issue 16): `GET /api/v1/clients` with 10,000 clients in
 * the presence view. One real edge on a local Kafka; 10,000 presence records (connected clients of
 * that node's incarnation, one subscription each) are written straight to the clients topic with
 * kafkajs, as the nodes would write them; once the node's view holds them, a loop of `--concurrency`
 * keep-alive HTTP requests runs for `--seconds` per query. Prints requests/s, latency (mean, p50,
 * p99) and the node's CPU time per request (from /proc).
 *
 *   npm run build && node --import tsx bench/api-clients.ts [--clients 10000] [--seconds 5]
 *                                                         [--concurrency 16] [--brokers host:port]
 *
 * Without --brokers a single-node local Kafka is started in a temporary folder and stopped at the end.
 */
import { execFile } from 'node:child_process'
import { Agent, request } from 'node:http'
import { availableParallelism, cpus } from 'node:os'
import { parseArgs, promisify } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import { encodeClientRecord, type ClientRecord } from '../src/presence/client-record.js'
import { addApiKey } from '../test/support/ops-api.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { benchKafka } from './lib/bench-kafka.js'
import { cpuTicks } from './lib/proc-stats.js'

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    brokers: { type: 'string' }
  }
})
const CLIENTS = Number(values.clients)
const SECONDS = Number(values.seconds)
const CONCURRENCY = Number(values.concurrency)
const CLK_TCK = 100
const run = promisify(execFile)

/** The incarnation id of `node`'s last heartbeat (kcat on the nodes topic). */
async function incarnationOf (brokers: string[], topic: string, node: string): Promise<string> {
  const { stdout } = await run('kcat', ['-b', brokers.join(','), '-t', topic, '-C', '-e', '-q', '-f', '%s\n'], { maxBuffer: 64 << 20 })
  let inc: string | undefined
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const r = JSON.parse(line) as { type?: string; node?: string; inc?: string }
    if (r.type === 'heartbeat' && r.node === node && r.inc !== undefined) inc = r.inc
  }
  if (inc === undefined) throw new Error(`no heartbeat of ${node} in ${topic}`)
  return inc
}

interface Row { query: string; perSecond: number; mean: number; p50: number; p99: number; cpuMsPerRequest: number; bytes: number }

async function measure (query: string, port: number, pid: number, auth: string): Promise<Row> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const get = (): Promise<{ ms: number; bytes: number }> => new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = request({ host: '127.0.0.1', port, path: `/api/v1${query}`, agent, headers: { authorization: auth } }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => { bytes += c.length })
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${query}: ${res.statusCode ?? '?'}`))
        else resolve({ ms: performance.now() - t0, bytes })
      })
    })
    req.on('error', reject)
    req.end()
  })
  for (let i = 0; i < 50; i++) await get() // warm up (JIT, sockets)
  const latencies: number[] = []
  let bytes = 0
  const ticks0 = cpuTicks(pid) ?? 0
  const t0 = performance.now()
  const end = t0 + SECONDS * 1000
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < end) {
      const r = await get()
      latencies.push(r.ms)
      bytes = r.bytes
    }
  }))
  const secs = (performance.now() - t0) / 1000
  const cpuMs = ((cpuTicks(pid) ?? 0) - ticks0) / CLK_TCK * 1000
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number
  return {
    query,
    perSecond: latencies.length / secs,
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    p50: at(0.5),
    p99: at(0.99),
    cpuMsPerRequest: cpuMs / latencies.length,
    bytes
  }
}

const kafka = await benchKafka(values.brokers)
const brokers = kafka.brokers
let edge: WharfProcess | undefined
const producerClient = new Kafka({ clientId: 'bench-api-clients', brokers, logLevel: logLevel.NOTHING })
const producer = producerClient.producer()
try {
  const topics = uniqueTopics('bench-api')
  const nodeName = 'bench-api'
  edge = await WharfProcess.start({ brokers, topics, nodeName, keepLines: 50 })
  const key = await addApiKey(brokers, topics, 'bench')
  const auth = `Basic ${Buffer.from(key).toString('base64')}`
  const inc = await incarnationOf(brokers, topics.nodes, nodeName)

  // 10,000 connected clients of this node's incarnation, written as the nodes write them
  await producer.connect()
  const now = Date.now()
  const ids = Array.from({ length: CLIENTS }, (_, i) => `device-${String(i).padStart(5, '0')}`)
  for (let from = 0; from < ids.length; from += 1000) {
    const messages = ids.slice(from, from + 1000).map((clientId, i) => {
      const record: ClientRecord = {
        v: 1, clientId, node: nodeName, inc, conn: `bench-${from + i}`, connected: true, username: `user-${(from + i) % 100}`,
        peerhost: `10.0.${(from + i) >> 8 & 255}.${(from + i) & 255}`, listener: 'tcp:default', protoVer: 4, clean: true, keepalive: 60,
        expiryS: 0, subs: [[`devices/${clientId}/cmd`, 1]], connectedAt: now, at: now
      }
      return { key: clientId, value: encodeClientRecord(record) }
    })
    await producer.send({ topic: topics.clients, messages })
  }
  // wait for the node's view to hold them
  const deadline = Date.now() + 60_000
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${edge.httpPort}/api/v1/stats`, { headers: { authorization: auth } })
    const stats = await res.json() as { cluster: { clients_connected: number } }
    if (stats.cluster.clients_connected >= CLIENTS) break
    if (Date.now() > deadline) throw new Error(`the view holds ${stats.cluster.clients_connected} connected clients after 60 s`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }

  const queries = [
    '/clients', // the first page (100)
    '/clients?page=50&limit=100', // a page in the middle
    '/clients?limit=1000',
    '/clients?clientid_prefix=device-0421', // prefix: a binary search and 10 records
    `/clients?node=${nodeName}&username=user-7&limit=100`, // filters: every record looked at
    '/clients?connected=true&limit=100', // liveness of every record
    '/clients/device-04217' // one client with its session
  ]
  const rows: Row[] = []
  for (const q of queries) {
    const row = await measure(q, edge.httpPort, edge.pid, auth)
    rows.push(row)
    process.stderr.write(`# GET ${q}: ${row.perSecond.toFixed(0)}/s\n`)
  }
  console.log(`# api-clients: ${CLIENTS} clients in the presence view, ${CONCURRENCY} keep-alive requests at once, ${SECONDS} s per query; node ${process.version}, ${cpus()[0]?.model ?? '?'}, ${availableParallelism()} CPUs; edge + Kafka + load generator on one machine`)
  console.log('# CPU = the edge process\' user+system time per request')
  console.log('query                                               requests/s  mean ms  p50 ms  p99 ms  edge CPU ms/req  body bytes')
  for (const r of rows) {
    console.log(`GET ${r.query.padEnd(48)} ${r.perSecond.toFixed(0).padStart(10)}  ${r.mean.toFixed(1).padStart(7)}  ${r.p50.toFixed(1).padStart(6)}  ${r.p99.toFixed(1).padStart(6)}  ${r.cpuMsPerRequest.toFixed(2).padStart(15)}  ${String(r.bytes).padStart(10)}`)
  }
} finally {
  await producer.disconnect().catch(() => undefined)
  await edge?.stop()
  await kafka.stop()
}
