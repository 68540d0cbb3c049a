import { registerAuthMetrics } from '../auth/auth-metrics.js'
import { banKey, encodeBanRecord } from '../auth/bans/banned-record.js'
import { BannedView } from '../auth/bans/banned-view.js'
import { createAuth, type Auth } from '../auth/build.js'
import { UserView } from '../auth/users/user-view.js'
import { Membership } from '../cluster/membership.js'
import { nodesLogHandler } from '../cluster/nodes-log.js'
import { TakeoverCoordinator } from '../cluster/takeover.js'
import type { WharfConfig } from '../config/index.js'
import { MqttEdge } from '../edge/edge.js'
import { BatchingProducer } from '../kafka/batching-producer.js'
import { createKafka } from '../kafka/client.js'
import { LogTail, type BatchHandler } from '../kafka/log-tail.js'
import { PartitionFetcher, type TopicFetchCounters } from '../kafka/partition-fetcher.js'
import { RangeReader } from '../kafka/range-reader.js'
import { ensureTopics } from '../kafka/topic-admin.js'
import { Mapping } from '../mapping/mapping.js'
import { registrySchemasFor } from '../mapping/registry-schemas.js'
import type { Logger } from '../observability/logger.js'
import { createMetrics, type Metrics } from '../observability/metrics.js'
import { ProduceLatency } from '../observability/produce-latency.js'
import { RetainedStore } from '../retained/retained-store.js'
import { InterestPlan } from '../routing/interest.js'
import { LiveReader } from '../routing/live-reader.js'
import { LogDelivery } from '../routing/log-delivery.js'
import { LogPublisher } from '../routing/log-publisher.js'
import { DeadNodeWills } from '../session/dead-node-wills.js'
import { SessionManager } from '../session/session-manager.js'
import type { Owner } from '../session/session-record.js'
import { SessionView } from '../session/session-view.js'
import { WillStore } from '../session/will-store.js'
import { SharedSubscriptions } from '../shared/shared-subscriptions.js'
import { registerListenerMetrics } from './listener-metrics.js'
import { buildOps, type OpsParts } from './ops-parts.js'
import { registerOpsMetrics } from './ops-metrics.js'
import { sysNumbers } from './node-stats.js'
import { buildLimits, checkTopicFit, createdMaxMessageBytes, topicNeeds, type NodeLimits } from './limits-wiring.js'
import { topicSpecs } from './topic-specs.js'

/** Everything one node is made of, wired together; `WharfNode` starts and stops it in order. */
export interface NodeParts {
  metrics: Metrics
  producer: BatchingProducer
  mapping: Mapping
  retained: RetainedStore
  membership: Membership
  sessionView: SessionView
  sessions: SessionManager
  deadNodeWills: DeadNodeWills
  rangeReader: RangeReader
  shared: SharedSubscriptions
  edge: MqttEdge
  /** the authentication chain and the ACL the edge asks; reload() on SIGHUP, close() at stop */
  auth: Auth
  /** limit events (wharf_limit_events_total) and the overload monitor */
  limits: NodeLimits
  /** this node's views of the users and banned topics */
  users: UserView
  banned: BannedView
  delivery: LogDelivery
  /** the views' fetcher (retained, sessions, nodes: every partition), the data topics' (this node's interest), the replays' */
  fetchers: { views: PartitionFetcher; messages: PartitionFetcher; replay: PartitionFetcher }
  live: LiveReader
  retainedTail: LogTail
  sessionsTail: LogTail
  nodesTail: LogTail
  usersTail: LogTail
  bannedTail: LogTail
  /** presence, API keys, $SYS, traffic counts (node/ops-parts.ts) */
  ops: OpsParts
  /** creates the topics that are missing; the partition count of each (the live reader reads them from here) */
  ensureTopics: () => Promise<Map<string, number>>
}

/**
 * Builds the parts of one node from its validated configuration. This is the one place where the
 * configuration's names (EMQX's, snake_case) become the code's options; no part below sees the
 * configuration object.
 */
export function buildNode (config: WharfConfig, brokers: string[], inc: string, logger: Logger): NodeParts {
  const node = config.node.name
  const builtAt = Date.now()
  const metrics = createMetrics(node)
  const kafka = createKafka({ ...config.kafka, brokers }, logger)
  const produceLatency = new ProduceLatency(metrics.registry)
  // a record Kafka refuses for good fails alone: counted as a limit event (the producer logs it)
  const producer = new BatchingProducer(kafka, config.kafka.producer, logger, { onAcked: produceLatency.observe, onRefused: () => limits.events.count('kafka_rejected') })
  const limits = buildLimits(config, producer, metrics, logger)
  const mapping = new Mapping(config.mapping.rules, config.topics.messages.name, registrySchemasFor(config.mapping.schema_registry, logger))
  const retained = new RetainedStore(producer, config.topics.retained.name)
  const membership = new Membership(config.cluster.node_timeout_ms)
  const takeover = new TakeoverCoordinator(producer, { node, topic: config.topics.nodes.name, onClose: (_id, conn, reason) => ops.presence.noteClosing(conn, reason), onClaimed: (id, conn) => wills.reconnected(id, conn) }, logger)
  const publisher = new LogPublisher(producer, mapping, retained)
  const sessionView = new SessionView()
  const ownerLive = (o: Owner): boolean => (o.node === node && o.inc === inc) || membership.isLive(o.node, o.inc)
  const fetchers = {
    // a long poll returns as soon as a record arrives: a longer wait costs the views no latency, only fewer idle requests
    views: new PartitionFetcher(kafka, { purpose: 'views', maxWaitTimeMs: 1000 }, logger),
    messages: new PartitionFetcher(kafka, { purpose: 'messages' }, logger),
    replay: new PartitionFetcher(kafka, { purpose: 'replay' }, logger)
  }
  const ops = buildOps(config, {
    node, inc, producer, membership, takeover, views: fetchers.views, produceLatency,
    publish: (m) => publisher.publish(m),
    publishLocal: (topic, payload) => edge.publishLocal(topic, payload),
    sysNumbers: () => sysNumbers(parts),
    startedAt: () => builtAt
  }, logger)
  const rangeReader = new RangeReader(fetchers.replay, mapping.kafkaTopics)
  const partitionCounts = new Map<string, number>()
  const partitionCount = (topic: string): number => {
    const n = partitionCounts.get(topic)
    if (n === undefined) throw new Error(`the partitions of ${topic} are not known yet`)
    return n
  }
  const live = new LiveReader({ fetcher: fetchers.messages, plan: new InterestPlan(mapping.routes(), partitionCount), mapping, partitionsOf: partitionCount, logger })
  // the sessions view is read-your-writes through its tail, declared below
  const tails: { sessions?: LogTail } = {}
  const sessions = new SessionManager({
    node,
    inc,
    topic: config.topics.sessions.name,
    expiryS: config.mqtt.session_expiry_interval,
    maxOfflineMessages: config.mqtt.max_offline_messages,
    checkpointIntervalMs: config.mqtt.session_checkpoint_interval_ms,
    takeoverTimeoutMs: config.cluster.takeover_timeout_ms
  }, {
    producer,
    view: sessionView,
    syncView: () => (tails.sessions as LogTail).reachEnd(),
    deliveredPositions: () => live.positions(),
    dataWatermarks: (keys) => live.watermarks(keys),
    reader: rangeReader,
    decoder: mapping,
    ownerLive,
    sweeperFor: (owner) => {
      const live = membership.liveNodes()
      return live.includes(owner) ? owner : live[0]
    },
    metrics
  }, logger)
  const wills = new WillStore({ producer, topic: config.topics.sessions.name, view: sessionView, syncView: () => (tails.sessions as LogTail).reachEnd(), publish: (m) => publisher.publish(m), logger })
  const deadNodeWills = new DeadNodeWills(
    { node, inc, nodesTopic: config.topics.nodes.name, intervalMs: Math.min(1000, config.cluster.heartbeat_interval_ms) },
    { producer, view: sessionView, ownerLive, publish: (m) => publisher.publish(m), remove: (clientId) => wills.remove(clientId), metrics },
    logger)
  const shared = new SharedSubscriptions({
    kafka,
    topics: mapping.kafkaTopics,
    clusterKey: config.topics.messages.name,
    strategy: config.shared_subscription.strategy,
    groupStrategies: config.shared_subscription.group_strategy,
    memberTimeoutMs: config.shared_subscription.member_timeout_ms,
    concurrency: 16,
    decoder: mapping,
    onDispatch: (what) => (what === 'delivered' ? metrics.sharedDelivered : metrics.sharedRedelivered).inc(),
    onRebalance: ops.rebalances.add,
    logger
  })
  const users = new UserView()
  const banned = new BannedView()
  const auth = createAuth(config, {
    users,
    banned,
    // a ban made here (flapping_detect) counts here at once, and on every node once Kafka has it
    onBan: (ban) => {
      producer.send({ topic: config.topics.banned.name, key: banKey(ban.kind, ban.value), value: encodeBanRecord(ban) })
        .catch((err: unknown) => logger.warn({ err, kind: ban.kind }, 'ban not written to Kafka; it counts on this node only'))
    },
    logger
  })
  const edge = new MqttEdge({
    node,
    inc,
    listeners: config.listeners,
    mqtt: {
      maxClientIdLength: config.mqtt.max_clientid_len,
      maxUsernameLength: config.mqtt.max_username_length,
      connectTimeoutMs: config.mqtt.idle_timeout,
      // inbound QoS 2 awaiting PUBREL per client (InboundWindow; Infinity = no bound)
      maxAwaitingRel: config.mqtt.max_awaiting_rel,
      maxInflight: config.mqtt.max_inflight,
      maxQueueLen: config.mqtt.max_mqueue_len,
      maxClientBufferBytes: config.mqtt.max_client_buffer_bytes,
      slowClientTimeoutMs: config.mqtt.slow_client_timeout
    },
    mqtt5: {
      receiveMaximum: config.mqtt.receive_maximum,
      sessionExpiryInterval: config.mqtt.session_expiry_interval,
      maxTopicAlias: config.mqtt.max_topic_alias,
      serverKeepalive: config.mqtt.server_keepalive,
      reasonStrings: config.mqtt.reason_strings,
      responseInformation: config.mqtt.response_information,
      maxPacketSize: config.mqtt.max_packet_size,
      maxQos: config.mqtt.max_qos_allowed
    },
    // the outbound side's limits (queue_full, inflight_full, slow_client) log their own lines
    onLimit: (reason, n) => limits.events.count(reason, n),
    limits: limits.edge,
    peerCertAs: { username: config.mqtt.peer_cert_as_username, clientid: config.mqtt.peer_cert_as_clientid },
    authenticate: auth.authenticator,
    enhancedAuth: auth.enhanced,
    authorize: auth.authorizer,
    interest: live,
    claim: (clientId, connection) => takeover.claim(clientId, connection),
    publisher,
    retained: retained.view,
    sessions,
    wills,
    shared,
    clientEvents: ops.clientEvents,
    traffic: ops.traffic,
    logger
  })
  const delivery = new LogDelivery(edge.delivery, mapping, logger)
  for (const topic of mapping.kafkaTopics) fetchers.messages.setHandler(topic, delivery.onBatch)
  const view = (topic: string, onBatch: BatchHandler): LogTail => new LogTail(fetchers.views, { topics: [topic], from: 'earliest', onBatch })
  const retainedTail = view(config.topics.retained.name, retained.view.onBatch)
  const sessionsTail = tails.sessions = view(config.topics.sessions.name, sessionView.onBatch)
  const nodesTail = view(config.topics.nodes.name, nodesLogHandler({ membership, takeover, wills: deadNodeWills, logger }))
  const usersTail = view(config.topics.users.name, users.onBatch)
  const bannedTail = view(config.topics.banned.name, banned.onBatch)
  const parts: NodeParts = {
    metrics, producer, mapping, retained, membership, sessionView, sessions, deadNodeWills, rangeReader, shared, edge, auth, limits, users, banned,
    delivery, fetchers, live, retainedTail, sessionsTail, nodesTail, usersTail, bannedTail, ops,
    ensureTopics: async () => {
      // the topics of client data are created big enough for mqtt.max_packet_size; existing ones must be
      const needs = topicNeeds(config)
      const counts = await ensureTopics(kafka, topicSpecs(config.topics, mapping.kafkaTopics, createdMaxMessageBytes(needs)), logger)
      await checkTopicFit(kafka, needs, config, logger)
      for (const [topic, n] of counts) partitionCounts.set(topic, n)
      mapping.setPartitionCounts(counts)
      return counts
    }
  }
  registerCounts(parts)
  registerAuthMetrics(metrics, auth.authenticator, auth.authorizer)
  registerOpsMetrics(metrics, parts)
  registerListenerMetrics(metrics, () => edge.listenerStats())
  return parts
}

/** The counts parts keep themselves (plain numbers on their hot paths), as Prometheus metrics. */
function registerCounts (p: NodeParts): void {
  const m = p.metrics
  m.countFrom('wharf_kafka_produced_records_total', 'records acknowledged by Kafka (acks=all)', () => p.producer.stats.records)
  m.countFrom('wharf_kafka_produce_batches_total', 'produce batches acknowledged by Kafka', () => p.producer.stats.batches)
  m.countFrom('wharf_kafka_produce_retries_total', 'produce batches sent again after a retriable failure (never dropped)', () => p.producer.stats.retries)
  m.countByLabelsFrom('wharf_kafka_refused_records_total', 'records Kafka refused for good (too large, invalid, not authorized): not written, not retried', ['kafka_topic', 'error'], () => p.producer.refusedCounts())
  m.countFrom('wharf_delivered_records_total', 'records of the data topics handed to this node\'s subscribers', () => p.delivery.delivered)
  m.countByLabelsFrom('wharf_skipped_records_total', 'records of the data topics that cannot be delivered over MQTT, skipped', ['kafka_topic', 'reason'], () => p.delivery.skippedCounts())
  m.countFrom('wharf_session_replay_records_read_total', 'records read from Kafka for resuming sessions', () => p.rangeReader.recordsRead)
  registerFetchCounts(m, p.fetchers)
  m.gaugeFrom('wharf_live_partitions', 'data-topic partitions this node reads for its clients\' subscriptions (its interest)', () => p.fetchers.messages.assignments().length)
  m.countFrom('wharf_session_records_unreadable_total', 'records of the sessions topic this version could not read (skipped)', () => p.sessionView.unreadable)
  m.countFrom('wharf_auth_records_unreadable_total', 'records of the users and banned topics this version could not read (skipped)', () => p.users.unreadable + p.banned.unreadable)
}

/** What each reader fetched from Kafka, per Kafka topic (bytes, records, skipped before decoding). */
function registerFetchCounts (m: Metrics, fetchers: Record<string, PartitionFetcher>): void {
  const per = (field: keyof TopicFetchCounters) => function * (): Iterable<[Record<string, string>, number]> {
    for (const [reader, f] of Object.entries(fetchers)) {
      for (const [topic, c] of f.topicCounters) yield [{ reader, kafka_topic: topic }, c[field]]
    }
  }
  const labels = ['reader', 'kafka_topic']
  m.countByLabelsFrom('wharf_kafka_fetch_requests_total', 'Fetch requests that asked for a partition of the topic', labels, per('fetchRequests'))
  m.countByLabelsFrom('wharf_kafka_fetched_bytes_total', 'bytes of record batches fetched', labels, per('bytesFetched'))
  m.countByLabelsFrom('wharf_kafka_fetched_records_total', 'records fetched', labels, per('recordsFetched'))
  m.countByLabelsFrom('wharf_kafka_skipped_records_total', 'records skipped before decoding: no local subscription matches their MQTT topic', labels, per('recordsSkipped'))
  m.countByLabelsFrom('wharf_kafka_lost_records_total', 'records that left Kafka (retention) before a reader got to them', labels, per('recordsLost'))
}
