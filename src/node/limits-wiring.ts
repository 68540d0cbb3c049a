import type { Kafka } from 'kafkajs'
import { ConfigError, type WharfConfig } from '../config/index.js'
import { LISTENER_KINDS } from '../config/listeners-schema.js'
import type { EdgeLimitOptions } from '../edge/edge-limits.js'
import type { BatchingProducer } from '../kafka/batching-producer.js'
import { describeMessageLimits } from '../kafka/topic-admin.js'
import type { ClientRates } from '../limits/inbound-limiter.js'
import { LimitEvents, registerLimitMetrics } from '../limits/limit-events.js'
import { heapLimit, memoryLimit, OverloadMonitor, resolveBand } from '../limits/overload-monitor.js'
import {
  BATCH_OVERHEAD, fitProblem, maxMessageBytesFor, publishRecordBytes, retainedRecordBytes, willRecordBytes, type FitLimits, type TopicNeed
} from '../limits/record-fit.js'
import { templateParts } from '../mapping/template.js'
import type { Logger } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'

/** The limits of one node: the events counter, the overload monitor, and what the edge is given. */
export interface NodeLimits {
  events: LimitEvents
  /** undefined when `overload_protection.enable` is false */
  overload: OverloadMonitor | undefined
  edge: EdgeLimitOptions
}

/**
 * Builds the node's limits from the configuration (the names become options here, as in
 * build.ts): `wharf_limit_events_total`, the overload monitor over this node's memory and
 * producer, and the edge's limits (mqtt.*, the listeners' rates, overload_protection.*).
 */
export function buildLimits (config: WharfConfig, producer: BatchingProducer, metrics: Metrics, logger: Logger): NodeLimits {
  const events = new LimitEvents(logger)
  registerLimitMetrics(metrics, events)
  const o = config.overload_protection
  const overload = !o.enable
    ? undefined
    : new OverloadMonitor({
      settings: {
        heap: resolveBand(o.heap_high_watermark, o.heap_low_watermark, heapLimit()),
        rss: resolveBand(o.rss_high_watermark, o.rss_low_watermark, memoryLimit()),
        kafkaPending: resolveBand(o.kafka_pending_high_watermark, o.kafka_pending_low_watermark, config.kafka.producer.max_pending_bytes),
        kafkaAckTimeoutMs: o.kafka_ack_timeout
      },
      checkIntervalMs: o.check_interval,
      kafka: () => ({ kafkaPending: producer.pending, kafkaAckStalledMs: producer.ackStalledMs() }),
      logger
    })
  if (overload !== undefined) {
    metrics.gaugeFrom('wharf_overloaded', 'whether the node is overloaded now (1): refusing new connections and pausing publishers', () => overload.overloaded ? 1 : 0)
  }
  const rates = new Map<string, ClientRates>()
  for (const kind of LISTENER_KINDS) {
    for (const [name, l] of Object.entries(config.listeners[kind])) rates.set(`${kind}:${name}`, { messages: l.messages_rate, bytes: l.bytes_rate })
  }
  const m = config.mqtt
  return {
    events,
    overload,
    edge: {
      maxPacketSize: m.max_packet_size,
      rules: { maxTopicLevels: m.max_topic_levels, maxQosAllowed: m.max_qos_allowed, maxSubscriptions: m.max_subscriptions },
      awaitRelTimeoutMs: m.await_rel_timeout,
      ratesOf: (listener) => rates.get(listener) ?? {},
      overload,
      backoffNewConn: o.backoff_new_conn,
      backoffPublish: o.backoff_publish,
      events
    }
  }
}

/**
 * What every topic that holds client data must hold: data topics (by their routes: the default raw
 * route and each mapping rule's format and key), the retained topic (retained PUBLISHes) and the
 * sessions topic (wills), for a packet of `mqtt.max_packet_size`.
 */
export function topicNeeds (config: WharfConfig): TopicNeed[] {
  const limits: FitLimits = {
    maxPacketSize: config.mqtt.max_packet_size,
    maxClientIdLen: config.mqtt.max_clientid_len,
    maxUsernameLen: config.mqtt.max_username_length,
    node: config.node.name
  }
  const batchBytes = config.kafka.producer.batch_max_bytes + BATCH_OVERHEAD
  const byTopic = new Map<string, number>([[config.topics.messages.name, publishRecordBytes({ format: 'raw', key: [{ kind: 'var', name: 'topic' }] }, limits)]])
  const registry = config.mapping.schema_registry !== undefined
  for (const rule of config.mapping.rules) {
    const bytes = publishRecordBytes({ format: rule.format, key: templateParts(rule.key, 'key'), registry }, limits)
    byTopic.set(rule.kafka_topic, Math.max(bytes, byTopic.get(rule.kafka_topic) ?? 0))
  }
  return [
    ...[...byTopic].map(([topic, recordBytes]) => ({ topic, recordBytes, what: 'a PUBLISH', batchBytes })),
    { topic: config.topics.retained.name, recordBytes: retainedRecordBytes(limits), what: 'a retained PUBLISH', batchBytes },
    { topic: config.topics.sessions.name, recordBytes: willRecordBytes(limits), what: 'a will', batchBytes }
  ]
}

/** The max.message.bytes each topic that holds client data is created with. */
export function createdMaxMessageBytes (needs: readonly TopicNeed[]): (topic: string) => number | undefined {
  const sizes = new Map(needs.map(n => [n.topic, maxMessageBytesFor(n)]))
  return (topic) => sizes.get(topic)
}

/**
 * Reads the topics' `max.message.bytes` (and the broker's `message.max.bytes`) and throws a
 * ConfigError naming `mqtt.max_packet_size` (or `kafka.producer.batch_max_bytes`) when a topic
 * cannot hold what the node may write into it: every such PUBLISH would be refused by Kafka.
 */
export async function checkTopicFit (kafka: Kafka, needs: readonly TopicNeed[], config: WharfConfig, logger: Logger): Promise<void> {
  const limits = await describeMessageLimits(kafka, needs.map(n => n.topic))
  logger.info({
    maxPacketSize: config.mqtt.max_packet_size,
    brokerMessageMaxBytes: limits.broker,
    topics: Object.fromEntries(needs.map(n => [n.topic, { maxMessageBytes: limits.topics.get(n.topic), needed: Math.max(n.recordBytes, n.batchBytes) }]))
  }, 'Kafka record size limits')
  const problem = fitProblem(needs, (topic) => limits.topics.get(topic))
  if (problem === undefined) return
  const need = needs.find(n => n.topic === problem.topic) as TopicNeed
  const fix = `kafka-configs.sh --alter --entity-type topics --entity-name ${problem.topic} --add-config max.message.bytes=${problem.needed}`
  const broker = limits.broker === undefined ? '' : `; the broker's message.max.bytes is ${limits.broker}`
  const problemText = problem.key === 'mqtt.max_packet_size'
    ? `${config.mqtt.max_packet_size} bytes do not fit in a record of Kafka topic ${problem.topic}: ${need.what} that large makes a record of up to ${problem.needed} bytes (key, headers and framing included) and the topic's max.message.bytes is ${problem.maxMessageBytes}${broker}. Raise it (${fix}) or lower mqtt.max_packet_size`
    : `${config.kafka.producer.batch_max_bytes} bytes of records do not fit in one record batch of Kafka topic ${problem.topic} (max.message.bytes ${problem.maxMessageBytes}${broker}). Raise it (${fix}) or lower kafka.producer.batch_max_bytes`
  throw new ConfigError(problem.key, `a size that fits the topic's max.message.bytes (${problem.maxMessageBytes})`, problemText)
}
