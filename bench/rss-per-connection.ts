/**
 * Where an idle connection's RSS goes: a Wharf edge on a local Kafka, 300 connections opened and
 * closed first (what is made once), then N idle connections; the growth of the process' mappings
 * (/proc/<pid>/smaps: anonymous = V8's heap and thread arenas, [heap] = the main malloc arena) and
 * of V8's heap spaces (the edge's /metrics), per connection. The live heap is what
 * bench/heap-per-connection.ts shows (after a full GC); old-space "used" beyond it is garbage no
 * full collection has taken yet.
 *
 *   npm run build && node --import tsx bench/rss-per-connection.ts [--brokers host:port] [--connections 18000]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { metricsText } from '../test/support/node-http.js'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { benchKafka } from './lib/bench-kafka.js'
import { runConnectionsKept } from './lib/connections.js'
async function heap (edge: WharfProcess): Promise<Record<string, number>> {
  const text = await metricsText(edge)
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) if (line.startsWith('wharf_process_nodejs_heap_space_size_') || line.startsWith('wharf_process_nodejs_external_memory') || line.startsWith('wharf_process_nodejs_heap_size')) { const i = line.lastIndexOf(' '); out[line.slice(0, i)] = Number(line.slice(i + 1)) }
  return out
}
function parts (pid: number): Record<string, number> {
  const out: Record<string, number> = {}
  let cur = ''
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (m) { cur = m[1] === '' ? '(anon)' : m[1]!.includes('/') ? '(file)' : m[1]!; continue }
    const r = /^Rss:\s+(\d+) kB/.exec(line)
    if (r) out[cur] = (out[cur] ?? 0) + Number(r[1])
  }
  return out
}
const { values } = parseArgs({ options: { brokers: { type: 'string' }, connections: { type: 'string' } } })
const kafka = await benchKafka(values.brokers, undefined, 'g1')
const edge = await WharfProcess.start({ brokers: kafka.brokers, topics: uniqueTopics('rss'), nodeName: 'rss', keepLines: 20 })
const n = Number(values.connections ?? 18000)
try {
  const warm = await runConnectionsKept({ host: '127.0.0.1', port: edge.mqttPort, target: 300, rate: 1000, sourceAddresses: 8, pids: [edge.pid] })
  warm.close(); await new Promise(r => setTimeout(r, 2000))
  const a = parts(edge.pid); const ha = await heap(edge)
  const kept = await runConnectionsKept({ host: '127.0.0.1', port: edge.mqttPort, target: n, rate: 1000, sourceAddresses: 8, pids: [edge.pid] })
  const b = parts(edge.pid); const hb = await heap(edge)
  for (const k of Object.keys(hb)) { const d = (hb[k] ?? 0) - (ha[k] ?? 0); if (Math.abs(d) > 100000) console.log(`${k}: ${((ha[k] ?? 0) / 1048576).toFixed(1)} -> ${((hb[k] ?? 0) / 1048576).toFixed(1)} MiB, ${(d / n).toFixed(0)} B per connection`) }
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0)
    if (Math.abs(d) > 100) console.log(`${k}: ${a[k] ?? 0} -> ${b[k] ?? 0} kB, ${(d * 1024 / kept.reached).toFixed(0)} B per connection`)
  }
  const tot = (x: Record<string, number>) => Object.values(x).reduce((s, v) => s + v, 0)
  console.log(`total: ${((tot(b) - tot(a)) * 1024 / kept.reached / 1024).toFixed(2)} KiB per connection (${kept.reached})`)
  kept.close()
} finally {
  await edge.stop(); await kafka.stop()
}
