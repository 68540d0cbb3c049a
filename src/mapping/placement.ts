import { partitionOf } from '../kafka/partitioner.js'
import { compileTopicFilter, type TopicMatcher } from '../protocol/topic-filter.js'
import type { MappingRuleSpec } from './mapping-rules.js'
import { compileKeyTemplate, templateKeyOf, templateParts } from './template.js'

interface Home {
  matches: TopicMatcher
  kafkaTopic: string
  /** the record key of a message of this MQTT topic; undefined when the key needs more than the topic (client id, user name) */
  keyOf: ((topic: string) => string) | undefined
}

/** A rule's `mqtt_topic` template read backwards (see `templateKeyOf`). */
type TemplateKey = (topic: string) => string | null | undefined

/** Why a record is not delivered although it decoded. */
export const NOT_MAPPED_HERE = 'MQTT topic not mapped to this Kafka topic'
export const WRONG_PARTITION = 'record not in the partition of its key'

/**
 * Where the mapping puts a message of an MQTT topic: the Kafka topic of the first rule that matches
 * it (else the data topic) and the partition of its key. Each node reads only the partitions its
 * clients' filters can need (routing/interest.ts), so a record is delivered only from that place:
 * one a backend produced elsewhere (an MQTT topic no rule of that Kafka topic covers, or keyed
 * otherwise than the rule keys it) is skipped on every node alike, never delivered by the nodes that
 * happen to read its partition and missed by the others. A rule's `mqtt_topic` template makes its
 * Kafka topic the home of the topics it produces too (backend commands keyed by device).
 */
export class Placement {
  private readonly homes: Home[]
  private readonly dataHome: Home
  private readonly templates = new Map<string, TemplateKey>()
  private partitions = new Map<string, number>()

  constructor (rules: readonly MappingRuleSpec[], dataTopic: string) {
    this.homes = rules.map(r => ({ matches: compileTopicFilter(r.filter), kafkaTopic: r.kafka_topic, keyOf: topicKey(r.key) }))
    this.dataHome = { matches: () => true, kafkaTopic: dataTopic, keyOf: (topic) => topic }
    const seen = new Set<string>()
    for (const r of rules) {
      if (seen.has(r.kafka_topic)) continue
      seen.add(r.kafka_topic)
      if (r.mqtt_topic !== undefined) this.templates.set(r.kafka_topic, templateKeyOf(templateParts(r.mqtt_topic, 'mqtt_topic')))
    }
  }

  /** The partition count of each Kafka topic (known once the topics exist); without it partitions are not checked. */
  setPartitionCounts (counts: ReadonlyMap<string, number>): void {
    this.partitions = new Map(counts)
  }

  /** Undefined when a record of `mqttTopic` belongs in this Kafka topic and partition; else why not. */
  check (kafkaTopic: string, partition: number, mqttTopic: string): string | undefined {
    let key: string | null | undefined
    const home = this.homes.find(h => h.matches(mqttTopic)) ?? this.dataHome
    if (home.kafkaTopic === kafkaTopic) {
      if (home.keyOf === undefined) return undefined
      key = home.keyOf(mqttTopic)
    } else {
      key = this.templates.get(kafkaTopic)?.(mqttTopic)
      if (key === undefined) return NOT_MAPPED_HERE
      if (key === null) return undefined
    }
    const n = this.partitions.get(kafkaTopic)
    if (n === undefined || n === 1) return undefined
    return partitionOf(kafkaTopic, key, n) === partition ? undefined : WRONG_PARTITION
  }
}

/** The key template as a function of the topic alone, when it is one. */
function topicKey (template: string): ((topic: string) => string) | undefined {
  const parts = templateParts(template, 'key')
  if (parts.some(p => p.kind === 'var' && p.name !== 'topic')) return undefined
  const key = compileKeyTemplate(template)
  return (topic) => key({ topic, payload: Buffer.alloc(0), qos: 0, retain: false })
}
