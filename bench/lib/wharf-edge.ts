/**
 * One Wharf edge for the benchmark: `node [nodeArgs] dist/cli/main.js start` (the built CLI, as an
 * operator runs it), ready when it logs "Wharf node ready". Like test/support/wharf-process.ts, plus
 * node flags (`--cpu-prof` is not allowed in NODE_OPTIONS) and a log level that keeps per-client
 * lines out of the measurement.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { WharfTopics } from '../../test/support/wharf-process.js'

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export class WharfEdge {
  mqttPort = 0
  private readonly tail: string[] = []
  private readonly exited: Promise<void>

  private constructor (readonly proc: ChildProcess) {
    this.exited = new Promise(resolve => proc.once('exit', () => resolve()))
  }

  get url (): string { return `mqtt://127.0.0.1:${this.mqttPort}` }
  get pid (): number { return this.proc.pid as number }

  static async start (opts: { brokers: string[]; topics: WharfTopics; nodeName: string; nodeArgs?: string[]; env?: Record<string, string> }): Promise<WharfEdge> {
    const env: Record<string, string> = {
      ...process.env as Record<string, string>,
      WHARF_NODE__NAME: opts.nodeName,
      WHARF_KAFKA__BROKERS: opts.brokers.join(','),
      WHARF_LISTENERS__TCP__DEFAULT__BIND: '127.0.0.1:0',
      WHARF_HTTP__BIND: '127.0.0.1',
      WHARF_HTTP__PORT: '0',
      WHARF_LOG__LEVEL: 'info',
      WHARF_TOPICS__MESSAGES__NAME: opts.topics.messages,
      WHARF_TOPICS__MESSAGES__PARTITIONS: '3',
      WHARF_TOPICS__RETAINED__NAME: opts.topics.retained,
      WHARF_TOPICS__SESSIONS__NAME: opts.topics.sessions,
      WHARF_TOPICS__NODES__NAME: opts.topics.nodes,
      ...opts.env
    }
    delete env.WHARF_CONFIG
    const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), CLI, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const edge = new WharfEdge(proc)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`wharf not ready after 60 s:\n${edge.tail.join('\n')}`)) }, 60000)
      let rest = ''
      const onData = (chunk: Buffer): void => {
        rest += chunk.toString('utf8')
        let i: number
        while ((i = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, i)
          rest = rest.slice(i + 1)
          edge.tail.push(line)
          if (edge.tail.length > 50) edge.tail.shift()
          if (edge.mqttPort === 0 && line.includes('"Wharf node ready"')) {
            const entry = JSON.parse(line) as { listeners: string[] }
            const first = entry.listeners[0] as string
            edge.mqttPort = Number(first.slice(first.lastIndexOf(':') + 1))
            clearTimeout(timer)
            resolve()
          }
        }
      }
      proc.stdout.on('data', onData)
      proc.stderr.on('data', onData)
      proc.once('exit', code => { clearTimeout(timer); reject(new Error(`wharf exited (${code}) before it was ready:\n${edge.tail.join('\n')}`)) })
    })
    return edge
  }

  /** SIGTERM (a graceful stop, which also writes a --cpu-prof profile) and wait for the exit. */
  async stop (): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM')
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 30000)
    await this.exited
    clearTimeout(timer)
  }
}
