/**
 * Summarise a V8 CPU profile (`node --cpu-prof`, as `npm run bench -- ... --profile` writes for the
 * Wharf edges): self time by package/area and the top functions by self time.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } })
const file = positionals[0]
if (file === undefined) { console.error('usage: profile-summary.ts <file.cpuprofile>'); process.exit(2) }
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile

// self time per node from the sample timeline (more exact than hitCount x mean interval)
const selfUs = new Map<number, number>()
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i] as number
  const dt = profile.timeDeltas[i + 1] ?? 0
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0)

function area (cf: CallFrame): string {
  const url = cf.url
  if (url === '') {
    if (cf.functionName.startsWith('(')) return cf.functionName // (garbage collector), (idle), (program)
    return '(native)'
  }
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return (rest[0] ?? '').startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? '')
  }
  if (url.startsWith('node:')) return 'node core'
  const d = url.indexOf('/dist/')
  if (d >= 0) return `wharf ${url.slice(d + 6).split('/')[0]}`
  return url
}

const byArea = new Map<string, number>()
const byFn = new Map<string, number>()
const nodes = new Map(profile.nodes.map(n => [n.id, n]))
for (const [id, us] of selfUs) {
  const n = nodes.get(id)
  if (n === undefined) continue
  const a = area(n.callFrame)
  byArea.set(a, (byArea.get(a) ?? 0) + us)
  const file = n.callFrame.url.split('/').slice(-2).join('/')
  const fn = `${n.callFrame.functionName || '(anonymous)'} ${file}:${n.callFrame.lineNumber + 1}`
  byFn.set(fn, (byFn.get(fn) ?? 0) + us)
}
// the same time attributed to the nearest caller that is not Node core or native code, with kafkajs
// split by folder (producer/protocol encoding vs consumer/fetch decoding): "who caused this cost"
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
function detailedArea (cf: CallFrame): string {
  const a = area(cf)
  if (a !== 'kafkajs') return a
  const rest = cf.url.slice(cf.url.lastIndexOf('kafkajs/src/') + 'kafkajs/src/'.length).split('/')
  if (rest[0] === 'protocol' && rest[1] === 'requests') return `kafkajs protocol/requests/${rest[2] ?? ''}`
  return `kafkajs ${rest.slice(0, 2).join('/')}`
}
const attributed = new Map<string, number>()
for (const [id, us] of selfUs) {
  let n = nodes.get(id)
  let a = n === undefined ? '?' : area(n.callFrame)
  while (n !== undefined && (a === 'node core' || a === '(native)')) {
    const p = parent.get(n.id)
    n = p === undefined ? undefined : nodes.get(p)
    if (n !== undefined) a = area(n.callFrame)
  }
  const key = n === undefined ? a : detailedArea(n.callFrame)
  attributed.set(key, (attributed.get(key) ?? 0) + us)
}
const idle = byArea.get('(idle)') ?? 0
const busy = total - idle
const pct = (us: number, of: number): string => `${(us / of * 100).toFixed(1)}%`
console.log(`profile: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${pct(busy, total)}); shares below are of busy time`)
console.log('\nself time by area:')
for (const [a, us] of [...byArea].filter(([a]) => a !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, 15)) {
  console.log(`  ${pct(us, busy).padStart(6)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${a}`)
}
console.log('\nself time attributed to the nearest package caller (Node core and native time charged to whoever called it):')
for (const [a, us] of [...attributed].filter(([a]) => a !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, 20)) {
  console.log(`  ${pct(us, busy).padStart(6)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${a}`)
}
console.log(`\ntop ${values.top} functions by self time:`)
for (const [fn, us] of [...byFn].filter(([f]) => !f.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, Number(values.top))) {
  console.log(`  ${pct(us, busy).padStart(6)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${fn}`)
}
