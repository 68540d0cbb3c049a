/**
 * What an idle edge costs: one node, no client, no traffic, on an existing Kafka; CPU of the whole
 * process (every thread) over a window after a warm-up, as % of one core.
 *
 *   npm run build && node --import tsx bench/idle.ts --brokers host:port [--seconds 60] [--warmup 20]
 */
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config/index.js'
import { WharfNode } from '../src/node/wharf-node.js'
import { createLogger } from '../src/observability/logger.js'

const { values } = parseArgs({ options: { brokers: { type: 'string' }, seconds: { type: 'string', default: '60' }, warmup: { type: 'string', default: '20' } } })
if (values.brokers === undefined) { process.stderr.write('usage: bench/idle.ts --brokers host:port [--seconds 60] [--warmup 20]\n'); process.exit(2) }
const brokers = values.brokers.split(',')
const config = loadConfig({ env: { WHARF_KAFKA__BROKERS: values.brokers, WHARF_LISTENERS__TCP__DEFAULT__BIND: '127.0.0.1:0', WHARF_HTTP__PORT: '0', WHARF_HTTP__BIND: '127.0.0.1' } })
const node = new WharfNode(config, createLogger({ level: 'warn' }), brokers)
await node.start()
await new Promise(resolve => setTimeout(resolve, Number(values.warmup) * 1000))
const t0 = process.cpuUsage()
const seconds = Number(values.seconds)
await new Promise(resolve => setTimeout(resolve, seconds * 1000))
const u = process.cpuUsage(t0)
process.stdout.write(`idle edge: ${((u.user + u.system) / 1e6 / seconds * 100).toFixed(2)} % of one core over ${seconds} s\n`)
await node.stop()
process.exit(0)
