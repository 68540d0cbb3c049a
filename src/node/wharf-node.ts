import { randomUUID } from 'node:crypto'
import { Heartbeat } from '../cluster/heartbeat.js'
import { ConfigError, type WharfConfig } from '../config/index.js'
import type { ListenerKind } from '../config/listeners-schema.js'
import type { HttpServer, ReadinessReport } from '../api/http-server.js'
import type { Logger } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'
import { settlesWithin, sleep } from '../util/async.js'
import { VERSION } from '../version.js'
import { buildNode, type NodeParts } from './build.js'
import { createHttpServer } from './http.js'
import { heartbeatCounters } from './node-stats.js'
import { kafkaStartProblem } from './kafka-start-errors.js'

/** A started node in a few words (the banner of `wharf start` on a terminal). */
export interface NodeSummary {
  node: string
  version: string
  brokers: string[]
  /** `name` is `<kind>:<name>`; `path` is a WebSocket listener's `mqtt_path` */
  listeners: Array<{ name: string; kind: ListenerKind; host: string; port: number; path?: string }>
  http: { host: string; port: number; tls: boolean; dashboard: boolean }
}

type Phase = 'starting' | 'connecting to Kafka' | 'loading retained messages' | 'loading users and bans' | 'loading sessions' | 'ready' | 'stopping'

const STARTUP_RETRY_MS = [500, 1000, 2000, 5000]

/**
 * One Wharf edge node: starts its parts (built by `buildNode`) in order, reports readiness, and
 * takes them down in the reverse order.
 */
export class WharfNode {
  private phase: Phase = 'starting'
  private readonly log: Logger
  private readonly health: HttpServer
  private readonly parts: NodeParts
  /** this run of the node: session and will records name it, so a restart is told from a survivor */
  readonly inc = randomUUID()
  private heartbeat: Heartbeat | undefined
  private startedAt = 0
  private stopping = false

  constructor (private readonly config: WharfConfig, logger: Logger, private readonly brokers: string[]) {
    this.log = logger
    this.parts = buildNode(config, brokers, this.inc, logger)
    this.health = createHttpServer(config, this.parts, () => this.readiness(), () => this.startedAt, logger)
  }

  get httpPort (): number { return this.health.port }
  get metrics (): Metrics { return this.parts.metrics }

  /** What the start banner shows (after start). */
  summary (): NodeSummary {
    const h = this.config.http
    return {
      node: this.config.node.name,
      version: VERSION,
      brokers: this.brokers,
      listeners: this.parts.edge.describeListeners().map(l => {
        const ws = l.kind === 'ws' || l.kind === 'wss' ? this.config.listeners[l.kind][l.name]?.websocket.mqtt_path : undefined
        return { name: l.listener, kind: l.kind, host: l.host, port: l.port, ...(ws === undefined ? {} : { path: ws }) }
      }),
      http: { host: h.bind, port: this.health.port, tls: h.ssl_options !== undefined, dashboard: h.dashboard }
    }
  }

  /** Start everything; resolves when the node is ready (MQTT listeners open). */
  async start (): Promise<void> {
    const t0 = Date.now()
    const p = this.parts
    await this.health.listen(this.config.http.bind, this.config.http.port)
    this.phase = 'connecting to Kafka'
    await this.untilKafkaAnswers()
    await p.mapping.registerSchemas()
    await p.producer.connect()
    await Promise.all([p.fetchers.views.start(), p.fetchers.messages.start(), p.fetchers.replay.start()])
    this.phase = 'loading retained messages'
    await p.retainedTail.start()
    await p.retainedTail.caughtUp()
    this.phase = 'loading users and bans'
    await Promise.all([p.usersTail.start(), p.bannedTail.start(), p.ops.apiKeysTail.start(), p.ops.clientsTail.start()])
    await Promise.all([p.usersTail.caughtUp(), p.bannedTail.caughtUp(), p.ops.apiKeysTail.caughtUp(), p.ops.clientsTail.caughtUp()])
    this.phase = 'loading sessions'
    await p.sessionsTail.start()
    await p.sessionsTail.caughtUp()
    await p.nodesTail.start()
    await p.nodesTail.caughtUp()
    p.limits.overload?.start()
    await p.edge.start()
    this.startedAt = Date.now()
    this.heartbeat = new Heartbeat(p.producer, {
      node: this.config.node.name,
      topic: this.config.topics.nodes.name,
      counters: () => heartbeatCounters(p),
      intervalMs: this.config.cluster.heartbeat_interval_ms,
      version: VERSION,
      startedAt: this.startedAt,
      inc: this.inc,
      status: () => ({ listeners: p.edge.describeListeners().map(l => ({ name: l.name, kind: l.kind, host: l.host, port: l.port })), connections: p.edge.connectedClients })
    }, this.log)
    await this.heartbeat.start()
    p.sessions.start()
    p.deadNodeWills.start()
    p.ops.sweeper.start()
    p.ops.sys?.start()
    this.phase = 'ready'
    this.log.info({
      startupMs: this.startedAt - t0,
      retained: p.retained.view.size,
      sessions: p.sessionView.sessions.size,
      users: p.users.size,
      banned: p.banned.list().length,
      listeners: p.edge.describeListeners().map(l => `${l.listener}=${l.host}:${l.port}`),
      http: this.health.port
    }, 'Wharf node ready')
  }

  /** SIGHUP: read the ACL files again (a bad file keeps the rules in force); whether the new rules took effect. */
  reload (): boolean {
    return this.parts.auth.reload()
  }

  /**
   * SIGHUP: the TLS listeners read their certificate files again (a bad set keeps the certificate
   * in use, logged with the key at fault); whether none failed.
   */
  reloadCertificates (): boolean {
    return this.parts.edge.reloadCertificates()
  }

  /**
   * Graceful stop: not ready, stop accepting, let Kafka acknowledge what is pending (so those
   * PUBACKs still go out), close the clients (their wills and final session states are written),
   * stop reading the log. Bounded by `timeoutMs`.
   */
  async stop (timeoutMs = 15000): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.phase = 'stopping'
    const p = this.parts
    const deadline = Date.now() + timeoutMs
    await p.edge.stopAccepting()
    void this.heartbeat?.leave()
    p.sessions.stop()
    p.deadNodeWills.stop()
    p.ops.sweeper.stop()
    p.ops.sys?.stop()
    await settlesWithin(p.producer.flush(), Math.max(1000, timeoutMs / 3))
    await settlesWithin(p.edge.close(), Math.max(1000, deadline - Date.now() - 3000))
    await settlesWithin(p.shared.stop(), Math.max(1000, deadline - Date.now() - 2000))
    await p.producer.close(Math.max(1000, deadline - Date.now() - 1000))
    p.limits.overload?.stop()
    p.auth.close()
    await Promise.all([p.retainedTail.stop(), p.nodesTail.stop(), p.sessionsTail.stop(), p.usersTail.stop(), p.bannedTail.stop(), p.ops.clientsTail.stop(), p.ops.apiKeysTail.stop(), p.rangeReader.stop()])
    await Promise.all([p.fetchers.views.stop(), p.fetchers.messages.stop(), p.fetchers.replay.stop()])
    await this.health.close()
    this.log.info('Wharf node stopped')
  }

  private async untilKafkaAnswers (): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const partitions = await this.parts.ensureTopics()
        this.log.info({ topics: Object.fromEntries(partitions) }, 'Kafka topics present')
        return
      } catch (err) {
        // a configuration Kafka's topics cannot serve (mqtt.max_packet_size): retrying will not help
        if (this.stopping || err instanceof ConfigError) throw err
        const delay = STARTUP_RETRY_MS[Math.min(attempt, STARTUP_RETRY_MS.length - 1)] as number
        const problem = kafkaStartProblem(err)
        if (problem === undefined) this.log.warn({ err, attempt: attempt + 1, retryInMs: delay }, 'Kafka not reachable yet')
        else this.log.error({ err, keys: problem.keys, attempt: attempt + 1, retryInMs: delay }, problem.message)
        await sleep(delay)
      }
    }
  }

  /** Each listener as /ready shows it: where it is bound, connections open, accepted, and closed by the listener by reason. */
  private listenerReport (): Array<Record<string, unknown>> {
    const stats = this.parts.edge.listenerStats()
    return this.parts.edge.describeListeners().map(l => {
      const s = stats[l.listener]
      return { ...l, connections_total: s?.total ?? 0, closed: s?.closed ?? {} }
    })
  }

  private readiness (): ReadinessReport {
    const p = this.parts
    return {
      ready: this.phase === 'ready',
      phase: this.phase,
      node: this.config.node.name,
      connections: p.edge.connectedClients,
      retained: p.retained.view.size,
      sessions: { stored: p.sessionView.sessions.size, local: p.sessions.size },
      users: p.users.size,
      banned: p.banned.list().length,
      kafkaPendingBytes: p.producer.pending,
      livePartitions: p.fetchers.messages.assignments().length,
      uptimeMs: this.startedAt === 0 ? 0 : Date.now() - this.startedAt,
      cluster: p.membership.summary(),
      ...(p.limits.overload?.report() ?? { overloaded: false }),
      pausedClients: p.edge.limits.pausedClients,
      listeners: this.listenerReport()
    }
  }
}
