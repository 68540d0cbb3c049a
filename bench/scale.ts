/**
 * The `scale` scenario (issue 20): three edges on one Kafka, fixed rates, and what each edge pays.
 *
 *   npm run bench -- scale [--rate 2000] [--seconds 20] [--devices 300] [--brokers host:port]
 *
 * (a) device telemetry with no MQTT subscriber; (b) one exact-topic subscriber on edge B; (c) one
 * `telemetry/#` subscriber on edge B; (d) 300 devices per edge, each subscribed to its own command
 * topic, commands produced by a plain Kafka producer as a backend would. Per edge: CPU over the
 * window less its idle CPU, µs per message of the stream, and bytes fetched from Kafka for the data
 * topics (the node's own counters in /metrics; an edge without them, `BENCH_WHARF_CLI` pointing at an older
 * build, reports CPU only). The idle cost of each edge is measured first.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import mqtt, { type MqttClient } from 'mqtt'
import { LocalKafka } from '../src/local-kafka/index.js'
import { createLogger } from '../src/observability/logger.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { cpuTicks } from './lib/proc-stats.js'

export interface ScaleOptions {
  rate: number
  seconds: number
  devicesPerEdge: number
  brokers?: string[] | undefined
  log: (line: string) => void
}

interface EdgeReading { cpuSeconds: number; fetchedBytes: number | undefined }

const CLK_TCK = 100
const PAYLOAD = Buffer.alloc(64, 'x')

async function fetchedBytes (node: WharfProcess): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text()
  // a build without the fetch counters reports none; one with them reports 0 before its first fetch
  let total: number | undefined = text.includes('wharf_live_partitions') ? 0 : undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith('wharf_kafka_fetched_bytes_total{') || !line.includes('reader="messages"')) continue
    total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

async function read (nodes: WharfProcess[]): Promise<EdgeReading[]> {
  return await Promise.all(nodes.map(async n => ({ cpuSeconds: (cpuTicks(n.pid) ?? 0) / CLK_TCK, fetchedBytes: await fetchedBytes(n) })))
}

async function connect (url: string, clientId?: string): Promise<MqttClient> {
  const c = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, ...(clientId === undefined ? {} : { clientId }) })
  await new Promise<void>((resolve, reject) => { c.once('connect', () => resolve()); c.once('error', reject) })
  return c
}

/** Publishes QoS 1 messages at `rate` per second for `seconds`, round robin over the topics; resolves with the count. */
async function stream (publish: (i: number) => Promise<void>, rate: number, seconds: number): Promise<number> {
  const t0 = performance.now()
  let sent = 0
  const inFlight = new Set<Promise<void>>()
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor((performance.now() - t0) / 1000 * rate)
    while (sent < due && inFlight.size < 500) {
      const p = publish(sent++).finally(() => inFlight.delete(p))
      inFlight.add(p)
    }
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  await Promise.all(inFlight)
  return sent
}

export async function runScale (opts: ScaleOptions): Promise<string[]> {
  const logger = createLogger({ level: 'warn' })
  let local: LocalKafka | undefined
  let dir: string | undefined
  let brokers = opts.brokers
  if (brokers === undefined) {
    dir = await mkdtemp(join(tmpdir(), 'wharf-bench-scale-'))
    local = await LocalKafka.start({ dir, nodes: 1, port: 0, logger })
    brokers = local.brokers
  }
  const topics = uniqueTopics('scale')
  const telemetry = `telemetry.${topics.messages.slice(-8)}`
  const commands = `commands.${topics.messages.slice(-8)}`
  const configDir = await mkdtemp(join(tmpdir(), 'wharf-bench-scale-cfg-'))
  const config = join(configDir, 'wharf.yaml')
  await writeFile(config, [
    'mapping:',
    '  rules:',
    `    - { filter: "telemetry/#", kafka_topic: "${telemetry}", key: "{2}" }`,
    `    - { filter: "devices/+/commands", kafka_topic: "${commands}", key: "{2}", qos: 1, mqtt_topic: "devices/\${key}/commands" }`,
    ''
  ].join('\n'))
  const env = { WHARF_TOPICS__MESSAGES__PARTITIONS: '6' }
  const nodes: WharfProcess[] = []
  const clients: MqttClient[] = []
  const out: string[] = []
  const kafka = new Kafka({ brokers, clientId: 'bench-scale', logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  try {
    for (let i = 0; i < 3; i++) nodes.push(await WharfProcess.start({ brokers, topics, env, args: ['--config', config], keepLines: 200 }))
    await producer.connect()
    const names = ['A', 'B', 'C']
    const header = '| workload | edge | CPU % of a core (less idle) | µs CPU per stream message | MiB fetched (data topics) |'
    out.push(header, '|---|---|---|---|---|')

    // idle: every edge, no client, no traffic
    const idle0 = await read(nodes)
    const idleSeconds = Math.max(10, opts.seconds)
    await new Promise(resolve => setTimeout(resolve, idleSeconds * 1000))
    const idle1 = await read(nodes)
    const idlePct = idle1.map((r, i) => (r.cpuSeconds - (idle0[i] as EdgeReading).cpuSeconds) / idleSeconds * 100)
    idlePct.forEach((pct, i) => out.push(`| idle (no client, no traffic) | ${names[i] as string} | ${pct.toFixed(2)} (absolute) | - | - |`))
    opts.log(`idle: ${idlePct.map(p => p.toFixed(2)).join(' / ')} % of a core`)

    const measure = async (name: string, run: () => Promise<number>): Promise<void> => {
      const before = await read(nodes)
      const t0 = performance.now()
      const count = await run()
      const secs = (performance.now() - t0) / 1000
      const after = await read(nodes)
      after.forEach((r, i) => {
        const b = before[i] as EdgeReading
        const cpu = r.cpuSeconds - b.cpuSeconds - (idlePct[i] as number) / 100 * secs
        const fetched = r.fetchedBytes === undefined || b.fetchedBytes === undefined ? '-' : ((r.fetchedBytes - b.fetchedBytes) / 1048576).toFixed(2)
        out.push(`| ${name} | ${names[i] as string} | ${(cpu / secs * 100).toFixed(1)} | ${(cpu / count * 1e6).toFixed(1)} | ${fetched} |`)
      })
      opts.log(`${name}: ${count} messages in ${secs.toFixed(1)} s`)
    }

    // telemetry from 500 devices published into edge A
    const pub = await connect((nodes[0] as WharfProcess).url)
    clients.push(pub)
    const telemetryStream = (): Promise<number> => stream(i => pub.publishAsync(`telemetry/dev${i % 500}/temp`, PAYLOAD, { qos: 1 }).then(() => undefined), opts.rate, opts.seconds)

    await measure('(a) telemetry, no MQTT subscriber', telemetryStream)

    const exact = await connect((nodes[1] as WharfProcess).url)
    clients.push(exact)
    await exact.subscribeAsync('telemetry/dev7/temp', { qos: 1 })
    await measure('(b) one exact-topic subscriber on B', telemetryStream)
    await exact.endAsync()

    const all = await connect((nodes[1] as WharfProcess).url)
    clients.push(all)
    await all.subscribeAsync('telemetry/#', { qos: 1 })
    await measure('(c) one telemetry/# subscriber on B', telemetryStream)
    await all.endAsync()

    // 300 devices per edge, each on its own command topic; a backend produces commands for all of them
    const devices: string[] = []
    for (let e = 0; e < 3; e++) {
      for (let d = 0; d < opts.devicesPerEdge; d++) {
        const id = `e${e}d${d}`
        devices.push(id)
        const c = await connect((nodes[e] as WharfProcess).url, id)
        clients.push(c)
        await c.subscribeAsync(`devices/${id}/commands`, { qos: 1 })
      }
    }
    await measure(`(d) ${opts.devicesPerEdge} devices per edge, commands from a Kafka producer`, () =>
      stream(i => producer.send({ topic: commands, messages: [{ key: devices[i % devices.length] as string, value: PAYLOAD }] }).then(() => undefined), opts.rate, opts.seconds))
    return out
  } finally {
    await Promise.all(clients.map(c => c.endAsync(true).catch(() => undefined)))
    await producer.disconnect().catch(() => undefined)
    await Promise.all(nodes.map(n => n.stop()))
    await rm(configDir, { recursive: true, force: true })
    if (local !== undefined) await local.stop()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  }
}
