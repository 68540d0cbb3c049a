import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'

/** the built CLI; `BENCH_WHARF_CLI` runs another build (benchmarks compare two checkouts in one run) */
const CLI = process.env.BENCH_WHARF_CLI ?? fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface WharfTopics {
  messages: string
  retained: string
  sessions: string
  nodes: string
  users: string
  banned: string
  clients: string
  apiKeys: string
}

/** Fresh topic names, so tests sharing one Kafka never see each other's records. */
export function uniqueTopics (label = 't'): WharfTopics {
  const id = `${label}-${randomUUID().slice(0, 8)}`
  return {
    messages: `mqtt.messages.${id}`,
    retained: `wharf.retained.${id}`,
    sessions: `wharf.sessions.${id}`,
    nodes: `wharf.nodes.${id}`,
    users: `wharf.users.${id}`,
    banned: `wharf.banned.${id}`,
    clients: `wharf.clients.${id}`,
    apiKeys: `wharf.api-keys.${id}`
  }
}

/** The environment that points a node or a `wharf` command at these topics. */
export function topicsEnv (topics: WharfTopics): Record<string, string> {
  return {
    WHARF_TOPICS__MESSAGES__NAME: topics.messages,
    WHARF_TOPICS__RETAINED__NAME: topics.retained,
    WHARF_TOPICS__SESSIONS__NAME: topics.sessions,
    WHARF_TOPICS__NODES__NAME: topics.nodes,
    WHARF_TOPICS__USERS__NAME: topics.users,
    WHARF_TOPICS__BANNED__NAME: topics.banned,
    WHARF_TOPICS__CLIENTS__NAME: topics.clients,
    WHARF_TOPICS__API_KEYS__NAME: topics.apiKeys
  }
}

export interface StartOptions {
  brokers: string[]
  topics: WharfTopics
  nodeName?: string
  env?: Record<string, string>
  /** node flags before the script (e.g. `--cpu-prof`, which NODE_OPTIONS does not allow) */
  nodeArgs?: string[]
  /** the built CLI to run (default: `BENCH_WHARF_CLI`, else this checkout's dist/cli/main.js) */
  cli?: string
  /** keep only the last this many log lines (default: all) */
  keepLines?: number
  /** arguments after `start` (e.g. `--config <file>`) */
  args?: string[]
  /** wait for "Wharf node ready" (default true) */
  waitReady?: boolean
  /** sees every line the node writes to stdout or stderr (e.g. to count them when only a few are kept) */
  onLine?: (line: string) => void
}

/** A `wharf start` child process (the built CLI), as an operator would run it. */
export class WharfProcess {
  /** the port of the first listener (tcp:default, unless configured otherwise) */
  mqttPort = 0
  httpPort = 0
  /** the bound port of each listener, by `<kind>:<name>` (from the "Wharf node ready" line) */
  readonly ports = new Map<string, number>()
  readonly lines: string[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  private constructor (readonly proc: ChildProcess) {
    this.exited = new Promise(resolve => proc.once('exit', (code, signal) => resolve({ code, signal })))
  }

  get url (): string { return `mqtt://127.0.0.1:${this.mqttPort}` }
  get pid (): number { return this.proc.pid as number }

  /** The bound port of a listener, e.g. `ssl:default`. */
  port (listener: string): number {
    const port = this.ports.get(listener)
    if (port === undefined) throw new Error(`no listener ${listener} (have ${[...this.ports.keys()].join(', ')})`)
    return port
  }

  static async start (opts: StartOptions): Promise<WharfProcess> {
    const env: Record<string, string> = {
      ...process.env as Record<string, string>,
      WHARF_NODE__NAME: opts.nodeName ?? `test-${randomUUID().slice(0, 6)}`,
      WHARF_KAFKA__BROKERS: opts.brokers.join(','),
      WHARF_LISTENERS__TCP__DEFAULT__BIND: '127.0.0.1:0',
      WHARF_HTTP__BIND: '127.0.0.1',
      WHARF_HTTP__PORT: '0',
      WHARF_LOG__LEVEL: 'info',
      ...topicsEnv(opts.topics),
      WHARF_TOPICS__MESSAGES__PARTITIONS: '3',
      ...opts.env
    }
    delete env.WHARF_CONFIG
    const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.cli ?? CLI, 'start', ...(opts.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const wp = new WharfProcess(proc)
    const ready = new Promise<void>((resolve, reject) => {
      const onLine = (line: string): void => {
        wp.lines.push(line)
        opts.onLine?.(line)
        if (opts.keepLines !== undefined && wp.lines.length > opts.keepLines) wp.lines.shift()
        if (process.env.TEST_LOGS === '1') process.stderr.write(line + '\n')
        if (!line.includes('"Wharf node ready"')) return
        const entry = JSON.parse(line) as { listeners: string[]; http: number }
        // each `<kind>:<name>=<host>:<port>`
        for (const l of entry.listeners) wp.ports.set(l.slice(0, l.indexOf('=')), Number(l.slice(l.lastIndexOf(':') + 1)))
        wp.mqttPort = [...wp.ports.values()][0] ?? 0
        wp.httpPort = entry.http
        resolve()
      }
      lineReader(proc.stdout!, onLine)
      lineReader(proc.stderr!, onLine)
      void wp.exited.then(({ code }) => reject(new Error(`wharf exited (${code}) before it was ready:\n${wp.lines.slice(-20).join('\n')}`)))
    })
    if (opts.waitReady !== false) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`wharf not ready after 60 s:\n${wp.lines.slice(-20).join('\n')}`)), 60000) })
      try {
        await Promise.race([ready, timeout])
      } catch (err) {
        proc.kill('SIGKILL')
        throw err
      } finally {
        clearTimeout(timer)
      }
    } else {
      ready.catch(() => undefined)
    }
    return wp
  }

  /** SIGTERM (a graceful stop, which also writes a --cpu-prof profile) and wait for the exit; SIGKILL after 30 s. */
  async stop (): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM')
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 30000)
    const exit = await this.exited
    clearTimeout(timer)
    return exit
  }

  async kill (): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL')
    await this.exited
  }

  /** Wait for a log line that contains `text`. */
  async waitForLog (text: string, timeoutMs = 30000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = this.lines.find(l => l.includes(text))
      if (hit !== undefined) return hit
      if (Date.now() > deadline) throw new Error(`no log line with ${JSON.stringify(text)} within ${timeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
}

function lineReader (stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    rest += chunk
    let i: number
    while ((i = rest.indexOf('\n')) >= 0) {
      onLine(rest.slice(0, i))
      rest = rest.slice(i + 1)
    }
  })
}

/** The brokers the test run provides (test/run.ts sets KAFKA_BROKERS). */
export function testBrokers (): string[] {
  const b = process.env.KAFKA_BROKERS
  if (b === undefined || b === '') throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`')
  return b.split(',')
}
