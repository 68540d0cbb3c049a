import type { KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import type { RecordCodec } from './codec.js'
import { jsonCodec } from './json-codec.js'
import type { MqttMessage } from './mqtt-message.js'
import type { MappingRuleSpec } from './mapping-rules.js'
import { rawCodec } from './raw-codec.js'
import { compileKeyTemplate, compileMqttTopicTemplate, type KeyTemplate } from './template.js'
import { compileTopicFilter, isValidTopicName, type TopicMatcher } from './topic-filter.js'

interface OutboundRule {
  matches: TopicMatcher
  kafkaTopic: string
  key: KeyTemplate
  codec: RecordCodec
}

interface InboundTopic {
  codec: RecordCodec
  qos: 0 | 1 | 2
  mqttTopic: ((key: string) => string) | undefined
}

export type MapResult = { ok: true; message: MqttMessage } | { ok: false; reason: string }

const CODECS: Record<MappingRuleSpec['format'], RecordCodec> = { raw: rawCodec, json: jsonCodec }

/**
 * The compiled mapping rules, both directions. MQTT -> Kafka: the first rule whose filter matches
 * the MQTT topic picks the Kafka topic, key and format; no match means the data topic, raw, key =
 * MQTT topic. Kafka -> MQTT: the first rule that names a Kafka topic gives its format, default QoS
 * and MQTT topic template. Rules must be valid (the config schema checks them).
 */
export class Mapping {
  private readonly outbound: OutboundRule[]
  private readonly inbound = new Map<string, InboundTopic>()
  private readonly defaultRule: OutboundRule

  constructor (rules: readonly MappingRuleSpec[], readonly dataTopic: string) {
    this.outbound = rules.map((r) => ({
      matches: compileTopicFilter(r.filter),
      kafkaTopic: r.kafka_topic,
      key: compileKeyTemplate(r.key),
      codec: CODECS[r.format]
    }))
    this.defaultRule = { matches: () => true, kafkaTopic: dataTopic, key: (m) => m.topic, codec: rawCodec }
    for (const r of rules) {
      if (this.inbound.has(r.kafka_topic)) continue
      this.inbound.set(r.kafka_topic, {
        codec: CODECS[r.format],
        qos: r.qos,
        mqttTopic: r.mqtt_topic === undefined ? undefined : compileMqttTopicTemplate(r.mqtt_topic)
      })
    }
    if (!this.inbound.has(dataTopic)) this.inbound.set(dataTopic, { codec: rawCodec, qos: 0, mqttTopic: undefined })
  }

  /** Every Kafka topic a node reads for delivery: the data topic first, then the rules' topics. */
  get kafkaTopics (): string[] {
    return [this.dataTopic, ...[...this.inbound.keys()].filter((t) => t !== this.dataTopic)]
  }

  /** The record for a message published over MQTT. */
  encode (message: MqttMessage): OutgoingRecord {
    let rule = this.defaultRule
    for (const r of this.outbound) {
      if (r.matches(message.topic)) {
        rule = r
        break
      }
    }
    return rule.codec.encode(message, { topic: rule.kafkaTopic, key: rule.key(message) })
  }

  /** The MQTT message for a record of one of `kafkaTopics`. */
  decode (kafkaTopic: string, record: KafkaMessage): MapResult {
    const inbound = this.inbound.get(kafkaTopic)
    if (inbound === undefined) return { ok: false, reason: 'Kafka topic not mapped' }
    const decoded = inbound.codec.decode(record)
    if (!decoded.ok) return decoded
    const r = decoded.record
    let topic = r.topic
    if (topic === undefined) {
      const key = record.key?.toString()
      if (key === undefined) return { ok: false, reason: 'no MQTT topic (header, envelope) and no key' }
      topic = inbound.mqttTopic === undefined ? key : inbound.mqttTopic(key)
    }
    if (!isValidTopicName(topic)) return { ok: false, reason: 'invalid MQTT topic' }
    return {
      ok: true,
      message: { topic, payload: r.payload, qos: r.qos ?? inbound.qos, retain: r.retain, clientId: r.clientId, username: r.username, node: r.node }
    }
  }
}
