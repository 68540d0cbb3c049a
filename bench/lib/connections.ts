/**
 * Connection scale: idle MQTT connections opened at a fixed rate until a target count or the first
 * error. Raw sockets with a hand-built CONNECT (MQTT 3.1.1, clean session, keepalive 0) so the load
 * generator's own cost per connection stays small; source addresses rotate over 127.0.0.x so the
 * ~28,000 ephemeral ports of one source address are not the limit.
 */
import { connect, type Socket } from 'node:net'
import { randomUUID } from 'node:crypto'
import { rssBytes } from './proc-stats.js'

export interface ConnSpec {
  host: string
  port: number
  target: number
  /** connections opened per second */
  rate: number
  /** source addresses 127.0.0.<first>.. */
  sourceAddresses: number
  /** broker processes whose RSS is measured */
  pids: number[]
}

export interface ConnResult {
  target: number
  reached: number
  seconds: number
  error?: string
  rssBeforeBytes: number
  rssAfterBytes: number
  bytesPerConnection: number
  /**
   * What each connection of the second half added: (RSS at the end − RSS at half the connections)
   * / connections opened in between, both read after a 2 s pause. Unlike `bytesPerConnection` it
   * leaves out what the process grows by once whatever the count (a young generation grown to its
   * size, buffers of the first accepts), so it is the figure that says how many more fit.
   */
  marginalBytesPerConnection?: number
}

function connectPacket (clientId: string): Buffer {
  const id = Buffer.from(clientId)
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 0]) // "MQTT", level 4, clean, keepalive 0
  const rest = variable.length + 2 + id.length
  const len: number[] = []
  let x = rest
  do { let b = x % 128; x = Math.floor(x / 128); if (x > 0) b |= 0x80; len.push(b) } while (x > 0)
  const out = Buffer.alloc(1 + len.length + rest)
  out[0] = 0x10
  Buffer.from(len).copy(out, 1)
  let o = 1 + len.length
  variable.copy(out, o); o += variable.length
  out.writeUInt16BE(id.length, o); o += 2
  id.copy(out, o)
  return out
}

function openOne (host: string, port: number, localAddress: string, clientId: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, localAddress })
    const timer = setTimeout(() => { s.destroy(); reject(new Error('no CONNACK within 30 s')) }, 30000)
    s.once('error', err => { clearTimeout(timer); reject(err) })
    s.once('connect', () => s.write(connectPacket(clientId)))
    s.once('data', (d: Buffer) => {
      clearTimeout(timer)
      if (d[0] === 0x20 && d[3] === 0) { s.removeAllListeners('error'); s.on('error', () => undefined); resolve(s) } else { s.destroy(); reject(new Error(`CONNACK refused: ${d.toString('hex')}`)) }
    })
  })
}

/** How many connections are due `elapsedMs` into a run at `spec.rate`. */
function dueBy (spec: ConnSpec, elapsedMs: number): number {
  return Math.min(spec.target, Math.floor(elapsedMs * spec.rate / 1000) + 1)
}

/** The `n`th connection of a run: its source address rotates over 127.0.0.1..sourceAddresses. */
function openNth (spec: ConnSpec, prefix: string, n: number): Promise<Socket> {
  return openOne(spec.host, spec.port, `127.0.0.${1 + (n % spec.sourceAddresses)}`, `${prefix}-${n}`)
}

const totalRss = (pids: number[]): number => pids.reduce((sum, pid) => sum + (rssBytes(pid) ?? 0), 0)
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export async function runConnections (spec: ConnSpec, log: (line: string) => void): Promise<ConnResult> {
  const run = randomUUID().slice(0, 6)
  const sockets: Socket[] = []
  let error: string | undefined
  let inFlight = 0
  const rssBefore = totalRss(spec.pids)
  const t0 = performance.now()
  let opened = 0
  let lastLog = t0
  const half = Math.floor(spec.target / 2)
  let atHalf: { rss: number, reached: number } | undefined
  let paused = 0
  try {
    while (opened < spec.target && error === undefined) {
      if (atHalf === undefined && opened >= half) {
        while (inFlight > 0) await sleep(20)
        const t = performance.now()
        await sleep(2000)
        atHalf = { rss: totalRss(spec.pids), reached: sockets.length }
        paused += performance.now() - t
      }
      const due = dueBy(spec, performance.now() - t0 - paused)
      while (opened < due && error === undefined) {
        const n = opened++
        inFlight++
        openNth(spec, `idle-${run}`, n).then(
          s => { inFlight--; sockets.push(s) },
          (err: Error) => { inFlight--; error ??= `connection ${n}: ${err.message}` }
        )
      }
      if (performance.now() - lastLog > 5000) { lastLog = performance.now(); log(`  ${sockets.length} connections open`) }
      await sleep(10)
    }
    while (inFlight > 0) await sleep(20)
    const seconds = (performance.now() - t0 - paused) / 1000
    await sleep(2000) // let the broker settle before reading RSS
    const rssAfter = totalRss(spec.pids)
    const reached = sockets.length
    return {
      target: spec.target,
      reached,
      seconds: Math.round(seconds * 10) / 10,
      ...(error === undefined ? {} : { error }),
      rssBeforeBytes: rssBefore,
      rssAfterBytes: rssAfter,
      bytesPerConnection: reached === 0 ? 0 : Math.round((rssAfter - rssBefore) / reached),
      ...(atHalf === undefined || reached <= atHalf.reached ? {} : { marginalBytesPerConnection: Math.round((rssAfter - atHalf.rss) / (reached - atHalf.reached)) })
    }
  } finally {
    for (const s of sockets) s.destroy()
    await sleep(1000)
  }
}

/** Open `spec.target` idle connections at `spec.rate` and keep them until `close()` (no RSS reading). */
export async function runConnectionsKept (spec: ConnSpec): Promise<{ reached: number, close: () => void }> {
  const run = randomUUID().slice(0, 6)
  const sockets: Socket[] = []
  const t0 = performance.now()
  let opened = 0
  let inFlight = 0
  while (opened < spec.target) {
    const due = dueBy(spec, performance.now() - t0)
    while (opened < due) {
      const n = opened++
      inFlight++
      openNth(spec, `kept-${run}`, n).then(
        s => { inFlight--; sockets.push(s) },
        () => { inFlight-- }
      )
    }
    await sleep(10)
  }
  while (inFlight > 0) await sleep(20)
  await sleep(2000)
  return { reached: sockets.length, close: () => { for (const s of sockets) s.destroy() } }
}
