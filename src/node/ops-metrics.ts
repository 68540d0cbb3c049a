import type { PartitionFetcher } from '../kafka/partition-fetcher.js'
import type { Metrics } from '../observability/metrics.js'
import { PACKET_TYPES } from '../observability/traffic.js'
import type { NodeParts } from './build.js'
import { droppedCounts } from './node-stats.js'

type Labelled = Iterable<[Record<string, string>, number]>

/**
 * The metrics EMQX users look for, under Wharf's names, read from the parts' own numbers at scrape
 * time (nothing extra on the hot paths): connections (per listener, current and peak), sessions,
 * subscriptions, retained messages, messages and packets by direction, QoS and type, bytes,
 * drops by reason, bytes waiting for Kafka, the readers' lag per partition, rebalances, presence.
 * The Kafka produce latency histograms are `ProduceLatency`'s.
 */
export function registerOpsMetrics (m: Metrics, p: NodeParts): void {
  const t = p.ops.traffic
  const presence = p.ops.presence
  m.gaugeFrom('wharf_connections', 'MQTT clients connected to this node (CONNACK sent)', () => p.edge.connectedClients)
  m.gaugeFrom('wharf_connections_max', 'the most MQTT clients connected to this node at once since it started', () => presence.peak)
  m.gaugeByLabelsFrom('wharf_listener_clients', 'MQTT clients connected now, per listener', ['listener'], function * () {
    for (const [listener, c] of presence.listenerConnections()) yield [{ listener }, c.current]
  })
  m.gaugeByLabelsFrom('wharf_listener_clients_max', 'the most MQTT clients connected at once since the node started, per listener', ['listener'], function * () {
    for (const [listener, c] of presence.listenerConnections()) yield [{ listener }, c.max]
  })
  m.gaugeFrom('wharf_sessions_stored', 'persistent sessions in the sessions topic (the whole cluster)', () => p.sessionView.sessions.size)
  m.gaugeByLabelsFrom('wharf_subscriptions', 'subscriptions of this node\'s clients, plain and shared ($share/, $queue/)', ['kind'], function * () {
    const c = presence.subscriptionCounts()
    yield [{ kind: 'plain' }, c.plain]
    yield [{ kind: 'shared' }, c.shared]
  })
  m.gaugeFrom('wharf_retained_messages', 'retained messages (the retained view every node keeps)', () => p.retained.view.size)
  m.gaugeFrom('wharf_clients_known', 'presence records: connected clients and persistent sessions of the whole cluster', () => p.ops.presenceView.size)
  m.countByLabelsFrom('wharf_messages_received_total', 'PUBLISH packets received from clients, by QoS', ['qos'], () => byQos(t.publishIn))
  m.countByLabelsFrom('wharf_messages_sent_total', 'PUBLISH packets sent to clients (resends included), by QoS', ['qos'], () => byQos(t.publishOut))
  m.countByLabelsFrom('wharf_messages_dropped_total', 'messages dropped: PUBLISHes the ACL refused (not_authorized), log records no client can be given (undeliverable_record)', ['reason'],
    () => Object.entries(droppedCounts(p)).map(([reason, n]) => [{ reason }, n]))
  m.countByLabelsFrom('wharf_packets_received_total', 'MQTT packets received, by type', ['type'], () => byType(t.packetsIn))
  m.countByLabelsFrom('wharf_packets_sent_total', 'MQTT packets sent, by type', ['type'], () => byType(t.packetsOut))
  m.countFrom('wharf_bytes_received_total', 'MQTT bytes received (packets as read)', () => t.bytesIn)
  m.countFrom('wharf_bytes_sent_total', 'MQTT bytes sent', () => t.bytesOut)
  m.gaugeFrom('wharf_kafka_pending_bytes', 'bytes handed to the producer and not yet acknowledged by Kafka', () => p.producer.pending)
  m.gaugeByLabelsFrom('wharf_kafka_consumer_lag', 'records between a reader\'s position and the partition\'s high watermark (last Fetch), per reader and partition', ['reader', 'kafka_topic', 'partition'],
    () => lagOf(p.fetchers))
  m.countFrom('wharf_shared_rebalances_total', 'joins of this node\'s shared-subscription groups (each one pauses the group)', () => p.ops.rebalances.joins)
  m.countFrom('wharf_shared_rebalance_pause_seconds_total', 'time the joins of this node\'s shared-subscription groups took', () => p.ops.rebalances.pauseMs / 1000)
  m.countFrom('wharf_presence_records_unreadable_total', 'records of the clients and API keys topics this version could not read (skipped)', () => p.ops.presenceView.unreadable + p.ops.apiKeys.unreadable)
}

function byQos (counts: number[]): Labelled {
  return counts.map((n, qos): [Record<string, string>, number] => [{ qos: String(qos) }, n])
}

function byType (counts: number[]): Labelled {
  return counts.flatMap((n, code): Array<[Record<string, string>, number]> => (code === 0 ? [] : [[{ type: PACKET_TYPES[code] as string }, n]]))
}

function * lagOf (fetchers: Record<string, PartitionFetcher>): Labelled {
  for (const [reader, f] of Object.entries(fetchers)) {
    for (const { topic, partition } of f.assignments()) {
      const high = f.highWatermark(topic, partition)
      const at = f.position(topic, partition)
      if (high !== undefined && at !== undefined) yield [{ reader, kafka_topic: topic, partition: String(partition) }, Number(high > at ? high - at : 0n)]
    }
  }
}

