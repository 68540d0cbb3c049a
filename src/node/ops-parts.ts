import { readFileSync } from 'node:fs'
import { ApiKeyView, parseBootstrapFile } from '../auth/api-keys/api-key-view.js'
import type { Membership } from '../cluster/membership.js'
import type { TakeoverCoordinator } from '../cluster/takeover.js'
import { ConfigError, type WharfConfig } from '../config/index.js'
import type { BatchingProducer } from '../kafka/batching-producer.js'
import { LogTail, type BatchHandler } from '../kafka/log-tail.js'
import type { PartitionFetcher } from '../kafka/partition-fetcher.js'
import type { Logger } from '../observability/logger.js'
import type { ProduceLatency } from '../observability/produce-latency.js'
import { TrafficCounters } from '../observability/traffic.js'
import { fanOut, type ClientEvents } from '../presence/client-events.js'
import type { MqttMessage } from '../protocol/message.js'
import { Presence } from '../presence/presence.js'
import { PresenceSweeper } from '../presence/presence-sweeper.js'
import { PresenceView } from '../presence/presence-view.js'
import { SysTopics, type SysNumbers } from '../sys/sys-topics.js'
import { VERSION } from '../version.js'

/** What operators see and steer a node with: presence, API keys, `$SYS`, traffic counts. */
export interface OpsParts {
  traffic: TrafficCounters
  produceLatency: ProduceLatency
  /** the clients topic, every client of the cluster */
  presenceView: PresenceView
  /** this node's clients, written to the clients topic */
  presence: Presence
  sweeper: PresenceSweeper
  apiKeys: ApiKeyView
  /** absent when `sys_topics.enable` is false */
  sys: SysTopics | undefined
  /** what the edge tells about its clients (presence, then $SYS) */
  clientEvents: ClientEvents
  clientsTail: LogTail
  apiKeysTail: LogTail
  /** joins of this node's shared-subscription groups (rebalances) and the time they took */
  rebalances: { joins: number; pauseMs: number; add: (ms: number) => void }
  /** publishes like a device's PUBLISH (the mapping, Kafka); resolves on Kafka's acknowledgement */
  publish: (message: MqttMessage) => Promise<void>
  /** asks the owning node to close a connection (a kick record) */
  kick: (clientId: string, owner: { node: string; conn: string }, by: string) => Promise<void>
}

export interface OpsDeps {
  node: string
  inc: string
  producer: BatchingProducer
  membership: Membership
  takeover: TakeoverCoordinator
  /** the views' fetcher (every partition from the earliest offset) */
  views: PartitionFetcher
  produceLatency: ProduceLatency
  publish: (message: MqttMessage) => Promise<void>
  /** delivers to this node's subscribers only (the edge's publishLocal), bound late */
  publishLocal: (topic: string, payload: Buffer) => void
  /** the node's numbers for `$SYS`, read at each tick */
  sysNumbers: () => SysNumbers
  startedAt: () => number
}

/** Builds the operations side of a node from its configuration (node/build.ts calls it). */
export function buildOps (config: WharfConfig, d: OpsDeps, logger: Logger): OpsParts {
  const presenceView = new PresenceView()
  const presence = new Presence(
    { node: d.node, inc: d.inc, topic: config.topics.clients.name, sessionExpiryS: config.mqtt.session_expiry_interval },
    { producer: d.producer, view: presenceView },
    logger)
  const sweeper = new PresenceSweeper(
    { node: d.node, topic: config.topics.clients.name, nodeTimeoutMs: config.cluster.node_timeout_ms, intervalMs: Math.min(5000, config.cluster.node_timeout_ms) },
    { view: presenceView, producer: d.producer, isLive: (n, inc) => d.membership.isLive(n, inc), liveNodes: () => d.membership.liveNodes() },
    logger)
  const apiKeys = new ApiKeyView()
  const file = config.api_key.bootstrap_file
  if (file !== undefined) apiKeys.addBootstrap(readBootstrap(file))
  const s = config.sys_topics
  const sys = !s.enable
    ? undefined
    : new SysTopics({
      node: d.node,
      version: VERSION,
      msgIntervalMs: s.sys_msg_interval,
      heartbeatIntervalMs: s.sys_heartbeat_interval,
      events: {
        connected: s.sys_event_messages.client_connected,
        disconnected: s.sys_event_messages.client_disconnected,
        subscribed: s.sys_event_messages.client_subscribed,
        unsubscribed: s.sys_event_messages.client_unsubscribed
      }
    }, { publish: d.publishLocal, startedAt: d.startedAt, liveNodes: () => d.membership.liveNodes(), numbers: d.sysNumbers }, logger)
  const rebalances = { joins: 0, pauseMs: 0, add: (ms: number): void => { rebalances.joins++; rebalances.pauseMs += ms } }
  const tail = (topic: string, onBatch: BatchHandler): LogTail => new LogTail(d.views, { topics: [topic], from: 'earliest', onBatch })
  return {
    traffic: new TrafficCounters(),
    produceLatency: d.produceLatency,
    presenceView,
    presence,
    sweeper,
    apiKeys,
    sys,
    // $SYS first: it reads what presence forgets at a disconnect
    clientEvents: sys === undefined ? presence : fanOut(sys, presence),
    clientsTail: tail(config.topics.clients.name, presenceView.onBatch),
    apiKeysTail: tail(config.topics.api_keys.name, apiKeys.onBatch),
    rebalances,
    publish: d.publish,
    kick: (clientId, owner, by) => d.takeover.kick(clientId, owner, by)
  }
}

function readBootstrap (file: string): Array<[string, string]> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError('api_key.bootstrap_file', 'a readable file of name:secret lines', `cannot read ${file}: ${(err as Error).message}`)
  }
  try {
    return parseBootstrapFile(text)
  } catch (err) {
    throw new ConfigError('api_key.bootstrap_file', 'name:secret lines', `${file}, ${(err as Error).message}`)
  }
}
