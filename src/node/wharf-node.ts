import { randomUUID } from 'node:crypto'
import { Mapping } from '../mapping/mapping.js'
import type { MqttMessage } from '../protocol/message.js'
import { registrySchemasFor } from '../mapping/registry-schemas.js'
import { Heartbeat } from '../cluster/heartbeat.js'
import { Membership } from '../cluster/membership.js'
import { nodesLogHandler } from '../cluster/nodes-log.js'
import { TakeoverCoordinator } from '../cluster/takeover.js'
import { parseBind, type WharfConfig } from '../config/index.js'
import { BatchingProducer } from '../kafka/batching-producer.js'
import { createKafka } from '../kafka/client.js'
import { LogTail } from '../kafka/log-tail.js'
import { RangeReader } from '../kafka/range-reader.js'
import { ensureTopics } from '../kafka/topic-admin.js'
import { MqttEdge } from '../edge/edge.js'
import { HealthServer, type ReadinessReport } from '../observability/health-server.js'
import type { Logger } from '../observability/logger.js'
import { createMetrics, type Metrics } from '../observability/metrics.js'
import { RetainedStore } from '../retained/retained-store.js'
import { LogDelivery } from '../routing/log-delivery.js'
import { LogPublisher } from '../routing/log-publisher.js'
import { DeadNodeWills } from '../session/dead-node-wills.js'
import { SharedSubscriptions } from '../shared/shared-subscriptions.js'
import { SessionManager } from '../session/session-manager.js'
import type { Owner } from '../session/session-record.js'
import { SessionView } from '../session/session-view.js'
import { WillStore } from '../session/will-store.js'
import { VERSION } from '../version.js'
import { topicSpecs } from './topic-specs.js'

type Phase = 'starting' | 'connecting to Kafka' | 'loading retained messages' | 'loading sessions' | 'ready' | 'stopping'

const STARTUP_RETRY_MS = [500, 1000, 2000, 5000]

/**
 * One Wharf edge node: the composition root that wires Kafka, routing, retained messages and the
 * MQTT edge together, in start order, and takes them down in the reverse order.
 */
export class WharfNode {
  private phase: Phase = 'starting'
  private readonly log: Logger
  private readonly health: HealthServer
  private readonly producer: BatchingProducer
  private readonly retained: RetainedStore
  private readonly retainedTail: LogTail
  private readonly dataTail: LogTail
  private readonly delivery: LogDelivery
  private readonly membership: Membership
  private readonly takeover: TakeoverCoordinator
  private readonly nodesTail: LogTail
  private readonly sessionsTail: LogTail
  private readonly sessionView = new SessionView()
  private readonly sessions: SessionManager
  private readonly deadNodeWills: DeadNodeWills
  private readonly rangeReader: RangeReader
  private readonly shared: SharedSubscriptions
  /** this run of the node: session and will records name it, so a restart is told from a survivor */
  readonly inc = randomUUID()
  readonly metrics: Metrics
  private heartbeat: Heartbeat | undefined
  readonly edge: MqttEdge
  private startedAt = 0
  private stopping = false

  constructor (private readonly config: WharfConfig, logger: Logger, brokers: string[]) {
    this.log = logger
    const kafka = createKafka({ ...config.kafka, brokers }, logger)
    this.producer = new BatchingProducer(kafka, config.kafka.producer, logger)
    const mapping = new Mapping(config.mapping.rules, config.topics.messages.name, registrySchemasFor(config.mapping.schema_registry, logger))
    this.registerSchemas = () => mapping.registerSchemas()
    this.retained = new RetainedStore(this.producer, config.topics.retained.name)
    this.membership = new Membership(config.cluster.node_timeout_ms)
    this.takeover = new TakeoverCoordinator(this.producer, { node: config.node.name, topic: config.topics.nodes.name }, logger)
    this.metrics = createMetrics(config.node.name)
    const node = config.node.name
    const publisher = new LogPublisher(this.producer, mapping)
    const wills = new WillStore(this.producer, config.topics.sessions.name, this.sessionView)
    const ownerLive = (o: Owner): boolean => (o.node === node && o.inc === this.inc) || this.membership.isLive(o.node, o.inc)
    this.rangeReader = new RangeReader(kafka, { node, topics: mapping.kafkaTopics }, logger)
    this.sessions = new SessionManager({
      node,
      inc: this.inc,
      topic: config.topics.sessions.name,
      expiryS: config.mqtt.session_expiry_interval,
      maxOfflineMessages: config.mqtt.max_offline_messages,
      checkpointIntervalMs: config.mqtt.session_checkpoint_interval_ms,
      takeoverTimeoutMs: config.cluster.takeover_timeout_ms
    }, {
      producer: this.producer,
      view: this.sessionView,
      syncView: () => this.sessionsTail.reachEnd(),
      deliveredPositions: () => this.dataTail.positions(),
      dataWatermarks: () => this.dataTail.watermarks(),
      reader: this.rangeReader,
      decode: (topic, record) => mapping.decode(topic, record),
      prefetch: (topic, records) => mapping.prefetch(topic, records),
      ownerLive,
      sweeperFor: (owner) => {
        const live = this.membership.liveNodes()
        return live.includes(owner) ? owner : live[0]
      },
      metrics: this.metrics
    }, logger)
    const publishWill = (m: MqttMessage): Promise<void> =>
      m.retain ? Promise.all([publisher.publish(m), this.retained.write(m)]).then(() => undefined) : publisher.publish(m)
    this.deadNodeWills = new DeadNodeWills(
      { node, inc: this.inc, nodesTopic: config.topics.nodes.name, intervalMs: Math.min(1000, config.cluster.heartbeat_interval_ms) },
      { producer: this.producer, view: this.sessionView, ownerLive, publish: publishWill, remove: (clientId) => wills.remove(clientId), metrics: this.metrics },
      logger)
    this.shared = new SharedSubscriptions(kafka, {
      topics: mapping.kafkaTopics,
      clusterKey: config.topics.messages.name,
      strategy: config.shared_subscription.strategy,
      groupStrategies: config.shared_subscription.group_strategy,
      memberTimeoutMs: config.shared_subscription.member_timeout_ms,
      concurrency: 16
    }, (topic, record) => mapping.decode(topic, record), logger, (topic, records) => mapping.prefetch(topic, records),
    (what) => (what === 'delivered' ? this.metrics.sharedDelivered : this.metrics.sharedRedelivered).inc())
    this.edge = new MqttEdge({
      node,
      listeners: Object.entries(config.listeners.tcp)
        .filter(([, l]) => l.enabled)
        .map(([name, l]) => ({ name, ...parseBind(l.bind), maxConnections: l.max_connections })),
      maxClientIdLength: config.mqtt.max_client_id_length,
      connectTimeoutMs: config.mqtt.connect_timeout_ms,
      maxInflightInbound: config.mqtt.max_inflight_inbound,
      publisher,
      retained: this.retained,
      logger,
      claim: (clientId, connection) => this.takeover.claim(clientId, connection),
      sessions: { manager: this.sessions, wills, inc: this.inc },
      shared: this.shared
    })
    this.delivery = new LogDelivery(this.edge, mapping, logger)
    this.retainedTail = new LogTail(kafka, { purpose: 'retained', node, topics: [config.topics.retained.name], from: 'earliest', onBatch: this.retained.view.onBatch }, logger)
    this.sessionsTail = new LogTail(kafka, { purpose: 'sessions', node, topics: [config.topics.sessions.name], from: 'earliest', onBatch: this.sessionView.onBatch }, logger)
    this.dataTail = new LogTail(kafka, { purpose: 'messages', node, topics: mapping.kafkaTopics, from: 'latest', onBatch: this.delivery.onBatch }, logger)
    this.nodesTail = new LogTail(kafka, { purpose: 'nodes', node, topics: [config.topics.nodes.name], from: 'earliest', onBatch: nodesLogHandler(this.membership, this.takeover, logger, this.deadNodeWills) }, logger)
    this.health = new HealthServer(() => this.readiness(), logger, {
      contentType: this.metrics.registry.contentType,
      metrics: () => this.metrics.registry.metrics()
    })
    this.ensureTopics = () => ensureTopics(kafka, topicSpecs(config.topics, mapping.kafkaTopics), logger)
  }

  private readonly ensureTopics: () => Promise<Map<string, number>>
  /** Avro envelope in the schema registry (mapping.schema_registry); rejects naming that key. */
  private readonly registerSchemas: () => Promise<void>

  get httpPort (): number { return this.health.port }

  /** Start everything; resolves when the node is ready (MQTT listeners open). */
  async start (): Promise<void> {
    const t0 = Date.now()
    await this.health.listen(this.config.http.bind, this.config.http.port)
    this.phase = 'connecting to Kafka'
    await this.untilKafkaAnswers()
    await this.registerSchemas()
    await this.producer.connect()
    this.phase = 'loading retained messages'
    await this.retainedTail.start()
    await this.retainedTail.caughtUp()
    this.phase = 'loading sessions'
    await this.sessionsTail.start()
    await this.sessionsTail.caughtUp()
    await this.dataTail.start()
    await this.rangeReader.start()
    await this.nodesTail.start()
    await this.nodesTail.caughtUp()
    await this.edge.start()
    this.startedAt = Date.now()
    this.heartbeat = new Heartbeat(this.producer, {
      node: this.config.node.name,
      topic: this.config.topics.nodes.name,
      intervalMs: this.config.cluster.heartbeat_interval_ms,
      version: VERSION,
      startedAt: this.startedAt,
      inc: this.inc,
      status: () => ({ listeners: this.edge.boundListeners.map(l => ({ name: l.name, host: l.host, port: l.port })), connections: this.edge.connectedClients })
    }, this.log)
    await this.heartbeat.start()
    this.sessions.start()
    this.deadNodeWills.start()
    this.phase = 'ready'
    this.log.info({
      startupMs: this.startedAt - t0,
      retained: this.retained.view.size,
      sessions: this.sessionView.sessions.size,
      listeners: this.edge.boundListeners.map(l => `${l.name}=${l.host}:${l.port}`),
      http: this.health.port
    }, 'Wharf node ready')
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
    const deadline = Date.now() + timeoutMs
    await this.edge.stopAccepting()
    void this.heartbeat?.leave()
    this.sessions.stop()
    this.deadNodeWills.stop()
    await withTimeout(this.producer.flush(), Math.max(1000, timeoutMs / 3))
    await withTimeout(this.edge.close(), Math.max(1000, deadline - Date.now() - 3000))
    await withTimeout(this.shared.stop(), Math.max(1000, deadline - Date.now() - 2000))
    await this.producer.close(Math.max(1000, deadline - Date.now() - 1000))
    await Promise.all([this.dataTail.stop(), this.retainedTail.stop(), this.nodesTail.stop(), this.sessionsTail.stop(), this.rangeReader.stop()])
    await this.health.close()
    this.log.info('Wharf node stopped')
  }

  private async untilKafkaAnswers (): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const partitions = await this.ensureTopics()
        this.log.info({ topics: Object.fromEntries(partitions) }, 'Kafka topics present')
        return
      } catch (err) {
        if (this.stopping) throw err
        const delay = STARTUP_RETRY_MS[Math.min(attempt, STARTUP_RETRY_MS.length - 1)] as number
        this.log.warn({ err, attempt: attempt + 1, retryInMs: delay }, 'Kafka not reachable yet')
        await new Promise(resolve => setTimeout(resolve, delay))
      }
    }
  }

  private readiness (): ReadinessReport {
    return {
      ready: this.phase === 'ready',
      phase: this.phase,
      node: this.config.node.name,
      connections: this.edge.connectedClients,
      retained: this.retained.view.size,
      sessions: { stored: this.sessionView.sessions.size, local: this.sessions.size },
      kafkaPendingBytes: this.producer.pending,
      uptimeMs: this.startedAt === 0 ? 0 : Date.now() - this.startedAt,
      cluster: this.membership.summary()
    }
  }
}

/** Wait for `p`, at most `ms` (a stop must end even when Kafka does not answer). */
async function withTimeout (p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p.catch(() => undefined), new Promise(resolve => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
}
