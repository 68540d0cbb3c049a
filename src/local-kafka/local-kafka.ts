// Longer than ~300 lines on purpose: the supervision of a local KRaft cluster (format, start in
// parallel, readiness, stop with a kill fallback, attach from another process) as one class.
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Logger } from '../observability/logger.js'
import { brokerIdsSeenBy } from './cluster-probe.js'
import { formatStorage, nodeMarker, spawnKafkaNode, type KafkaGc } from './java.js'
import { PINNED_KAFKA_VERSION, ensureKafkaJars, kafkaJarsDir, kafkaVersion } from './kafka-jars.js'
import { LOCALHOST, arePortsFree, canConnect, findFreePort, findFreePortBlock } from './ports.js'
import { isProcessAlive, signalProcess, sleep, tailFile, terminate, waitForExit } from './process-utils.js'
import { log4j2Config, log4jProperties, nodePaths, nodePorts, serverProperties, type NodePorts } from './server-properties.js'
import { clusterIdFor, readState, writeState, type LocalKafkaState } from './state.js'
import { scramFormatArgs, secureListenerNames, securityProperties, tlsDirOf, type LocalKafkaSecurity, type SecureListenerName } from './security.js'

export { PINNED_KAFKA_VERSION }

export interface LocalKafkaOptions {
  /** data + logs + state.json for this cluster */
  dir: string
  nodes: 1 | 3
  /** client port of broker 1; broker i uses port + 2*(i-1), its controller the port after; 0 = pick free ports */
  port: number
  /** default 512 for 1 node, 384 each for 3 */
  heapMb?: number
  /** the JVM's garbage collector, default serial (java.ts: KafkaGc) */
  gc?: KafkaGc
  logger: Logger
  /** aborting stops the start: whatever was started is killed and start() rejects */
  signal?: AbortSignal
  /**
   * Secured client listeners besides PLAINTEXT (SASL/SCRAM, TLS) on free ports, for tests of
   * Wharf's `kafka.sasl.*` and `kafka.tls.*`. Not recorded in state.json: `attach` does not know them.
   */
  security?: LocalKafkaSecurity
}

export interface LocalKafkaNodeStatus { id: number; port: number; pid: number | undefined; alive: boolean }

const READY_TIMEOUT_MS = 120_000
const STOP_GRACE_MS = 30_000

/**
 * A real Apache Kafka cluster (KRaft, every node broker + controller) run from the Maven jars as
 * local java processes on 127.0.0.1. The processes outlive the Node.js process that started them;
 * `<dir>/state.json` lets a later process `attach` to them, and `stop` them.
 */
export class LocalKafka {
  readonly dir: string
  readonly nodes: 1 | 3
  readonly version: string
  readonly clusterId: string
  readonly brokers: string[]
  private readonly ports: NodePorts[]
  private readonly pids: Array<number | undefined>
  private readonly heapMb: number
  private readonly gc: KafkaGc | undefined
  private readonly log: Logger
  private jarsDir: string | undefined
  private readonly security: LocalKafkaSecurity | undefined
  /** per secured listener, the port of node i at index i-1 */
  private readonly securePorts = new Map<SecureListenerName, number[]>()

  private constructor (init: { dir: string; nodes: 1 | 3; version: string; clusterId: string; basePort: number; pids: Array<number | undefined>; heapMb: number; gc?: KafkaGc | undefined; jarsDir: string | undefined; logger: Logger; security?: LocalKafkaSecurity }) {
    this.dir = init.dir
    this.nodes = init.nodes
    this.version = init.version
    this.clusterId = init.clusterId
    this.ports = nodePorts(init.basePort, init.nodes)
    this.brokers = this.ports.map((p) => `${LOCALHOST}:${p.port}`)
    this.pids = init.pids
    this.heapMb = init.heapMb
    this.gc = init.gc
    this.jarsDir = init.jarsDir
    this.security = init.security
    this.log = init.logger.child({ component: 'local-kafka', dir: init.dir })
  }

  /** The bootstrap servers of a secured listener (see `LocalKafkaOptions.security`). */
  bootstrap (listener: SecureListenerName): string[] {
    const ports = this.securePorts.get(listener)
    if (ports === undefined) throw new Error(`this local Kafka has no ${listener} listener (listeners: PLAINTEXT${[...this.securePorts.keys()].map((n) => ', ' + n).join('')})`)
    return ports.map((port) => `${LOCALHOST}:${port}`)
  }

  /**
   * Fetches the jars if needed, formats the nodes not formatted yet (data survives a stop/start),
   * starts every node at once and waits until the cluster lists all of them. If anything fails
   * on the way, the processes started so far are killed before the error is thrown.
   */
  static async start (opts: LocalKafkaOptions): Promise<LocalKafka> {
    const dir = resolve(opts.dir)
    const n = opts.nodes
    if (n !== 1 && n !== 3) throw new Error(`a local Kafka has 1 or 3 nodes, not ${String(n)}`)
    await mkdir(dir, { recursive: true })
    const log = opts.logger.child({ component: 'local-kafka', dir })

    const previous = await readState(dir)
    if (previous !== undefined) {
      const running = previous.pids.filter((pid, i) => pid !== null && isProcessAlive(pid, nodeMarker(dir, i + 1)))
      if (running.length > 0) {
        throw new Error(`a local Kafka is already running in ${dir} (pids ${running.join(', ')}); stop it first or attach to it`)
      }
    }
    const formatted = formattedNodeIds(dir)
    if (formatted.length > 0 && (formatted.length !== n || formatted.some((id) => id > n))) {
      throw new Error(`${dir} holds the data of a ${formatted.length}-node cluster (nodes ${formatted.join(', ')}); it cannot start with ${n} node(s): use another dir or delete this one`)
    }

    const version = kafkaVersion()
    const jarsDir = await ensureKafkaJars({ logger: opts.logger, version })
    const basePort = await choosePorts(dir, n, opts.port, previous)
    const clusterId = await clusterIdFor(dir)
    const heapMb = opts.heapMb ?? (n === 1 ? 512 : 384)
    const kafka = new LocalKafka({ dir, nodes: n, version, clusterId, basePort, pids: new Array<undefined>(n).fill(undefined), heapMb, gc: opts.gc, jarsDir, logger: opts.logger, ...(opts.security === undefined ? {} : { security: opts.security }) })
    for (const name of secureListenerNames(opts.security)) {
      const ports: number[] = []
      for (let i = 0; i < n; i++) ports.push(await findFreePort())
      kafka.securePorts.set(name, ports)
    }

    const started = Date.now()
    const signal = opts.signal
    try {
      signal?.throwIfAborted()
      await Promise.all(kafka.ports.map(async ({ id }) => { await kafka.prepareNode(id) }))
      for (const { id } of kafka.ports) {
        signal?.throwIfAborted()
        kafka.pids[id - 1] = (await spawnKafkaNode({ jarsDir, version, clusterDir: dir, id, heapMb, gc: opts.gc })).pid
        await kafka.saveState()
      }
      log.info({ brokers: kafka.brokers, pids: kafka.pids }, 'local Kafka nodes started, waiting until ready')
      await kafka.waitUntilReady(READY_TIMEOUT_MS, signal)
    } catch (err) {
      if (signal?.aborted === true) log.info('local Kafka start aborted, killing what was started')
      else log.warn({ error: (err as Error).message }, 'local Kafka did not start, killing what was started')
      await kafka.killAll()
      throw err
    }
    log.info({ brokers: kafka.brokers, ms: Date.now() - started }, 'local Kafka ready')
    return kafka
  }

  /** The cluster recorded in `<dir>/state.json`; undefined when there is none or none of its nodes runs. */
  static async attach (dir: string, logger: Logger): Promise<LocalKafka | undefined> {
    const abs = resolve(dir)
    const state = await readState(abs)
    if (state === undefined) return undefined
    const pids = state.pids.map((pid, i) => pid !== null && isProcessAlive(pid, nodeMarker(abs, i + 1)) ? pid : undefined)
    if (pids.every((pid) => pid === undefined)) return undefined
    const basePort = state.ports[0]
    if (basePort === undefined) return undefined
    return new LocalKafka({
      dir: abs,
      nodes: state.nodes,
      version: state.version,
      clusterId: state.clusterId,
      basePort,
      pids,
      heapMb: state.heapMb ?? (state.nodes === 1 ? 512 : 384),
      gc: state.gc,
      jarsDir: state.jarsDir,
      logger
    })
  }

  /** The nodes recorded in `<dir>/state.json` and whether each runs; undefined when there is no state. */
  static async statusOf (dir: string): Promise<LocalKafkaNodeStatus[] | undefined> {
    const abs = resolve(dir)
    const state = await readState(abs)
    if (state === undefined) return undefined
    return state.ports.map((port, i) => {
      const pid = state.pids[i] ?? undefined
      return { id: i + 1, port, pid, alive: pid !== undefined && isProcessAlive(pid, nodeMarker(abs, i + 1)) }
    })
  }

  async status (): Promise<LocalKafkaNodeStatus[]> {
    return this.ports.map(({ id, port }) => {
      const pid = this.pids[id - 1]
      return { id, port, pid, alive: pid !== undefined && isProcessAlive(pid, nodeMarker(this.dir, id)) }
    })
  }

  /** SIGTERM to every node, SIGKILL to those still running after 30 s. */
  async stop (): Promise<void> {
    const started = Date.now()
    await Promise.all(this.ports.map(async ({ id }) => {
      const pid = this.pids[id - 1]
      if (pid === undefined) return
      const how = await terminate(pid, STOP_GRACE_MS, nodeMarker(this.dir, id))
      if (how === 'killed') this.log.warn({ node: id, pid }, 'Kafka node did not stop within 30 s: killed')
      this.pids[id - 1] = undefined
    }))
    await this.saveState()
    this.log.info({ ms: Date.now() - started }, 'local Kafka stopped')
  }

  /** Stops one node (for fault tests) and resolves once its process has exited. */
  async stopNode (id: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    this.checkId(id)
    const pid = this.pids[id - 1]
    const marker = nodeMarker(this.dir, id)
    if (pid !== undefined) {
      if (signal === 'SIGKILL') {
        signalProcess(pid, 'SIGKILL')
        if (!await waitForExit(pid, 10_000, marker)) throw new Error(`Kafka node ${id} (pid ${pid}) is still running 10 s after SIGKILL`)
      } else {
        await terminate(pid, STOP_GRACE_MS, marker)
      }
      this.log.info({ node: id, pid, signal }, 'Kafka node stopped')
    }
    this.pids[id - 1] = undefined
    await this.saveState()
  }

  /** Starts one stopped node again with its data; resolves once its port accepts and the cluster lists it. */
  async startNode (id: number): Promise<void> {
    this.checkId(id)
    const current = this.pids[id - 1]
    if (current !== undefined && isProcessAlive(current, nodeMarker(this.dir, id))) {
      this.log.info({ node: id, pid: current }, 'Kafka node already running')
    } else {
      const ports = this.ports[id - 1]
      if (ports !== undefined && !await arePortsFree([ports.port, ports.controllerPort])) {
        throw new Error(`cannot start Kafka node ${id}: port ${ports.port} or ${ports.controllerPort} on ${LOCALHOST} is in use`)
      }
      const jarsDir = await this.jars()
      await this.prepareNode(id)
      this.pids[id - 1] = (await spawnKafkaNode({ jarsDir, version: this.version, clusterDir: this.dir, id, heapMb: this.heapMb, gc: this.gc })).pid
      await this.saveState()
    }
    try {
      await this.waitUntilReady(READY_TIMEOUT_MS)
    } catch (err) {
      const pid = this.pids[id - 1]
      if (pid !== undefined) await terminate(pid, 5000, nodeMarker(this.dir, id))
      this.pids[id - 1] = undefined
      await this.saveState()
      throw err
    }
  }

  /**
   * Resolves once every running node's client port accepts and the cluster metadata lists all of
   * them. Fails at once when a node's process dies, with the tail of its server.out.
   */
  async waitReady (timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    await this.waitUntilReady(timeoutMs)
  }

  /** waitReady that stops waiting when `signal` aborts. */
  private async waitUntilReady (timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const running = this.ports.filter(({ id }) => this.pids[id - 1] !== undefined)
    if (running.length === 0) throw new Error(`no node of the local Kafka in ${this.dir} is running`)
    const wanted = running.map(({ id }) => id)
    const deadline = Date.now() + timeoutMs
    let views: Array<number[] | undefined> = []
    for (;;) {
      signal?.throwIfAborted()
      for (const { id } of running) {
        const pid = this.pids[id - 1]
        if (pid === undefined || !isProcessAlive(pid, nodeMarker(this.dir, id))) {
          this.pids[id - 1] = undefined
          throw new Error(`Kafka node ${id} (pid ${String(pid)}) exited while starting.\n${this.tails([id])}`)
        }
      }
      // ready = every running broker answers, and its own metadata lists every running broker
      views = await Promise.all(running.map(async ({ port }) => await canConnect(port) ? await brokerIdsSeenBy(port) : undefined))
      if (views.every((seen) => seen !== undefined && wanted.every((id) => seen.includes(id)))) return
      if (Date.now() >= deadline) {
        const seen = running.map(({ id, port }, i) => {
          const view = views[i]
          return `node ${id} (port ${port}): ${view === undefined ? 'no answer' : `lists [${view.join(', ')}]`}`
        }).join('; ')
        throw new Error(`the local Kafka in ${this.dir} was not ready after ${Math.round(timeoutMs / 1000)} s: ${seen}.\n${this.tails(wanted)}`)
      }
      await sleep(250)
    }
  }


  private checkId (id: number): void {
    if (!Number.isInteger(id) || id < 1 || id > this.nodes) throw new Error(`no Kafka node ${id}: nodes are 1..${this.nodes}`)
  }

  private async jars (): Promise<string> {
    if (this.jarsDir === undefined || !existsSync(this.jarsDir)) {
      this.jarsDir = await ensureKafkaJars({ logger: this.log, version: this.version, dir: this.jarsDir ?? kafkaJarsDir(this.version) })
    }
    return this.jarsDir
  }

  /** Writes the node's configuration files and formats its storage unless already formatted. */
  private async prepareNode (id: number): Promise<void> {
    const paths = nodePaths(this.dir, id)
    await mkdir(paths.logsDir, { recursive: true })
    await mkdir(paths.dataDir, { recursive: true })
    const listeners = [...this.securePorts].map(([name, ports]) => ({ name, port: ports[id - 1] as number }))
    const extra = await securityProperties(this.security, tlsDirOf(paths.dir))
    await writeFile(paths.serverProperties, serverProperties({ id, nodes: this.ports, dataDir: paths.dataDir, listeners, extra }))
    await writeFile(paths.log4jProperties, log4jProperties(paths.serverLog))
    await writeFile(paths.log4j2Config, log4j2Config(paths.serverLog))
    if (!existsSync(join(paths.dataDir, 'meta.properties'))) {
      this.log.info({ node: id }, 'formatting Kafka storage')
      await formatStorage({ jarsDir: await this.jars(), version: this.version, clusterDir: this.dir, id, clusterId: this.clusterId, extraArgs: scramFormatArgs(this.security) })
    }
  }

  private async killAll (): Promise<void> {
    await Promise.all(this.ports.map(async ({ id }) => {
      const pid = this.pids[id - 1]
      if (pid === undefined) return
      signalProcess(pid, 'SIGKILL')
      await waitForExit(pid, 10_000, nodeMarker(this.dir, id))
      this.pids[id - 1] = undefined
    }))
    await this.saveState().catch(() => undefined)
  }

  private async saveState (): Promise<void> {
    const state: LocalKafkaState = {
      version: this.version,
      nodes: this.nodes,
      ports: this.ports.map(({ port }) => port),
      pids: this.pids.map((pid) => pid ?? null),
      clusterId: this.clusterId,
      heapMb: this.heapMb,
      ...(this.gc === undefined ? {} : { gc: this.gc }),
      ...(this.jarsDir === undefined ? {} : { jarsDir: this.jarsDir })
    }
    await writeState(this.dir, state)
  }

  private tails (ids: number[]): string {
    return ids.map((id) => {
      const paths = nodePaths(this.dir, id)
      const out = tailFile(paths.serverOut, 30)
      return `--- node ${id}: tail of ${paths.serverOut} (full log: ${paths.serverLog}) ---\n${out === '' ? '(empty)' : out}`
    }).join('\n')
  }
}

/** Ids of the nodes whose storage in `dir` is already formatted. */
function formattedNodeIds (dir: string): number[] {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return []
  }
  return entries
    .map((name) => /^node-(\d+)$/.exec(name)?.[1])
    .filter((id): id is string => id !== undefined)
    .map(Number)
    .filter((id) => existsSync(join(nodePaths(dir, id).dataDir, 'meta.properties')))
    .sort((a, b) => a - b)
}

/** The first client port: the requested one (checked free), or for 0 the previous run's ports when free, else a fresh free block. */
async function choosePorts (dir: string, n: number, port: number, previous: LocalKafkaState | undefined): Promise<number> {
  if (!Number.isInteger(port) || port < 0 || port > 65535 - 2 * n) throw new Error(`invalid Kafka port ${port}`)
  const all = (base: number): number[] => nodePorts(base, n).flatMap((p) => [p.port, p.controllerPort])
  if (port !== 0) {
    if (!await arePortsFree(all(port))) {
      throw new Error(`cannot start a local Kafka in ${dir}: one of the ports ${all(port).join(', ')} on ${LOCALHOST} is in use (another Kafka?)`)
    }
    return port
  }
  const before = previous?.nodes === n ? previous.ports[0] : undefined
  if (before !== undefined && await arePortsFree(all(before))) return before
  return await findFreePortBlock(2 * n)
}
