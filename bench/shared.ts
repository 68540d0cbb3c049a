/**
 * Shared subscriptions (issue 6), measured with a local Kafka and two Wharf edges (A and B):
 *
 * 1. Fan-in throughput: `--publishers` QoS 1 16-byte publishers (half on each edge, closed loop,
 *    `--window` in flight each) spread over `--topics` MQTT topics -> one group `$share/bench/<base>/#`
 *    of `--members` members, half on each edge. Delivered msg/s, latency p50/p99 (send timestamp in
 *    the payload, HDR histogram: bench/lib/loadgen.ts) and each member's share. References, same
 *    publishers and topics in the same run: the same deliveries to 10 plain subscribers (5 + 5, each
 *    subscribed to its own tenth of the topics: the same client-side work without the group) and a
 *    plain fan-in to one subscriber on `<base>/#` on edge B.
 * 2. Rebalance interruption: `--rate` msg/s QoS 1 from 10 publishers on edge A over 30 topics into a
 *    group `$share/rb/...` with 5 members on A, then (a) 5 members join on B (node B joins the Kafka
 *    group), (b) edge B is killed with SIGKILL (leaves uncleanly: its partitions wait for
 *    shared_subscription.member_timeout_ms), (c) B restarted with 5 members, then all of them
 *    disconnect cleanly (B leaves the group). For each: the longest pause in deliveries to the whole
 *    group, the longest pause of the topics whose partitions moved between nodes and of those that
 *    stayed, time to the first delivery at B (a), max latency, duplicates; losses at the end.
 *
 *   npm run bench:shared [-- --partitions 6] [--publishers 20] [--members 10] [--topics 200]
 *                        [--window 10] [--seconds 10] [--warmup 3] [--rate 1000] [--member-timeout 6000]
 *                        [--skip-throughput] [--skip-rebalance] [--brokers host:port [--kafka-pid PID]]
 *
 * Without --brokers a single-node local Kafka is started in a temporary folder and stopped at the end.
 */
import { cpus, loadavg } from 'node:os'
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import hdr from 'hdr-histogram-js'
import { createLogger } from '../src/observability/logger.js'
import { startPrivateLocalKafka, type PrivateLocalKafka } from '../test/support/kafka.js'
import { until } from '../test/support/mqtt-client.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { runLoad, type LoadOptions, type LoadResult, type LoadSpec } from './lib/loadgen.js'
import { ProcSampler, type ProcUsage } from './lib/proc-stats.js'

const { values } = parseArgs({
  options: {
    partitions: { type: 'string' },
    publishers: { type: 'string' },
    members: { type: 'string' },
    topics: { type: 'string' },
    window: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    rate: { type: 'string' },
    'member-timeout': { type: 'string' },
    'skip-throughput': { type: 'boolean', default: false },
    'skip-rebalance': { type: 'boolean', default: false },
    brokers: { type: 'string' },
    'kafka-pid': { type: 'string' }
  }
})
const num = (v: string | undefined, d: number): number => v === undefined ? d : Number(v)
const PARTITIONS = num(values.partitions, 6)
const PUBLISHERS = num(values.publishers, 20)
const MEMBERS = num(values.members, 10)
const TOPICS = num(values.topics, 200)
const WINDOW = num(values.window, 10)
const SECONDS = num(values.seconds, 10)
const WARMUP = num(values.warmup, 3)
const RATE = num(values.rate, 1000)
const MEMBER_TIMEOUT_MS = num(values['member-timeout'], 6000)
const RB_PUBLISHERS = 10
const RB_TOPICS = 30
const RB_MEMBERS_PER_NODE = 5

const log = (line: string): void => { process.stderr.write(line + '\n') }
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const now = (): number => performance.timeOrigin + performance.now()
const JOINED = 'joined the shared-subscription group'

// ---- the Kafka group as the nodes log it

/** Partitions this node holds in the Kafka group whose id ends with `.<group>.<filter>`, from its latest join line (undefined: never joined). */
function assignedOn (node: WharfProcess, group: string, filter: string): number | undefined {
  const tag = `.${group}.${filter}"`
  const line = [...node.lines].reverse().find(l => l.includes(JOINED) && l.includes(tag))
  if (line === undefined) return undefined
  const assigned = (JSON.parse(line) as { assigned: string }).assigned
  return [...assigned.matchAll(/\[([\d,]*)\]/g)].reduce((n, m) => n + (m[1] === '' ? 0 : (m[1] as string).split(',').length), 0)
}

/** Until the nodes in `holders` together hold every partition, each at least one (the test suite's groupSettled, per filter). */
async function settled (holders: WharfProcess[], group: string, filter: string, timeoutMs = 60000): Promise<number> {
  const t0 = now()
  await until(() => {
    const counts = holders.map(n => assignedOn(n, group, filter))
    return counts.every(c => c !== undefined && c > 0) && counts.reduce<number>((a, c) => a + (c ?? 0), 0) === PARTITIONS
  }, timeoutMs, `the Kafka group of $share/${group}/${filter} to settle on ${holders.length} node(s)`)
  return now() - t0
}

// ---- start

const cores = cpus().length
log(`shared-subscription benchmark: ${cores} cores, load average ${loadavg().map(l => l.toFixed(1)).join(' ')}, ${PARTITIONS} partitions, member_timeout_ms ${MEMBER_TIMEOUT_MS}`)
let kafka: PrivateLocalKafka | undefined
let brokers = values.brokers?.split(',')
let kafkaPid = values['kafka-pid'] === undefined ? undefined : Number(values['kafka-pid'])
const nodes: WharfProcess[] = []
const topics = uniqueTopics('bench-shared')
const env = {
  WHARF_TOPICS__MESSAGES__PARTITIONS: String(PARTITIONS),
  WHARF_SHARED_SUBSCRIPTION__MEMBER_TIMEOUT_MS: String(MEMBER_TIMEOUT_MS)
}
const startEdge = async (name: string): Promise<WharfProcess> => {
  const n = await WharfProcess.start({ brokers: brokers ?? [], topics, nodeName: `bench-shared-${name}-${randomUUID().slice(0, 4)}`, env, keepLines: 20000 })
  nodes.push(n)
  return n
}

interface ThroughputRow { name: string; spec: LoadSpec; load: LoadResult; usage: Record<string, ProcUsage>; settleMs?: number }
const throughput: ThroughputRow[] = []
const rebalance: EventResult[] = []
let rbSummary: { published: number; acked: number; delivered: number; duplicates: number; lost: number } | undefined

try {
  if (brokers === undefined) {
    log('starting a local single-node Kafka')
    kafka = await startPrivateLocalKafka({ nodes: 1, logger: createLogger({ level: 'warn' }) })
    brokers = kafka.brokers
    kafkaPid = (await kafka.status())[0]?.pid
  }
  const a = await startEdge('A')
  const b = await startEdge('B')
  log(`edges A ${a.url} (pid ${a.pid}), B ${b.url} (pid ${b.pid})`)

  if (!values['skip-throughput']) {
    // a fresh Kafka JVM is slow until its JIT has warmed up (bench/run.ts does the same)
    log('== warming up (8 s of p2p QoS 1 across the edges, not measured)')
    await runLoad({ kind: 'p2p', qos: 1, payloadBytes: 16, publishers: 10, subscribers: 10, window: 20, warmupS: 2, durationS: 6 }, a.url, b.url)

    const spec = (subscribers: number): LoadSpec => ({ kind: 'fan-in', qos: 1, payloadBytes: 16, publishers: PUBLISHERS, subscribers, window: WINDOW, warmupS: WARMUP, durationS: SECONDS })
    // topic t of TOPICS lives under <base>/<t % 10>/<t>: one tenth per plain "split" subscriber
    const topicOf = (base: string, i: number, seq: number): string => { const t = (seq * PUBLISHERS + i) % TOPICS; return `${base}/${t % 10}/${t}` }
    const both = { pubUrls: [a.url, b.url], topicOf }
    const scenarios: Array<{ name: string; spec: LoadSpec; opts: LoadOptions; shared: boolean }> = [
      {
        name: `shared: ${MEMBERS} members of $share/bench (${Math.ceil(MEMBERS / 2)} on A + ${Math.floor(MEMBERS / 2)} on B)`,
        spec: spec(MEMBERS),
        opts: { ...both, subUrls: [a.url, b.url], filterOf: base => `$share/bench/${base}/#` },
        shared: true
      },
      {
        name: `plain split: ${MEMBERS} subscribers (${Math.ceil(MEMBERS / 2)} on A + ${Math.floor(MEMBERS / 2)} on B), each 1/10 of the topics`,
        spec: spec(MEMBERS),
        opts: { ...both, subUrls: [a.url, b.url], filterOf: (base, s) => `${base}/${s % 10}/+` },
        shared: false
      },
      {
        name: 'plain fan-in: 1 subscriber on B, <base>/#',
        spec: spec(1),
        opts: { ...both, subUrls: [b.url], filterOf: base => `${base}/#` },
        shared: false
      }
    ]
    for (const s of scenarios) {
      log(`== ${s.name}`)
      let settleMs: number | undefined
      const opts: LoadOptions = s.shared ? { ...s.opts, ready: async base => { settleMs = await settled([a, b], 'bench', `${base}/#`) } } : s.opts
      const pids: Record<string, number> = { edgeA: a.pid, edgeB: b.pid, loadgen: process.pid, ...(kafkaPid === undefined ? {} : { kafka: kafkaPid }) }
      const sampler = new ProcSampler(pids)
      const load = await runLoad(s.spec, a.url, b.url, opts)
      const usage = sampler.stop()
      throughput.push({ name: s.name, spec: s.spec, load, usage, ...(settleMs === undefined ? {} : { settleMs }) })
      log(`   ${load.deliveredPerSec} msg/s delivered, p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms, lost ${load.lost}, stalls ${load.stalls}` +
        `${settleMs === undefined ? '' : `, group settled in ${Math.round(settleMs)} ms`}; per subscriber ${load.deliveredPerSubscriber.join(' ')}`)
    }
  }

  if (!values['skip-rebalance']) await rebalanceRun(a)
} finally {
  await Promise.all(nodes.map(n => n.stop().catch(() => undefined)))
  await kafka?.cleanup()
}

// ---- rebalance interruption

interface Delivery { t: number; sentAt: number; topic: number; node: 'A' | 'B'; key: number }
interface EventResult {
  event: string
  /** longest time without any delivery to the group, from the event on */
  gapAllMs: number
  /** longest pause of a topic whose partition moved to the other node */
  gapMovedMs: number | undefined
  /** longest pause of a topic whose partition stayed */
  gapStayedMs: number | undefined
  movedTopics: number
  /** (a) event -> first delivery to a member on B */
  firstOnBMs?: number
  settleMs: number
  maxLatencyMs: number
  p99LatencyMs: number
  duplicates: number
}

async function member (url: string, clientId: string, filter: string, node: 'A' | 'B', sink: (d: Delivery) => void): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, clean: true, clientId, reconnectPeriod: 0, keepalive: 30, connectTimeout: 30000 })
  c.on('error', () => undefined)
  c.on('message', (_topic, p: Buffer) => {
    sink({ t: now(), sentAt: p.readDoubleBE(0), topic: p.readUInt32BE(8), node, key: p.readUInt32BE(12) })
  })
  await c.subscribeAsync(filter, { qos: 1 })
  return c
}

async function rebalanceRun (a: WharfProcess): Promise<void> {
  const run = randomUUID().slice(0, 8)
  const base = `rb/${run}`
  const filter = `${base}/#`
  const share = `$share/rb/${filter}`
  const deliveries: Delivery[] = []
  const sink = (d: Delivery): void => { deliveries.push(d) }
  log(`== rebalance: ${RATE} msg/s QoS 1 from ${RB_PUBLISHERS} publishers on A over ${RB_TOPICS} topics into ${share}, member_timeout_ms ${MEMBER_TIMEOUT_MS}`)

  const onA: MqttClient[] = []
  for (let m = 0; m < RB_MEMBERS_PER_NODE; m++) onA.push(await member(a.url, `rb-${run}-A${m}`, share, 'A', sink))
  await settled([a], 'rb', filter)

  // the stream: payload [0,8) send time, [8,12) topic index, [12,16) message number; every PUBACK recorded
  const pubs: MqttClient[] = []
  for (let i = 0; i < RB_PUBLISHERS; i++) {
    const c = await mqtt.connectAsync(a.url, { protocolVersion: 4, clean: true, clientId: `rb-${run}-p${i}`, reconnectPeriod: 0, keepalive: 60 })
    ;(c.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true)
    pubs.push(c)
  }
  let seq = 0
  const acked = new Set<number>()
  const t0 = now()
  const timer = setInterval(() => {
    const due = Math.floor((now() - t0) * RATE / 1000)
    while (seq < due) {
      const key = seq++
      const p = Buffer.alloc(16)
      p.writeDoubleBE(now(), 0)
      p.writeUInt32BE(key % RB_TOPICS, 8)
      p.writeUInt32BE(key, 12)
      ;(pubs[key % RB_PUBLISHERS] as MqttClient).publish(`${base}/${key % RB_TOPICS}`, p, { qos: 1 }, err => { if (err === undefined || err === null) acked.add(key) })
    }
  }, 5)

  const STEADY_MS = 5000
  const measure = async (event: string, holders: () => WharfProcess[], act: () => Promise<void>): Promise<void> => {
    await sleep(STEADY_MS)
    const before = deliveries.length
    const tEvent = now()
    log(`   (${event}) at +${Math.round((tEvent - t0) / 1000)} s`)
    await act()
    await settled(holders(), 'rb', filter, 90000)
    const tSettled = now()
    await sleep(STEADY_MS)
    rebalance.push(analyse(event, deliveries, before, tEvent, tSettled))
    const r = rebalance[rebalance.length - 1] as EventResult
    log(`   group pause ${r.gapAllMs} ms; moved topics (${r.movedTopics}) ${r.gapMovedMs ?? '-'} ms, stayed ${r.gapStayedMs ?? '-'} ms; ` +
      `${r.firstOnBMs === undefined ? '' : `first on B after ${r.firstOnBMs} ms; `}settled after ${r.settleMs} ms; max latency ${r.maxLatencyMs} ms; duplicates ${r.duplicates}`)
  }

  // (a) node B joins
  let b = nodes[1] as WharfProcess
  let onB: MqttClient[] = []
  await measure('a: 5 members join on B (node joins)', () => [a, b], async () => {
    onB = await Promise.all(Array.from({ length: RB_MEMBERS_PER_NODE }, (_v, m) => member(b.url, `rb-${run}-B${m}`, share, 'B', sink)))
  })
  // (b) node B killed
  await measure('b: edge B SIGKILLed (node leaves uncleanly)', () => [a], async () => {
    await b.kill()
  })
  onB.forEach(c => c.end(true))
  // (c) B again, then its members leave cleanly
  log('   restarting B with 5 members')
  b = await startEdge('B2')
  onB = await Promise.all(Array.from({ length: RB_MEMBERS_PER_NODE }, (_v, m) => member(b.url, `rb-${run}-B2${m}`, share, 'B', sink)))
  await settled([a, b], 'rb', filter, 90000)
  await measure('c: all 5 members on B disconnect (node leaves cleanly)', () => [a], async () => {
    await Promise.all(onB.map(c => c.endAsync()))
  })

  clearInterval(timer)
  const published = seq
  await sleep(500)
  const got = new Set<number>()
  const drainUntil = now() + 30000
  while (now() < drainUntil) {
    for (const d of deliveries) got.add(d.key)
    if ([...acked].every(k => got.has(k))) break
    await sleep(200)
  }
  for (const d of deliveries) got.add(d.key)
  rbSummary = {
    published,
    acked: acked.size,
    delivered: deliveries.length,
    duplicates: deliveries.length - got.size,
    lost: [...acked].filter(k => !got.has(k)).length
  }
  await Promise.all([...pubs, ...onA].map(c => c.endAsync(true).catch(() => undefined)))
}

/** Pauses around one event: deliveries from 2 s before the event to the end of the steady period after it. */
function analyse (event: string, all: Delivery[], from: number, tEvent: number, tSettled: number): EventResult {
  const lead = all.slice(0, from).filter(d => d.t >= tEvent - 2000)
  const after = all.slice(from)
  const window = [...lead, ...after].sort((x, y) => x.t - y.t)
  const longestGap = (ds: Delivery[]): number => {
    let gap = 0
    for (let i = 1; i < ds.length; i++) {
      const cur = ds[i] as Delivery
      if (cur.t < tEvent) continue
      gap = Math.max(gap, cur.t - Math.max(tEvent, (ds[i - 1] as Delivery).t))
    }
    return gap
  }
  // which node served each topic before the event and after the group settled
  const nodeBefore = new Map<number, 'A' | 'B'>()
  for (const d of lead) nodeBefore.set(d.topic, d.node)
  const nodeAfter = new Map<number, 'A' | 'B'>()
  for (const d of after) if (d.t >= tSettled && !nodeAfter.has(d.topic)) nodeAfter.set(d.topic, d.node)
  const moved: number[] = []
  const stayed: number[] = []
  for (let t = 0; t < RB_TOPICS; t++) {
    const gap = longestGap(window.filter(d => d.topic === t))
    if (nodeBefore.get(t) !== undefined && nodeAfter.get(t) !== undefined && nodeBefore.get(t) !== nodeAfter.get(t)) moved.push(gap)
    else stayed.push(gap)
  }
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })
  let maxLatency = 0
  for (const d of after) {
    const us = Math.max(1, Math.round((d.t - d.sentAt) * 1000))
    hist.recordValue(us)
    maxLatency = Math.max(maxLatency, d.t - d.sentAt)
  }
  const p99 = hist.getValueAtPercentile(99) / 1000
  hist.destroy()
  const keys = new Set<number>()
  let duplicates = 0
  for (const d of all) { if (keys.has(d.key) && d.t >= tEvent) duplicates++; keys.add(d.key) }
  const firstB = event.startsWith('a') ? after.find(d => d.node === 'B' && d.t >= tEvent) : undefined
  const ms = (x: number): number => Math.round(x)
  return {
    event,
    gapAllMs: ms(longestGap(window)),
    gapMovedMs: moved.length === 0 ? undefined : ms(Math.max(...moved)),
    gapStayedMs: stayed.length === 0 ? undefined : ms(Math.max(...stayed)),
    movedTopics: moved.length,
    ...(firstB === undefined ? {} : { firstOnBMs: ms(firstB.t - tEvent) }),
    settleMs: ms(tSettled - tEvent),
    maxLatencyMs: ms(maxLatency),
    p99LatencyMs: Math.round(p99),
    duplicates
  }
}

// ---- report

function pad (cells: string[], widths: number[]): string { return '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |' }
function table (head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  return [pad(head, widths), pad(widths.map(w => '-'.repeat(w)), widths), ...rows.map(r => pad(r, widths))].join('\n')
}
const out: string[] = []
if (throughput.length > 0) {
  out.push(`Fan-in, QoS 1, 16 B: ${PUBLISHERS} publishers (half on each edge, closed loop, window ${WINDOW} each) over ${TOPICS} topics, ${PARTITIONS} partitions, ${WARMUP} s warm-up + ${SECONDS} s`, '')
  out.push(table(['scenario', 'delivered msg/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'lost / stalls', 'CPU A / B / Kafka / loadgen', 'deliveries per subscriber (A, B, A, ...)'],
    throughput.map(r => [r.name, String(r.load.deliveredPerSec), String(r.load.latencyMs.p50), String(r.load.latencyMs.p99), String(r.load.latencyMs.p999),
      `${r.load.lost} / ${r.load.stalls}`,
      ['edgeA', 'edgeB', 'kafka', 'loadgen'].map(k => r.usage[k] === undefined ? '-' : `${Math.round((r.usage[k] as ProcUsage).cpuPct)}%`).join(' / '),
      r.load.deliveredPerSubscriber.join(' ')])))
}
if (rebalance.length > 0) {
  out.push('', `Rebalance: ${RATE} msg/s QoS 1 16 B, ${RB_PUBLISHERS} publishers on A, ${RB_TOPICS} topics, ${PARTITIONS} partitions, member_timeout_ms ${MEMBER_TIMEOUT_MS}`, '')
  out.push(table(['event', 'group pause ms', 'moved topics: pause ms', 'stayed topics: pause ms', 'first on B ms', 'settled ms', 'max / p99 latency ms', 'duplicates'],
    rebalance.map(r => [r.event, String(r.gapAllMs), `${r.gapMovedMs ?? '-'} (${r.movedTopics} topics)`, String(r.gapStayedMs ?? '-'), r.firstOnBMs === undefined ? '' : String(r.firstOnBMs),
      String(r.settleMs), `${r.maxLatencyMs} / ${r.p99LatencyMs}`, String(r.duplicates)])))
  if (rbSummary !== undefined) out.push('', `stream: published ${rbSummary.published}, PUBACKed ${rbSummary.acked}, deliveries ${rbSummary.delivered}, duplicates ${rbSummary.duplicates}, PUBACKed but never delivered ${rbSummary.lost}`)
}
out.push('', `load average at the end: ${loadavg().map(l => l.toFixed(1)).join(' ')} on ${cores} cores`)
console.log(out.join('\n'))
