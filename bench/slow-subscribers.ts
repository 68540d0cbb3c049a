/**
 * Slow subscribers (issue 15): what a flood of QoS 0 messages costs the memory of an edge whose
 * subscribers do not read their sockets.
 *
 *   npm run build && node --import tsx bench/slow-subscribers.ts [--brokers host:port] [--stuck 0,1,10]
 *     [--messages 102400] [--size 1024] [--old-config] [--same-edge] [--max-wait 600]
 *
 * One publishers' edge, and per case a fresh subscribers' edge with N bare TCP subscribers to the
 * flood's topic that stop reading after their SUBACK (N = 0: one mqtt.js subscriber that reads, the
 * cost of the traffic itself). An mqtt.js client publishes the flood to the publishers' edge; once
 * the subscribers' edge has handed every record to its clients (its own counter), its peak RSS
 * (VmHWM, reset before the flood) less its RSS before is the growth. `BENCH_WHARF_CLI` runs another
 * build (with `--old-config` for a build without the `mqtt.slow_client_timeout` key). `--same-edge`
 * publishes to the subscribers' edge instead (its growth then includes the publishers' side, e.g.
 * what waits for Kafka). A case whose edge has not handed over the whole flood after `--max-wait`
 * seconds is reported with what it had (an edge whose partition is held by a stuck client).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { LocalKafka } from '../src/local-kafka/index.js'
import { createLogger } from '../src/observability/logger.js'
import { collect, connect, end } from '../test/support/mqtt-client.js'
import { deliveredAtLeast, flood, memoryOf, metric, MiB, resetPeak, stuckSubscriber } from '../test/support/slow-subscribers.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'

const { values } = parseArgs({
  options: {
    brokers: { type: 'string' },
    stuck: { type: 'string', default: '0,1,10' },
    messages: { type: 'string', default: '102400' },
    size: { type: 'string', default: '1024' },
    'old-config': { type: 'boolean', default: false },
    'same-edge': { type: 'boolean', default: false },
    'max-wait': { type: 'string', default: '600' }
  }
})
const messages = Number(values.messages)
const size = Number(values.size)
const log = (line: string): void => { process.stdout.write(line + '\n') }

let local: LocalKafka | undefined
let dir: string | undefined
let brokers = values.brokers?.split(',')
if (brokers === undefined) {
  dir = await mkdtemp(join(tmpdir(), 'wharf-bench-slow-'))
  local = await LocalKafka.start({ dir, nodes: 1, port: 0, logger: createLogger({ level: 'warn' }) })
  brokers = local.brokers
}
const topics = uniqueTopics('slowbench')
// the stuck clients stay connected through the measurement (the default would close them after 60 s)
const env: Record<string, string> = values['old-config'] ? {} : { WHARF_MQTT__SLOW_CLIENT_TIMEOUT: '1h' }
const pub = await WharfProcess.start({ brokers, topics, nodeName: 'slowbench-pub', keepLines: 200 })
log(`build: ${process.env.BENCH_WHARF_CLI ?? 'dist/ of this checkout'}; flood: ${messages} QoS 0 messages of ${size} B (${(messages * size / MiB).toFixed(0)} MiB) through an mqtt.js publisher on ${values['same-edge'] ? 'the subscribers\' edge' : 'another edge'}`)
log('| stuck subscribers | RSS before | peak RSS during the flood | growth | RSS after | dropped (queue_full) | flood time |')
log('|---|---|---|---|---|---|---|')
try {
  for (const n of values.stuck.split(',').map(Number)) {
    const sub = await WharfProcess.start({ brokers, topics, nodeName: `slowbench-sub${n}`, keepLines: 200, env })
    try {
      const filter = `flood${n}/#`
      const stuck = await Promise.all(Array.from({ length: n }, (_, i) => stuckSubscriber(sub.mqttPort, `stuck${n}-${i}`, filter, 0)))
      const reader = n === 0 ? await connect(sub.url) : undefined
      if (reader !== undefined) {
        collect(reader)
        await reader.subscribeAsync(filter, { qos: 0 })
      }
      const before = memoryOf(sub.pid)
      resetPeak(sub.pid)
      const delivered = await metric(sub, 'wharf_delivered_records_total')
      const t0 = Date.now()
      await flood(values['same-edge'] ? sub.url : pub.url, `flood${n}/x`, messages, size)
      let complete = ''
      try {
        await deliveredAtLeast(sub, delivered + messages, Number(values['max-wait']) * 1000)
      } catch {
        complete = ` (${await metric(sub, 'wharf_delivered_records_total') - delivered} of ${messages} handed over)`
      }
      const ms = Date.now() - t0
      const after = memoryOf(sub.pid)
      const dropped = await metric(sub, 'wharf_limit_events_total', 'reason="queue_full"')
      const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`
      log(`| ${n === 0 ? '0 (one that reads)' : n} | ${mib(before.rss)} | ${mib(after.peak)} | +${mib(after.peak - before.rss)} | ${mib(after.rss)} | ${dropped} | ${(ms / 1000).toFixed(1)} s${complete} |`)
      for (const s of stuck) s.drop()
      if (reader !== undefined) await end(reader)
    } finally {
      await sub.stop()
    }
  }
} finally {
  await pub.stop()
  await local?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
}
