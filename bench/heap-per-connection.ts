/**
 * What an idle connection holds on an edge's heap, by constructor: heap snapshots of a Wharf edge
 * (or aedes) before and after opening N idle connections, the difference per connection.
 *
 *   npm run build && node --import tsx bench/heap-per-connection.ts [--brokers host:port] [--connections 2000] [--top 30]
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { uniqueTopics, WharfProcess } from '../test/support/wharf-process.js'
import { benchKafka } from './lib/bench-kafka.js'
import { runConnectionsKept } from './lib/connections.js'

const { values } = parseArgs({ options: { brokers: { type: 'string' }, connections: { type: 'string' }, top: { type: 'string' } } })
const n = Number(values.connections ?? 2000)

interface Snapshot { snapshot: { meta: { node_fields: string[], node_types: [string[]] } }, nodes: number[], strings: string[] }

/** self size per "type:name" of a heap snapshot */
function bySort (file: string): Map<string, { count: number, size: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const fields = s.snapshot.meta.node_fields
  const types = s.snapshot.meta.node_types[0]
  const step = fields.length
  const iType = fields.indexOf('type')
  const iName = fields.indexOf('name')
  const iSize = fields.indexOf('self_size')
  const out = new Map<string, { count: number, size: number }>()
  for (let i = 0; i < s.nodes.length; i += step) {
    const type = types[s.nodes[i + iType] as number] as string
    let name = s.strings[s.nodes[i + iName] as number] as string
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '(strings)'
    if (type === 'code') name = '(code)'
    const key = `${type}:${name.slice(0, 60)}`
    const e = out.get(key) ?? { count: 0, size: 0 }
    e.count++
    e.size += s.nodes[i + iSize] as number
    out.set(key, e)
  }
  return out
}

async function snapshot (edge: WharfProcess, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir))
  process.kill(edge.pid, 'SIGUSR2')
  for (;;) {
    await new Promise(resolve => setTimeout(resolve, 500))
    const added = readdirSync(dir).filter(f => !before.has(f) && f.endsWith('.heapsnapshot'))
    if (added.length > 0) {
      const file = join(dir, added[0] as string)
      // written when its size stops changing
      let size = -1
      for (;;) {
        await new Promise(resolve => setTimeout(resolve, 500))
        const now = readFileSync(file).length
        if (now === size && now > 0) return file
        size = now
      }
    }
  }
}

const kafka = await benchKafka(values.brokers, undefined, 'g1')
const snapDir = await mkdtemp(join(tmpdir(), 'wharf-heap-snaps-'))
const edge = await WharfProcess.start({ brokers: kafka.brokers, topics: uniqueTopics('heap'), nodeName: 'heap', nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapDir}`], keepLines: 20 })
try {
  // first some connections opened and closed, so that what is made once (mqtt-packet's cache of
  // packet-id buffers, compiled code) is in both snapshots
  const warm = await runConnectionsKept({ host: '127.0.0.1', port: edge.mqttPort, target: 300, rate: 1000, sourceAddresses: 8, pids: [edge.pid] })
  warm.close()
  await new Promise(resolve => setTimeout(resolve, 2000))
  const a = await snapshot(edge, snapDir)
  const kept = await runConnectionsKept({ host: '127.0.0.1', port: edge.mqttPort, target: n, rate: 1000, sourceAddresses: 8, pids: [edge.pid] })
  const b = await snapshot(edge, snapDir)
  kept.close()
  const sa = bySort(a)
  const sb = bySort(b)
  const rows: Array<[string, number, number]> = []
  let total = 0
  for (const [k, v] of sb) {
    const w = sa.get(k) ?? { count: 0, size: 0 }
    const d = v.size - w.size
    total += d
    rows.push([k, (v.count - w.count) / kept.reached, d / kept.reached])
  }
  rows.sort((x, y) => y[2] - x[2])
  console.log(`${kept.reached} connections: ${(total / kept.reached).toFixed(0)} B of heap (self sizes, after the snapshot's full GC) per connection`)
  for (const [k, c, s] of rows.slice(0, Number(values.top ?? 30))) console.log(`${s.toFixed(0).padStart(7)} B  ${c.toFixed(2).padStart(6)} objects  ${k}`)
} finally {
  await edge.stop()
  await kafka.stop()
  if (process.env.KEEP_SNAPSHOTS === undefined) rmSync(snapDir, { recursive: true, force: true })
  else console.log(`snapshots kept in ${snapDir}`)
}
