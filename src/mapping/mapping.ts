import type { KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import { avroCodec } from './avro-codec.js'
import type { Format, RecordCodec } from './codec.js'
import { jsonCodec } from './json-codec.js'
import type { MessageProperties, MqttMessage, Qos } from '../protocol/message.js'
import type { MappingRuleSpec } from './mapping-rules.js'
import { Placement } from './placement.js'
import { rawCodec } from './raw-codec.js'
import { RegistryAvroCodec } from './registry-avro-codec.js'
import type { RegistrySchemas } from './registry-schemas.js'
import { compileKeyTemplate, compileMqttTopicTemplate, templateParts, type KeyTemplate, type TemplatePart } from './template.js'
import { compileTopicFilter, isValidTopicName, type TopicMatcher } from '../protocol/topic-filter.js'
import { propertiesFromHeaders } from './property-headers.js'

interface OutboundRule {
  matches: TopicMatcher
  kafkaTopic: string
  key: KeyTemplate
  codec: RecordCodec
}

interface InboundTopic {
  codec: RecordCodec
  qos: Qos
  mqttTopic: ((key: string) => string) | undefined
}

/** Where MQTT messages go in Kafka: the Kafka topic, the MQTT topics written there, how they are keyed. */
export interface OutboundRoute {
  kafkaTopic: string
  /** the MQTT topics this route writes (a rule's filter); undefined = any topic (the default route) */
  filter: string | undefined
  /** how the record key is made from the message */
  key: TemplatePart[]
}

/** How records a backend produces into a Kafka topic name their MQTT topic from their key. */
export interface InboundRoute {
  kafkaTopic: string
  /** the rule's `mqtt_topic` template (`${key}` = the record key) */
  topic: TemplatePart[]
}

export type MapResult = { ok: true; message: MqttMessage } | { ok: false; reason: string }

/** What a reader of the data topics needs of the mapping: records of one partition -> MQTT messages. */
export interface RecordDecoder {
  decodeEach (kafkaTopic: string, partition: number, records: readonly KafkaMessage[], each: (result: MapResult, record: KafkaMessage) => void): Promise<void>
}

const STATELESS_CODECS: Record<Format, RecordCodec> = { raw: rawCodec, json: jsonCodec, avro: avroCodec }

/**
 * The compiled mapping rules, both directions. MQTT -> Kafka: the first rule whose filter matches
 * the MQTT topic picks the Kafka topic, key and format; no match means the data topic, raw, key =
 * MQTT topic. Kafka -> MQTT: the first rule that names a Kafka topic gives its format, default QoS
 * and MQTT topic template. Rules must be valid (the config schema checks them). With a schema
 * registry, `avro` topics use the Confluent wire format; `registerSchemas` must run before use.
 */
export class Mapping implements RecordDecoder {
  private readonly outbound: OutboundRule[]
  private readonly inbound = new Map<string, InboundTopic>()
  private readonly defaultRule: OutboundRule
  private readonly registered: RegistryAvroCodec[] = []
  private readonly placement: Placement

  constructor (private readonly rules: readonly MappingRuleSpec[], readonly dataTopic: string, registry?: RegistrySchemas) {
    const byTopic = new Map<string, RecordCodec>()
    const codecOf = (r: MappingRuleSpec): RecordCodec => {
      let codec = byTopic.get(r.kafka_topic)
      if (codec === undefined) {
        if (r.format === 'avro' && registry !== undefined) {
          const withRegistry = new RegistryAvroCodec(r.kafka_topic, registry)
          this.registered.push(withRegistry)
          codec = withRegistry
        } else {
          codec = STATELESS_CODECS[r.format]
        }
        byTopic.set(r.kafka_topic, codec)
      }
      return codec
    }
    this.outbound = rules.map((r) => ({
      matches: compileTopicFilter(r.filter),
      kafkaTopic: r.kafka_topic,
      key: compileKeyTemplate(r.key),
      codec: codecOf(r)
    }))
    this.defaultRule = { matches: () => true, kafkaTopic: dataTopic, key: (m) => m.topic, codec: rawCodec }
    for (const r of rules) {
      if (this.inbound.has(r.kafka_topic)) continue
      this.inbound.set(r.kafka_topic, {
        codec: codecOf(r),
        qos: r.qos,
        mqttTopic: r.mqtt_topic === undefined ? undefined : compileMqttTopicTemplate(r.mqtt_topic)
      })
    }
    if (!this.inbound.has(dataTopic)) this.inbound.set(dataTopic, { codec: rawCodec, qos: 0, mqttTopic: undefined })
    this.placement = new Placement(rules, dataTopic)
  }

  /** The routes of every rule, then the default route; and the MQTT topic templates of inbound records. */
  routes (): { outbound: OutboundRoute[]; inbound: InboundRoute[] } {
    const outbound: OutboundRoute[] = this.rules.map(r => ({ kafkaTopic: r.kafka_topic, filter: r.filter, key: templateParts(r.key, 'key') }))
    outbound.push({ kafkaTopic: this.dataTopic, filter: undefined, key: [{ kind: 'var', name: 'topic' }] })
    const inbound: InboundRoute[] = []
    const seen = new Set<string>()
    for (const r of this.rules) {
      // the first rule naming a Kafka topic decides how its records are read (as in decode)
      if (seen.has(r.kafka_topic)) continue
      seen.add(r.kafka_topic)
      if (r.mqtt_topic !== undefined) inbound.push({ kafkaTopic: r.kafka_topic, topic: templateParts(r.mqtt_topic, 'mqtt_topic') })
    }
    return { outbound, inbound }
  }

  /** Every Kafka topic a node reads for delivery: the data topic first, then the rules' topics. */
  get kafkaTopics (): string[] {
    return [this.dataTopic, ...[...this.inbound.keys()].filter((t) => t !== this.dataTopic)]
  }

  /**
   * Registers the Avro envelope under `<kafka topic>-value` for every `avro` topic, when a schema
   * registry is configured; rejects with SchemaRegistrationFailed (naming the configuration key).
   */
  async registerSchemas (): Promise<void> {
    for (const codec of this.registered) await codec.register()
  }

  /**
   * Gets what decoding these records of `kafkaTopic` needs first (writer schemas from the
   * registry); undefined, without waiting, when nothing is missing (the usual case).
   */
  prefetch (kafkaTopic: string, records: readonly KafkaMessage[]): Promise<void> | undefined {
    return this.inbound.get(kafkaTopic)?.codec.prefetch?.(records)
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

  /**
   * Decodes the records of one partition in order, handing each result to `each`: the one loop of
   * every reader of the data topics (live delivery, session replay, shared groups). It waits first
   * only when decoding needs something fetched (a writer schema from the registry). A record whose
   * MQTT topic the mapping puts in another Kafka topic or partition is refused (`placement.ts`). A
   * record whose decoding throws is refused too ("record cannot be decoded"): decoding is
   * synchronous and depends on the record alone, so its batch fetched again would throw again, and
   * the partition's delivery would stop there (as a null header value did, before `headerText`
   * read it as absent).
   */
  async decodeEach (kafkaTopic: string, partition: number, records: readonly KafkaMessage[], each: (result: MapResult, record: KafkaMessage) => void): Promise<void> {
    const fetching = this.prefetch(kafkaTopic, records)
    if (fetching !== undefined) await fetching
    for (const record of records) {
      const result = this.decodeOrRefuse(kafkaTopic, record)
      const misplaced = result.ok ? this.placement.check(kafkaTopic, partition, result.message.topic) : undefined
      each(misplaced === undefined ? result : { ok: false, reason: misplaced }, record)
    }
  }

  private decodeOrRefuse (kafkaTopic: string, record: KafkaMessage): MapResult {
    try {
      return this.decode(kafkaTopic, record)
    } catch {
      return { ok: false, reason: 'record cannot be decoded' }
    }
  }

  /** The partition count of each Kafka topic, once the topics exist (records are checked against them). */
  setPartitionCounts (counts: ReadonlyMap<string, number>): void {
    this.placement.setPartitionCounts(counts)
  }

  /**
   * How the MQTT topic of a record of `kafkaTopic` that has no `mqtt.topic` header follows from its
   * key (raw records: the rule's `mqtt_topic` template, else the key itself); undefined when the value
   * says it (json and avro envelopes), so only decoding tells.
   */
  topicOfKey (kafkaTopic: string): ((key: string) => string) | undefined {
    const inbound = this.inbound.get(kafkaTopic)
    if (inbound === undefined || inbound.codec.format !== 'raw') return undefined
    return inbound.mqttTopic ?? ((key) => key)
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
    const message: MqttMessage = { topic, payload: r.payload, qos: r.qos ?? inbound.qos, retain: r.retain, clientId: r.clientId, username: r.username, node: r.node }
    // MQTT 5 properties: the envelope's (json, avro) when it has some, else the headers', whatever the format
    const timestamp = Number(record.timestamp)
    const properties = r.properties === undefined ? propertiesFromHeaders(record.headers, timestamp) : withExpiry(r.properties, timestamp)
    if (properties !== undefined) message.properties = properties
    return { ok: true, message }
  }
}

/** An envelope's properties with their expiry instant: the record's timestamp plus the interval. */
function withExpiry (p: MessageProperties, timestampMs: number): MessageProperties {
  return p.messageExpiryInterval === undefined ? p : { ...p, expiresAt: timestampMs + p.messageExpiryInterval * 1000 }
}
