/**
 * What reading a record costs a node (issue 20): CPU µs per record for
 *   (a) a kafkajs consumer, which decodes every record it fetches,
 *   (b) the PartitionFetcher skipping every record by its key (kafka/record-batches.ts),
 *   (c) the PartitionFetcher delivering every record (kafkajs' record shape),
 * over the same records: 64-byte values, keys like MQTT topics, the six `mqtt.*` headers Wharf writes.
 * First in this process on record sets kafkajs encoded (decode only, no network: the steadiest
 * figures), then against a real Kafka (fetch over TCP, the CPU of this whole process while it reads
 * the topic from the start). Last, the CPU of a fetcher with partitions assigned and no traffic.
 *
 *   node --import tsx bench/fetch-skip.ts [--records 100000] [--rounds 3] [--gzip] [--brokers host:port] [--idle-seconds 10]
 *
 * Without --brokers a single-node local Kafka is started in a temporary folder and stopped at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CompressionTypes, Kafka, logLevel } from 'kafkajs'
import { LocalKafka } from '../src/local-kafka/index.js'
import { createLogger } from '../src/observability/logger.js'
import { decodeFetchResponseV11 } from '../src/kafka/fetch-response.js'
import { PartitionFetcher } from '../src/kafka/partition-fetcher.js'
import { parseRecordSet, type RecordFilter } from '../src/kafka/record-batches.js'
import { encodeBatch, fetchResponse, GZIP, kafkajsDecodeFetch, wharfHeaders } from '../test/support/record-sets.js'

const { values } = parseArgs({
  options: {
    records: { type: 'string' },
    rounds: { type: 'string' },
    gzip: { type: 'boolean', default: false },
    brokers: { type: 'string' },
    'idle-seconds': { type: 'string' }
  }
})
const RECORDS = Number(values.records ?? 100_000)
const ROUNDS = Number(values.rounds ?? 3)
const IDLE_S = Number(values['idle-seconds'] ?? 10)
const PER_BATCH = 500 // records per producer batch (what a busy edge's batching producer sends)
const log = (line: string): void => { process.stderr.write(line + '\n') }
const logger = createLogger({ level: 'warn' })

const skipAll: RecordFilter = { wants: (key) => key === null } // every record has a key: nothing is wanted
const mqttTopic = (i: number): string => `devices/d${i % 500}/telemetry`

function cpuUs (): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

const round2 = (n: number): number => Math.round(n * 100) / 100

// ---- decode only, in this process --------------------------------------------------------------

async function offline (): Promise<Record<string, number>> {
  const batches: Buffer[] = []
  for (let base = 0; base < RECORDS; base += PER_BATCH) {
    const n = Math.min(PER_BATCH, RECORDS - base)
    batches.push(await encodeBatch({
      baseOffset: String(base),
      compression: values.gzip === true ? GZIP : 0,
      records: Array.from({ length: n }, (_v, k) => ({ key: mqttTopic(base + k), value: Buffer.alloc(64, k), headers: wharfHeaders(mqttTopic(base + k), base + k), timestampDelta: k }))
    }))
  }
  // responses of ~1 MiB, as one partition's fetch brings them
  const responses: Buffer[] = []
  for (let i = 0, size = 0, group: Buffer[] = []; i < batches.length; i++) {
    group.push(batches[i] as Buffer)
    size += (batches[i] as Buffer).length
    if (size >= 1024 * 1024 || i === batches.length - 1) {
      responses.push(fetchResponse([{ topic: 'bench', partitions: [{ partition: 0, records: Buffer.concat(group) }] }]))
      group = []
      size = 0
    }
  }
  const ways: Record<string, () => Promise<number>> = {
    'kafkajs Fetch v11 decoder': async () => {
      let n = 0
      for (const r of responses) for (const t of (await kafkajsDecodeFetch(r)).responses) for (const p of t.partitions) n += p.messages.length
      return n
    },
    'fetcher, skipping every record by key': async () => {
      let n = 0
      for (const r of responses) for (const t of decodeFetchResponseV11(r).topics) for (const p of t.partitions) n += (await parseRecordSet(p.records as Buffer, 0n, skipAll)).skipped
      return n
    },
    'fetcher, delivering every record': async () => {
      let n = 0
      for (const r of responses) for (const t of decodeFetchResponseV11(r).topics) for (const p of t.partitions) n += (await parseRecordSet(p.records as Buffer, 0n)).records.length
      return n
    }
  }
  const result: Record<string, number> = {}
  for (const [name, run] of Object.entries(ways)) {
    await run() // warm up
    const samples: number[] = []
    for (let r = 0; r < ROUNDS; r++) {
      const before = cpuUs()
      const n = await run()
      if (n !== RECORDS) throw new Error(`${name}: ${n} of ${RECORDS} records`)
      samples.push((cpuUs() - before) / n)
    }
    result[name] = round2(median(samples))
    log(`  decode only, ${name}: ${result[name]} µs/record (rounds: ${samples.map(round2).join(', ')})`)
  }
  return result
}

// ---- against Kafka -----------------------------------------------------------------------------

async function produce (kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true })
  await admin.disconnect()
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  for (let base = 0; base < RECORDS; base += PER_BATCH) {
    const n = Math.min(PER_BATCH, RECORDS - base)
    await producer.send({
      topic,
      acks: -1,
      compression: values.gzip === true ? CompressionTypes.GZIP : CompressionTypes.None,
      messages: Array.from({ length: n }, (_v, k) => ({ partition: 0, key: mqttTopic(base + k), value: Buffer.alloc(64, k), headers: wharfHeaders(mqttTopic(base + k), base + k) }))
    })
  }
  await producer.disconnect()
}

async function viaConsumer (kafka: Kafka, topic: string): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-fetch-skip-${Math.random()}`, maxWaitTimeInMs: 250 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let n = 0
  let before = 0
  let done: () => void = () => undefined
  const finished = new Promise<void>((resolve) => { done = resolve })
  before = cpuUs()
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      n += batch.messages.length
      if (n >= RECORDS) done()
    }
  })
  await finished
  const us = (cpuUs() - before) / n
  await consumer.disconnect()
  return us
}

async function viaFetcher (kafka: Kafka, topic: string, filter: RecordFilter | undefined): Promise<number> {
  let n = 0
  const fetcher = new PartitionFetcher(kafka, { purpose: 'bench', onBatch: async (_t, _p, records) => { n += records.length } }, logger)
  await fetcher.start()
  fetcher.setFilter(topic, filter)
  const before = cpuUs()
  fetcher.assign(topic, 0, 0n)
  await fetcher.waitForPosition(topic, 0, BigInt(RECORDS))
  const us = (cpuUs() - before) / RECORDS
  const c = fetcher.topicCounters.get(topic)
  if (c?.recordsFetched !== RECORDS || n !== (filter === undefined ? RECORDS : 0)) throw new Error(`fetched ${c?.recordsFetched}, delivered ${n}`)
  await fetcher.stop()
  return us
}

/** % of one core a fetcher spends with `partitions` partitions assigned and nothing to read. */
async function idle (kafka: Kafka, topic: string, partitions: number): Promise<{ cpuPct: number, fetchesPerSec: number }> {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true })
  await admin.disconnect()
  const fetcher = new PartitionFetcher(kafka, { purpose: 'idle', onBatch: async () => undefined }, logger)
  await fetcher.start()
  const ends = await fetcher.latestOffsets(Array.from({ length: partitions }, (_v, partition) => ({ topic, partition })))
  for (let p = 0; p < partitions; p++) fetcher.assign(topic, p, ends.get(`${topic}:${p}`) as bigint)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const before = cpuUs()
  const requests = fetcher.fetchRequests
  const t0 = performance.now()
  await new Promise((resolve) => setTimeout(resolve, IDLE_S * 1000))
  const ms = performance.now() - t0
  const result = { cpuPct: round2((cpuUs() - before) / 1000 / ms * 100), fetchesPerSec: round2((fetcher.fetchRequests - requests) / ms * 1000) }
  await fetcher.stop()
  return result
}

const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-fetch-'))
let local: LocalKafka | undefined
try {
  log(`${RECORDS} records of 64 B with 6 mqtt.* headers, ${PER_BATCH} per batch${values.gzip === true ? ', gzip' : ''}; median of ${ROUNDS} rounds`)
  const decodeOnly = await offline()

  let brokers = values.brokers?.split(',')
  if (brokers === undefined) {
    log('starting a local single-node Kafka')
    local = await LocalKafka.start({ dir: join(dir, 'kafka'), nodes: 1, port: 0, logger })
    brokers = local.brokers
  }
  const kafka = new Kafka({ clientId: 'bench-fetch-skip', brokers, logLevel: logLevel.NOTHING })
  const topic = `bench.fetch-skip.${Date.now()}`
  log(`producing to ${topic}`)
  await produce(kafka, topic)
  const live: Record<string, number[]> = { 'kafkajs consumer (decodes every record)': [], 'fetcher, skipping every record by key': [], 'fetcher, delivering every record': [] }
  for (let r = 0; r < ROUNDS + 1; r++) { // the first round warms up the JIT and Kafka's page cache
    const a = await viaConsumer(kafka, topic)
    const b = await viaFetcher(kafka, topic, skipAll)
    const c = await viaFetcher(kafka, topic, undefined)
    if (r === 0) continue
    live['kafkajs consumer (decodes every record)']?.push(a)
    live['fetcher, skipping every record by key']?.push(b)
    live['fetcher, delivering every record']?.push(c)
    log(`  round ${r}: consumer ${round2(a)}, fetcher skipping ${round2(b)}, fetcher delivering ${round2(c)} µs/record`)
  }
  log(`idle: ${IDLE_S} s with 6 partitions assigned and no traffic`)
  const idleCost = await idle(kafka, `bench.fetch-idle.${Date.now()}`, 6)

  console.log(`\nfetch-skip: ${RECORDS} records of 64 B, key = MQTT topic, 6 mqtt.* headers, ${PER_BATCH} per batch${values.gzip === true ? ', gzip' : ''}; CPU µs per record, median of ${ROUNDS} rounds\n`)
  console.log('| reader | decode only (in process) | fetched from Kafka (whole process) |')
  console.log('|---|---|---|')
  const offlineNames = ['kafkajs Fetch v11 decoder', 'fetcher, skipping every record by key', 'fetcher, delivering every record']
  Object.keys(live).forEach((name, i) => {
    console.log(`| ${name} | ${decodeOnly[offlineNames[i] as string]} | ${round2(median(live[name] as number[]))} |`)
  })
  console.log(`\nidle fetcher, 6 partitions assigned, no traffic: ${idleCost.cpuPct} % of one core, ${idleCost.fetchesPerSec} Fetch requests/s`)
} finally {
  await local?.stop()
  await rm(dir, { recursive: true, force: true })
}
