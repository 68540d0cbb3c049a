/**
 * Durable sessions (issue 5), two measurements on two Wharf edges sharing one Kafka:
 *
 * 1. Catch-up: a persistent (clean session = 0) QoS 1 subscriber goes offline, `--messages` QoS 1
 *    16-byte messages are published through edge A, it reconnects to edge B. Replay rate = messages
 *    / (last message - CONNACK); resume time = CONNECT sent -> last message. Checks order (per MQTT
 *    topic), duplicates and losses.
 * 2. Kafka bytes written per published message with 1, 10 and 100 offline persistent subscribers:
 *    the growth of the `*.log` segment files of the local Kafka's data directory (one replica), per
 *    topic folder (data topic, sessions topic, everything else), while `--bytes-messages` QoS 1 16-byte
 *    messages are published. The same load against plain aedes with aedes-persistence in memory
 *    (in this process) counts the entries its offline queues get (one copy per subscriber).
 *
 *   npm run bench:sessions [-- --messages 100000] [--bytes-messages 10000] [--subscribers 1,10,100]
 *                          [--window 200] [--no-aedes] [--brokers host:port --kafka-data-dir DIR]
 *
 * Without --brokers a single-node local Kafka is started in a temporary folder and stopped at the
 * end; with --brokers the byte counts need the broker's log.dirs (--kafka-data-dir), else they are skipped.
 */
import { readdirSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createRequire } from 'node:module'
import { Aedes } from 'aedes'
import type { AedesMemoryPersistence } from 'aedes-persistence'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { LocalKafka } from '../src/local-kafka/index.js'
import { nodePaths } from '../src/local-kafka/server-properties.js'
import { createLogger } from '../src/observability/logger.js'
import { uniqueTopics, WharfProcess, type WharfTopics } from '../test/support/wharf-process.js'
import { ProcSampler } from './lib/proc-stats.js'

const { values } = parseArgs({
  options: {
    messages: { type: 'string' },
    'bytes-messages': { type: 'string' },
    subscribers: { type: 'string' },
    window: { type: 'string' },
    'no-aedes': { type: 'boolean', default: false },
    brokers: { type: 'string' },
    'kafka-data-dir': { type: 'string' }
  }
})
const log = (line: string): void => { process.stderr.write(line + '\n') }
const CATCHUP = Number(values.messages ?? 100000)
const BYTES_MESSAGES = Number(values['bytes-messages'] ?? 10000)
const SUBSCRIBER_COUNTS = (values.subscribers ?? '1,10,100').split(',').map(Number)
const WINDOW = Number(values.window ?? 200)
const PAYLOAD_BYTES = 16
const CATCHUP_TOPICS = 8

/** A 16-byte payload that carries its sequence number. */
const payloadOf = (seq: number): Buffer => Buffer.from(String(seq).padStart(PAYLOAD_BYTES, '0'))
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function connect (url: string, clientId: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 60000, clientId, clean: false, ...opts })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
  })
  return client
}

/** A persistent session subscribed to `filter` at QoS 1, left offline. */
async function offlineSubscriber (url: string, clientId: string, filter: string): Promise<void> {
  const c = await connect(url, clientId)
  await c.subscribeAsync(filter, { qos: 1 })
  await c.endAsync()
}

/** Publish `count` QoS 1 messages with `WINDOW` in flight; resolves when every PUBACK is in. Returns msg/s. */
async function publish (url: string, clientId: string, count: number, topicOf: (seq: number) => string): Promise<number> {
  const client = await connect(url, clientId, { clean: true })
  const t0 = performance.now()
  await new Promise<void>((resolve, reject) => {
    let next = 0
    let acked = 0
    const pump = (): void => {
      while (next < count && next - acked < WINDOW) {
        const seq = next++
        client.publish(topicOf(seq), payloadOf(seq), { qos: 1 }, err => {
          if (err !== undefined && err !== null) { reject(err); return }
          if (++acked === count) resolve()
          else pump()
        })
      }
    }
    pump()
  })
  const rate = Math.round(count / ((performance.now() - t0) / 1000))
  await client.endAsync()
  return rate
}

// ---- Kafka log sizes

/** Bytes of the `*.log` segment files per topic-partition folder of a Kafka data directory. */
function logBytes (dataDir: string): Map<string, number> {
  const sizes = new Map<string, number>()
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue
    let bytes = 0
    try {
      for (const f of readdirSync(join(dataDir, entry.name))) {
        if (f.endsWith('.log')) bytes += statSync(join(dataDir, entry.name, f)).size
      }
    } catch { continue } // a folder deleted meanwhile
    sizes.set(entry.name, bytes)
  }
  return sizes
}

interface Split { data: number; sessions: number; other: number }

/** Growth between two snapshots, split into the data topic, the sessions topic and the rest. */
function growth (before: Map<string, number>, after: Map<string, number>, topics: WharfTopics): Split {
  const out: Split = { data: 0, sessions: 0, other: 0 }
  const partitionOf = (folder: string, topic: string): boolean => folder.startsWith(topic + '-') && /^\d+$/.test(folder.slice(topic.length + 1))
  for (const [folder, bytes] of after) {
    const d = bytes - (before.get(folder) ?? 0)
    if (partitionOf(folder, topics.messages)) out.data += d
    else if (partitionOf(folder, topics.sessions)) out.sessions += d
    else out.other += d
  }
  return out
}

// ---- aedes with aedes-persistence in memory

interface AedesRow { subscribers: number; entries: number; entriesPerMessage: number; storedBytesPerMessage: number; heapBytesPerMessage: number | undefined }

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as (() => void) | undefined
const memory = createRequire(import.meta.url)('aedes-persistence') as () => AedesMemoryPersistence

async function aedesRun (subscribers: number): Promise<AedesRow> {
  const tag = String(subscribers).padStart(4, '0')
  const persistence = memory()
  let entries = 0
  let storedBytes = 0
  const p = persistence as unknown as Record<string, (...args: unknown[]) => Promise<void>>
  const combi = p.outgoingEnqueueCombi?.bind(persistence)
  const single = p.outgoingEnqueue?.bind(persistence)
  const count = (subs: number, packet: { topic: string; payload: Buffer }): void => {
    entries += subs
    storedBytes += subs * (Buffer.byteLength(packet.topic) + packet.payload.length)
  }
  p.outgoingEnqueueCombi = async (subs, packet) => { count((subs as unknown[]).length, packet as { topic: string; payload: Buffer }); await combi?.(subs, packet) }
  p.outgoingEnqueue = async (sub, packet) => { count(1, packet as { topic: string; payload: Buffer }); await single?.(sub, packet) }
  const broker = await Aedes.createBroker({ persistence })
  const server = createServer(broker.handle)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  const url = `mqtt://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`
  try {
    for (let i = 0; i < subscribers; i++) await offlineSubscriber(url, `aedes-off-${tag}-${i}`, `by/${tag}/#`)
    gc?.()
    const heap0 = process.memoryUsage().heapUsed
    await publish(url, `aedes-pub-${tag}`, BYTES_MESSAGES, () => `by/${tag}/t`)
    await sleep(200)
    gc?.()
    const heap = process.memoryUsage().heapUsed - heap0
    return {
      subscribers,
      entries,
      entriesPerMessage: entries / BYTES_MESSAGES,
      storedBytesPerMessage: storedBytes / BYTES_MESSAGES,
      heapBytesPerMessage: gc === undefined ? undefined : Math.round(heap / BYTES_MESSAGES)
    }
  } finally {
    await new Promise<void>(resolve => server.close(() => resolve()))
    await new Promise<void>(resolve => broker.close(() => resolve()))
  }
}

// ---- the run

interface CatchUp {
  messages: number
  publishedPerSec: number
  connackMs: number
  replayMs: number
  resumeMs: number
  replayedPerSec: number
  received: number
  duplicates: number
  missing: number
  outOfOrder: number
  edgeCpuPct: number
  clientCpuPct: number
  kafkaCpuPct: number | undefined
}
interface BytesRow { subscribers: number; sessionBytesPerSubscriber: number | undefined; perMessage: Split | undefined; publishedPerSec: number }

const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-sessions-'))
let kafka: LocalKafka | undefined
let edges: WharfProcess[] = []
let catchUp: CatchUp | undefined
const bytesRows: BytesRow[] = []
const aedesRows: AedesRow[] = []
const load0 = loadavg()
try {
  let brokers = values.brokers?.split(',')
  let dataDir = values['kafka-data-dir']
  let kafkaPid: number | undefined
  if (brokers === undefined) {
    log('starting a local single-node Kafka')
    const kafkaDir = join(dir, 'kafka')
    kafka = await LocalKafka.start({ dir: kafkaDir, nodes: 1, port: 0, logger: createLogger({ level: 'warn' }) })
    brokers = kafka.brokers
    dataDir = nodePaths(kafkaDir, 1).dataDir
    kafkaPid = (await kafka.status())[0]?.pid
  }
  const topics = uniqueTopics('bench-sessions')
  // no offline limit: the catch-up backlog is the measurement
  const env = { WHARF_MQTT__MAX_OFFLINE_MESSAGES: '0' }
  edges = await Promise.all(['a', 'b'].map(n => WharfProcess.start({ brokers: brokers ?? [], topics, nodeName: `bench-sessions-${n}`, env, keepLines: 200 })))
  const [a, b] = edges as [WharfProcess, WharfProcess]

  // warm-up (not measured): a fresh Kafka JVM and fresh edges are slow until their JIT has run
  log('== warm-up: 20,000 QoS 1 messages through edge A to a persistent subscriber resuming on edge B (not measured)')
  await offlineSubscriber(a.url, 'warm-sub', 'warm/#')
  await publish(a.url, 'warm-pub', 20000, seq => `warm/${seq % CATCHUP_TOPICS}`)
  {
    const c = mqtt.connect(b.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 60000, clientId: 'warm-sub', clean: false })
    let n = 0
    c.on('message', () => { n++ })
    const deadline = Date.now() + 120000
    while (n < 20000 && Date.now() < deadline) await sleep(50)
    await c.endAsync()
  }

  // 1. catch-up
  log(`== catch-up: ${CATCHUP} QoS 1 ${PAYLOAD_BYTES}-byte messages to an offline persistent subscriber, resumed on the other edge`)
  await offlineSubscriber(a.url, 'catchup-sub', 'cu/#')
  const publishedPerSec = await publish(a.url, 'catchup-pub', CATCHUP, seq => `cu/${seq % CATCHUP_TOPICS}`)
  log(`  published at ${publishedPerSec} msg/s (QoS 1, ${WINDOW} in flight)`)
  await sleep(2000)
  {
    const seen = new Uint8Array(CATCHUP)
    const lastPerTopic = new Map<string, number>()
    let received = 0
    let duplicates = 0
    let outOfOrder = 0
    let distinct = 0
    let tLast = 0
    const sampler = new ProcSampler({ edge: b.pid, client: process.pid, ...(kafkaPid === undefined ? {} : { kafka: kafkaPid }) })
    const t0 = performance.now()
    const client = mqtt.connect(b.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 60000, clientId: 'catchup-sub', clean: false })
    client.on('message', (topic, payload) => {
      received++
      tLast = performance.now()
      const seq = Number(payload.toString())
      if (seen[seq] === 1) duplicates++
      else { seen[seq] = 1; distinct++ }
      if ((lastPerTopic.get(topic) ?? -1) > seq) outOfOrder++
      lastPerTopic.set(topic, seq)
    })
    const tConnack = await new Promise<number>((resolve, reject) => {
      client.once('connect', () => resolve(performance.now()))
      client.once('error', reject)
    })
    const deadline = Date.now() + 600000
    let lastCount = -1
    let quietSince = Date.now()
    while (distinct < CATCHUP && Date.now() < deadline) {
      await sleep(50)
      if (received !== lastCount) { lastCount = received; quietSince = Date.now() } else if (Date.now() - quietSince > 30000) break
    }
    const usage = sampler.stop()
    await sleep(500) // late duplicates
    await client.endAsync()
    const replayMs = tLast - tConnack
    catchUp = {
      messages: CATCHUP,
      publishedPerSec,
      connackMs: Math.round(tConnack - t0),
      replayMs: Math.round(replayMs),
      resumeMs: Math.round(tLast - t0),
      replayedPerSec: Math.round(distinct / (replayMs / 1000)),
      received,
      duplicates,
      missing: CATCHUP - distinct,
      outOfOrder,
      edgeCpuPct: usage.edge?.cpuPct ?? 0,
      clientCpuPct: usage.client?.cpuPct ?? 0,
      kafkaCpuPct: usage.kafka?.cpuPct
    }
    log(`  CONNACK after ${catchUp.connackMs} ms, last message ${catchUp.replayMs} ms after the CONNACK: ${catchUp.replayedPerSec} msg/s; received ${received}, duplicates ${duplicates}, missing ${catchUp.missing}, out of order ${outOfOrder}`)
  }

  // 2. Kafka bytes per published message with N offline subscribers
  for (const n of SUBSCRIBER_COUNTS) {
    // names of the same length for every N, so that the records (key = MQTT topic, client id header) are the same size
    const tag = String(n).padStart(4, '0')
    log(`== bytes: ${n} offline persistent subscriber(s), ${BYTES_MESSAGES} QoS 1 ${PAYLOAD_BYTES}-byte messages`)
    const s0 = dataDir === undefined ? undefined : logBytes(dataDir)
    for (let i = 0; i < n; i++) await offlineSubscriber((i % 2 === 0 ? a : b).url, `off-${tag}-${i}`, `by/${tag}/#`)
    await sleep(1500) // final session records written, any checkpoint done
    const s1 = dataDir === undefined ? undefined : logBytes(dataDir)
    const rate = await publish(a.url, `bytes-pub-${tag}`, BYTES_MESSAGES, () => `by/${tag}/t`)
    await sleep(2500) // a few checkpoint intervals: anything a session would write is in
    const s2 = dataDir === undefined ? undefined : logBytes(dataDir)
    let row: BytesRow = { subscribers: n, sessionBytesPerSubscriber: undefined, perMessage: undefined, publishedPerSec: rate }
    if (s0 !== undefined && s1 !== undefined && s2 !== undefined) {
      const setup = growth(s0, s1, topics)
      const g = growth(s1, s2, topics)
      row = {
        ...row,
        sessionBytesPerSubscriber: Math.round(setup.sessions / n),
        perMessage: { data: g.data / BYTES_MESSAGES, sessions: g.sessions / BYTES_MESSAGES, other: g.other / BYTES_MESSAGES }
      }
      log(`  per message: data topic ${row.perMessage?.data.toFixed(1)} B, sessions topic ${row.perMessage?.sessions.toFixed(2)} B, other topics ${row.perMessage?.other.toFixed(2)} B; session records at subscribe+disconnect ${row.sessionBytesPerSubscriber} B per subscriber`)
    }
    bytesRows.push(row)
  }
} finally {
  await Promise.all(edges.map(e => e.stop()))
  await kafka?.stop()
  await rm(dir, { recursive: true, force: true })
}

if (!values['no-aedes']) {
  for (const n of SUBSCRIBER_COUNTS) {
    log(`== aedes + aedes-persistence (memory): ${n} offline persistent subscriber(s), ${BYTES_MESSAGES} messages`)
    const r = await aedesRun(n)
    aedesRows.push(r)
    log(`  ${r.entries} queue entries (${r.entriesPerMessage} per message), heap +${r.heapBytesPerMessage ?? '?'} B per message`)
  }
}

// ---- report
const load1 = loadavg()
const fmt = (n: number | undefined, digits = 1): string => n === undefined ? 'n/a' : n.toFixed(digits)
console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load average ${load0[0]?.toFixed(2)} at start, ${load1[0]?.toFixed(2)} at the end; Node ${process.version}`)
if (catchUp !== undefined) {
  const c = catchUp
  console.log(`\ncatch-up: ${c.messages} QoS 1 ${PAYLOAD_BYTES} B messages over ${CATCHUP_TOPICS} MQTT topics (3 Kafka partitions), published through edge A at ${c.publishedPerSec} msg/s; the subscriber resumes on edge B\n`)
  console.log('| CONNECT → CONNACK ms | CONNACK → last message ms | replayed msg/s | resume total ms | received | duplicates | missing | out of order | edge B CPU % | Kafka CPU % | subscriber (bench process) CPU % |')
  console.log('|---|---|---|---|---|---|---|---|---|---|---|')
  console.log(`| ${c.connackMs} | ${c.replayMs} | ${c.replayedPerSec} | ${c.resumeMs} | ${c.received} | ${c.duplicates} | ${c.missing} | ${c.outOfOrder} | ${c.edgeCpuPct} | ${c.kafkaCpuPct ?? 'n/a'} | ${c.clientCpuPct} |`)
}
if (bytesRows.length > 0) {
  console.log(`\nKafka bytes appended per published message (${BYTES_MESSAGES} QoS 1 ${PAYLOAD_BYTES} B messages, one replica; growth of the *.log segment files)\n`)
  console.log('| offline subscribers | data topic B/msg | sessions topic B/msg | other topics B/msg | total B/msg | session records at subscribe + disconnect, B per subscriber | publish msg/s |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of bytesRows) {
    const m = r.perMessage
    console.log(`| ${r.subscribers} | ${fmt(m?.data)} | ${fmt(m?.sessions, 2)} | ${fmt(m?.other, 2)} | ${m === undefined ? 'n/a' : (m.data + m.sessions + m.other).toFixed(1)} | ${r.sessionBytesPerSubscriber ?? 'n/a'} | ${r.publishedPerSec} |`)
  }
}
if (aedesRows.length > 0) {
  console.log('\naedes 1.x + aedes-persistence (memory), same load: offline queue entries per published message\n')
  console.log('| offline subscribers | queue entries | entries per message | topic + payload bytes stored per message | heap growth per message B |')
  console.log('|---|---|---|---|---|')
  for (const r of aedesRows) console.log(`| ${r.subscribers} | ${r.entries} | ${r.entriesPerMessage} | ${r.storedBytesPerMessage.toFixed(0)} | ${r.heapBytesPerMessage ?? 'n/a'} |`)
}
process.exit(0)
