import { spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { InvalidArgumentError, type Command } from 'commander'
import { LocalKafka } from '../local-kafka/index.js'
import { settlesWithin, sleep } from '../util/async.js'
import { cliLogger, parseKafkaNodes, portParser } from './cli-options.js'

const DEFAULT_KAFKA_DIR = '.wharf/dev-kafka'
const READY_TIMEOUT_MS = 120_000
const EDGE_STOP_TIMEOUT_MS = 45_000

interface DevOptions { nodes: number; kafkaNodes: 1 | 3; kafkaDir: string; kafkaPort: number }

/** One edge of the dev cluster: `wharf<i>` on MQTT port `<i>883`, HTTP port `1808<i>`. */
interface Edge {
  name: string
  mqttPort: number
  httpPort: number
  child: ChildProcess
  exited: Promise<void>
  alive: boolean
}

function parseEdgeCount (value: string): number {
  const n = Number(value)
  if (!/^[1-9]$/.test(value)) throw new InvalidArgumentError('a number of edges from 1 to 9')
  return n
}

function seconds (since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`
}

/** Copies a child's output to ours line by line, each line prefixed with the edge's name. */
function forward (stream: NodeJS.ReadableStream | null, prefix: string, out: NodeJS.WriteStream): void {
  if (stream === null) return
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  lines.on('line', (line) => { out.write(`${prefix} | ${line}\n`) })
}

/** Node flags that must not be passed to the edges (a second inspector would fail to bind). */
function childExecArgv (): string[] {
  return process.execArgv.filter((arg) => !arg.startsWith('--inspect') && !arg.startsWith('--debug'))
}

function startEdge (i: number, brokers: string[]): Edge {
  const name = `wharf${i}`
  const mqttPort = i * 1000 + 883
  const httpPort = 18080 + i
  const main = resolve(process.argv[1] ?? 'dist/cli/main.js')
  const child = spawn(process.execPath, [...childExecArgv(), main, 'start'], {
    env: {
      ...process.env,
      WHARF_NODE__NAME: name,
      WHARF_KAFKA__BROKERS: brokers.join(','),
      WHARF_LISTENERS__TCP__DEFAULT__BIND: `0.0.0.0:${mqttPort}`,
      WHARF_HTTP__PORT: String(httpPort)
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const pad = name.padEnd(7)
  forward(child.stdout, pad, process.stdout)
  forward(child.stderr, pad, process.stderr)
  const edge: Edge = { name, mqttPort, httpPort, child, alive: true, exited: Promise.resolve() }
  edge.exited = new Promise((resolveExit) => {
    child.once('exit', () => {
      edge.alive = false
      resolveExit()
    })
    child.once('error', (err) => {
      console.error(`${name}: cannot start: ${err.message}`)
      edge.alive = false
      resolveExit()
    })
  })
  return edge
}

/** Polls `GET /ready` until it answers 200; rejects when the edge exits or the time is up. */
async function waitUntilReady (edge: Edge, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const url = `http://127.0.0.1:${edge.httpPort}/ready`
  while (Date.now() < deadline) {
    signal.throwIfAborted()
    if (!edge.alive) throw new Error(`${edge.name} exited before it was ready (see its output above)`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await res.body?.cancel()
      if (res.status === 200) return
    } catch {
      // not listening yet
    }
    await sleep(250)
  }
  throw new Error(`${edge.name} was not ready within ${timeoutMs / 1000} s (${url})`)
}

/** SIGTERM (the edge drains and exits), SIGKILL if it is still running after `timeoutMs`. */
async function stopEdge (edge: Edge, timeoutMs: number): Promise<void> {
  if (!edge.alive) return
  edge.child.kill('SIGTERM')
  const late = !await settlesWithin(edge.exited, timeoutMs)
  if (late && edge.alive) {
    console.error(`${edge.name} did not stop within ${timeoutMs / 1000} s: killing it`)
    edge.child.kill('SIGKILL')
    await edge.exited
  }
}

async function runDev (opts: DevOptions): Promise<void> {
  const logger = cliLogger('dev')
  const dir = resolve(opts.kafkaDir)
  const edges: Edge[] = []
  let kafka: LocalKafka | undefined
  let ownsKafka = false
  let stopping = false
  const aborter = new AbortController()
  let finish: (code: number) => void = () => {}
  const finished = new Promise<number>((r) => { finish = r })

  const stopAll = async (code: number): Promise<void> => {
    const started = Date.now()
    const running = edges.filter((e) => e.alive)
    if (running.length > 0) console.log(`stopping ${running.map((e) => e.name).join(', ')} ...`)
    await Promise.all(edges.map(async (e) => { await stopEdge(e, EDGE_STOP_TIMEOUT_MS) }))
    if (kafka !== undefined && ownsKafka) {
      console.log(`stopping the Kafka in ${dir} ...`)
      await kafka.stop()
    } else if (kafka !== undefined) {
      console.log(`leaving the Kafka in ${dir} running (it was running before; stop it with: wharf kafka stop --dir ${opts.kafkaDir})`)
    }
    console.log(`stopped in ${seconds(started)}`)
    finish(code)
  }

  // starting: a signal aborts the start and the catch below cleans up; running: a signal stops all
  let phase: 'starting' | 'running' = 'starting'
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping || aborter.signal.aborted) {
      // a second Ctrl-C: do not wait for the edges to drain
      for (const e of edges) if (e.alive) e.child.kill('SIGKILL')
      return
    }
    console.log(`\n${signal}: stopping the dev cluster (again to kill the edges at once)`)
    aborter.abort()
    if (phase === 'starting') return
    stopping = true
    stopAll(0).catch((err: unknown) => {
      console.error(`wharf dev: error while stopping: ${(err as Error).message}`)
      finish(1)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const started = Date.now()
  try {
    kafka = await LocalKafka.attach(dir, logger)
    if (kafka !== undefined) {
      if (kafka.nodes !== opts.kafkaNodes) {
        throw new Error(`a ${kafka.nodes}-node Kafka is already running in ${dir}; stop it first (wharf kafka stop --dir ${opts.kafkaDir}) or use --kafka-nodes ${kafka.nodes}`)
      }
      console.log(`using the ${kafka.nodes}-node Kafka already running in ${dir}`)
    } else {
      console.log(`starting a ${opts.kafkaNodes}-node Kafka in ${dir} ...`)
      kafka = await LocalKafka.start({ dir, nodes: opts.kafkaNodes, port: opts.kafkaPort, logger, signal: aborter.signal })
      ownsKafka = true
      console.log(`Kafka ${kafka.version} ready in ${seconds(started)}`)
    }
    const brokers = kafka.brokers
    aborter.signal.throwIfAborted()

    const edgesStarted = Date.now()
    console.log(`starting ${opts.nodes} edge(s) ...`)
    for (let i = 1; i <= opts.nodes; i++) edges.push(startEdge(i, brokers))
    for (const edge of edges) {
      void edge.exited.then(() => {
        if (stopping || phase === 'starting') return
        const { exitCode, signalCode } = edge.child
        console.error(`${edge.name} exited unexpectedly (${signalCode ?? `exit code ${String(exitCode)}`}); the other edges keep running`)
        if (edges.every((e) => !e.alive)) {
          console.error('no edge is left running: stopping the dev cluster')
          stopping = true
          stopAll(1).catch(() => { finish(1) })
        }
      })
    }
    await Promise.all(edges.map(async (e) => { await waitUntilReady(e, READY_TIMEOUT_MS, aborter.signal) }))
    const dead = edges.filter((e) => !e.alive)
    if (dead.length > 0) throw new Error(`${dead.map((e) => e.name).join(', ')} exited right after it was ready`)
    phase = 'running'

    console.log('')
    console.log(`Wharf dev cluster ready in ${seconds(started)} (edges ${seconds(edgesStarted)})`)
    for (const e of edges) {
      console.log(`  ${e.name}  mqtt://127.0.0.1:${e.mqttPort}  http://127.0.0.1:${e.httpPort}/ready`)
    }
    console.log(`  Kafka (${kafka.nodes} broker${kafka.nodes > 1 ? 's' : ''})  KAFKA_BROKERS=${brokers.join(',')}`)
    console.log('Ctrl-C stops the edges and then the Kafka.')
    console.log('')
  } catch (err) {
    const interrupted = aborter.signal.aborted
    if (!interrupted) console.error(`wharf dev: ${(err as Error).message}`)
    stopping = true
    await stopAll(interrupted ? 0 : 1).catch((stopErr: unknown) => {
      console.error(`wharf dev: error while stopping: ${(stopErr as Error).message}`)
      finish(1)
    })
  }

  const code = await finished
  process.removeListener('SIGINT', onSignal)
  process.removeListener('SIGTERM', onSignal)
  process.exit(code)
}

export function registerDevCommand (program: Command): void {
  program
    .command('dev')
    .description('run a local cluster: a local Kafka and N edges wharf1..wharfN on MQTT ports 1883, 2883, ... and HTTP ports 18081, 18082, ...; ' +
      'the edges\' logs are forwarded to this terminal, each line prefixed with the node name; Ctrl-C stops everything (needs java and mvn)')
    .option('--nodes <n>', 'number of edges, 1 to 9 (edge i: MQTT port <i>883, HTTP port 1808<i>)', parseEdgeCount, 3)
    .option('--kafka-nodes <n>', 'Kafka brokers: 3 (replication factor 3, min.insync.replicas=2) or 1', parseKafkaNodes, 3 as 1 | 3)
    .option('--kafka-dir <dir>', 'folder for the Kafka data (kept between runs)', DEFAULT_KAFKA_DIR)
    .option('--kafka-port <port>', 'client port of Kafka broker 1 (0 = free ports, the same as last time when possible)', portParser(0), 0)
    .action(async (opts: DevOptions) => {
      await runDev(opts)
    })
}
