/**
 * The brokers under test. Each `start()` gives a fresh process (or two), the URLs publishers and
 * subscribers connect to, and the pids whose CPU and RSS are sampled.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findFreePort } from '../../src/local-kafka/index.js'
import { uniqueTopics, WharfProcess } from '../../test/support/wharf-process.js'

export type TargetName = 'wharf1' | 'wharf2' | 'mosquitto' | 'aedes'
export const ALL_TARGETS: TargetName[] = ['wharf1', 'wharf2', 'mosquitto', 'aedes']

export interface RunningTarget {
  name: TargetName
  pubUrl: string
  subUrl: string
  host: string
  port: number
  /** broker processes (summed as "broker") */
  brokerPids: number[]
  /** the Kafka JVM, for Wharf */
  kafkaPid?: number
  stop (): Promise<void>
}

export interface TargetContext {
  brokers: string[]
  kafkaPid?: number
  /** extra node flags for Wharf edges (e.g. --cpu-prof) */
  wharfNodeArgs?: string[]
  /** extra environment for Wharf edges (WHARF_* settings) */
  env?: Record<string, string>
}

const MOSQUITTO = '/usr/sbin/mosquitto'
const AEDES_SERVER = fileURLToPath(new URL('../targets/aedes-server.ts', import.meta.url))

/** Debian's mosquitto; installed with apt-get when missing. */
export function ensureMosquitto (log: (line: string) => void): void {
  if (existsSync(MOSQUITTO)) return
  log('mosquitto not found: apt-get install -y mosquitto')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'mosquitto'], { stdio: 'inherit', env })
}

export function waitForLine (proc: ChildProcess, match: RegExp, what: string, timeoutMs = 30000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${what} not ready after ${timeoutMs} ms:\n${out}`)), timeoutMs)
    const onData = (d: Buffer): void => {
      out += d.toString()
      const m = match.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m) }
    }
    proc.stdout?.on('data', onData)
    proc.stderr?.on('data', onData)
    proc.once('exit', code => { clearTimeout(timer); reject(new Error(`${what} exited (${code}):\n${out}`)) })
  })
}

function waitForPort (port: number, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const attempt = async (): Promise<void> => {
      const { connect } = await import('node:net')
      const s = connect({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve() })
      s.once('error', () => {
        s.destroy()
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port}`))
        else setTimeout(() => void attempt(), 100)
      })
    }
    void attempt()
  })
}

export async function stopChild (proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
  proc.kill('SIGTERM')
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10000)
  await exited
  clearTimeout(timer)
}

export async function startTarget (name: TargetName, ctx: TargetContext): Promise<RunningTarget> {
  switch (name) {
    case 'wharf1':
    case 'wharf2': {
      const topics = uniqueTopics(`bench-${name}`)
      const count = name === 'wharf1' ? 1 : 2
      const edges = await Promise.all(Array.from({ length: count }, (_v, i) =>
        WharfProcess.start({ brokers: ctx.brokers, topics, nodeName: `bench-${name}-${i + 1}`, env: ctx.env ?? {}, keepLines: 50, ...(ctx.wharfNodeArgs === undefined ? {} : { nodeArgs: ctx.wharfNodeArgs }) })))
      const a = edges[0] as WharfProcess
      const b = edges[count - 1] as WharfProcess
      return {
        name,
        pubUrl: a.url,
        subUrl: b.url,
        host: '127.0.0.1',
        port: a.mqttPort,
        brokerPids: edges.map(e => e.pid),
        ...(ctx.kafkaPid === undefined ? {} : { kafkaPid: ctx.kafkaPid }),
        stop: async () => { await Promise.all(edges.map(e => e.stop())) }
      }
    }
    case 'mosquitto': {
      const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-mosquitto-'))
      const port = await findFreePort()
      const conf = join(dir, 'mosquitto.conf')
      await writeFile(conf, [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'max_connections -1',
        ''
      ].join('\n'))
      const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] })
      proc.stdout.resume()
      proc.stderr.resume()
      await waitForPort(port)
      const url = `mqtt://127.0.0.1:${port}`
      return {
        name,
        pubUrl: url,
        subUrl: url,
        host: '127.0.0.1',
        port,
        brokerPids: [proc.pid as number],
        stop: async () => { await stopChild(proc); await rm(dir, { recursive: true, force: true }) }
      }
    }
    case 'aedes': {
      const proc = spawn(process.execPath, ['--import', 'tsx', AEDES_SERVER], { stdio: ['ignore', 'pipe', 'pipe'] })
      const m = await waitForLine(proc, /listening (\d+)/, 'aedes')
      const port = Number(m[1])
      const url = `mqtt://127.0.0.1:${port}`
      return { name, pubUrl: url, subUrl: url, host: '127.0.0.1', port, brokerPids: [proc.pid as number], stop: () => stopChild(proc) }
    }
  }
}
