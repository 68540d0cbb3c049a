import type { Kafka, ITopicConfig } from 'kafkajs'
import type { Logger } from '../observability/logger.js'
import { sleep } from '../util/async.js'

/** What Wharf needs of one Kafka topic. */
export interface TopicSpec {
  name: string
  partitions: number
  /** -1 = the broker's `default.replication.factor` */
  replication_factor: number
  retention_ms?: number | undefined
  compacted: boolean
  /** `max.message.bytes` of the topic when Wharf creates it (large enough for its largest record); undefined = the broker's default */
  max_message_bytes?: number | undefined
}

/** A topic exists with a cleanup policy that contradicts what Wharf needs (e.g. retained not compacted). */
export class TopicPolicyError extends Error {}

/**
 * Creates the topics Wharf owns when they are missing (compacted where the design says so) and
 * reports the partition count of each. Existing topics are left as they are; a wrong cleanup
 * policy on a compacted topic is an error, since the log would then lose the latest value per key.
 */
export async function ensureTopics (kafka: Kafka, specs: TopicSpec[], logger: Logger): Promise<Map<string, number>> {
  const admin = kafka.admin()
  const log = logger.child({ component: 'topics' })
  await admin.connect()
  try {
    const existing = new Set(await admin.listTopics())
    const missing = specs.filter(s => !existing.has(s.name))
    if (missing.length > 0) {
      // kafkajs' waitForLeaders asks one broker, which in a fresh multi-broker KRaft cluster may not
      // know the topic yet and fails the call: create, then poll the metadata ourselves
      await admin.createTopics({ topics: missing.map(toTopicConfig), waitForLeaders: false })
      for (const s of missing) log.info({ topic: s.name, partitions: s.partitions, compacted: s.compacted }, 'created Kafka topic')
      await waitForLeaders(admin, missing.map(s => s.name))
    }
    const compacted = specs.filter(s => s.compacted && existing.has(s.name))
    if (compacted.length > 0) await checkCompacted(admin, compacted.map(s => s.name))
    const meta = await admin.fetchTopicMetadata({ topics: specs.map(s => s.name) })
    return new Map(meta.topics.map(t => [t.name, t.partitions.length]))
  } finally {
    await admin.disconnect()
  }
}

async function waitForLeaders (admin: ReturnType<Kafka['admin']>, topics: string[], timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics })
      if (meta.topics.every(t => t.partitions.length > 0 && t.partitions.every(p => p.leader >= 0))) return
    } catch (err) {
      if (Date.now() > deadline) throw err
    }
    if (Date.now() > deadline) throw new Error(`Kafka topics ${topics.join(', ')} have no leader after ${timeoutMs} ms`)
    await sleep(200)
  }
}

function toTopicConfig (s: TopicSpec): ITopicConfig {
  const configEntries = []
  if (s.compacted) configEntries.push({ name: 'cleanup.policy', value: 'compact' })
  if (s.retention_ms !== undefined) configEntries.push({ name: 'retention.ms', value: String(s.retention_ms) })
  if (s.max_message_bytes !== undefined) configEntries.push({ name: 'max.message.bytes', value: String(s.max_message_bytes) })
  return { topic: s.name, numPartitions: s.partitions, replicationFactor: s.replication_factor, configEntries }
}

async function checkCompacted (admin: ReturnType<Kafka['admin']>, names: string[]): Promise<void> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map(name => ({ type: 2 /* TOPIC */, name, configNames: ['cleanup.policy'] }))
  })
  for (const r of resources) {
    const policy = r.configEntries.find(e => e.configName === 'cleanup.policy')?.configValue ?? ''
    if (!policy.split(',').includes('compact')) {
      throw new TopicPolicyError(`Kafka topic ${r.resourceName} has cleanup.policy=${policy}; Wharf needs compact (set it with kafka-configs --alter --add-config cleanup.policy=compact)`)
    }
  }
}

/** The largest record batch Kafka accepts, per topic (`max.message.bytes`, the broker's default when the topic sets none). */
export interface MessageLimits {
  topics: Map<string, number>
  /** the broker's `message.max.bytes` (of the first broker that answers), for the log */
  broker: number | undefined
}

/** Reads `max.message.bytes` of `topics` and the broker's `message.max.bytes` (DescribeConfigs). */
export async function describeMessageLimits (kafka: Kafka, topics: string[]): Promise<MessageLimits> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map(name => ({ type: 2 /* TOPIC */, name, configNames: ['max.message.bytes'] }))
    })
    const limits = new Map<string, number>()
    for (const r of resources) {
      const value = Number(r.configEntries.find(e => e.configName === 'max.message.bytes')?.configValue)
      if (Number.isSafeInteger(value) && value > 0) limits.set(r.resourceName, value)
    }
    let broker: number | undefined
    const { brokers } = await admin.describeCluster()
    const first = brokers[0]
    if (first !== undefined) {
      const answer = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 4 /* BROKER */, name: String(first.nodeId), configNames: ['message.max.bytes'] }]
      }).catch(() => undefined)
      const value = Number(answer?.resources[0]?.configEntries.find(e => e.configName === 'message.max.bytes')?.configValue)
      if (Number.isSafeInteger(value) && value > 0) broker = value
    }
    return { topics: limits, broker }
  } finally {
    await admin.disconnect()
  }
}
