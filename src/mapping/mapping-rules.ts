import type { Format } from './codec.js'
import type { Qos } from '../protocol/message.js'

/** One mapping rule as configured (`mapping.rules[i]`, defaults applied). */
export interface MappingRuleSpec {
  filter: string
  kafka_topic: string
  key: string
  format: Format
  qos: Qos
  mqtt_topic?: string | undefined
}

export interface RuleIssue {
  index: number
  field: keyof MappingRuleSpec
  message: string
}

/**
 * Checks across rules: one Kafka topic has one format (the data topic is raw, as the default rule
 * writes it), and no rule writes into Wharf's own topics (retained, sessions, nodes, users, banned).
 */
export function crossRuleIssues (rules: readonly MappingRuleSpec[], dataTopic: string, internalTopics: readonly string[]): RuleIssue[] {
  const issues: RuleIssue[] = []
  const formats = new Map<string, { format: Format; by: string }>([[dataTopic, { format: 'raw', by: 'the default rule (topics.messages.name)' }]])
  rules.forEach((rule, index) => {
    if (internalTopics.includes(rule.kafka_topic)) {
      issues.push({ index, field: 'kafka_topic', message: `${rule.kafka_topic} is one of Wharf's own topics (retained, sessions, nodes, users, banned)` })
      return
    }
    const claimed = formats.get(rule.kafka_topic)
    if (claimed === undefined) {
      formats.set(rule.kafka_topic, { format: rule.format, by: `mapping.rules.${index}` })
    } else if (claimed.format !== rule.format) {
      issues.push({ index, field: 'format', message: `${rule.kafka_topic} is ${claimed.format} in ${claimed.by}; one Kafka topic has one format` })
    }
  })
  return issues
}

/** `mapping.schema_registry` as configured: the Confluent-compatible registry of `avro` topics. */
export interface SchemaRegistrySpec {
  url: string
  username?: string | undefined
  password?: string | undefined
  request_timeout_ms: number
}
