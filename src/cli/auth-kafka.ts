import { Partitioners, type Kafka, type KafkaMessage } from 'kafkajs'
import type { HashSettings } from '../auth/hash/password-hash.js'
import { createKafka } from '../kafka/client.js'
import { readToEnd } from '../kafka/log-snapshot.js'
import { ensureTopics, type TopicSpec } from '../kafka/topic-admin.js'
import type { Logger } from '../observability/logger.js'
import { settlesWithin } from '../util/async.js'
import { cliLogger } from './cli-options.js'
import { loadOrExit } from './start-command.js'

/*
 * What `wharf users ...`, `wharf banned ...` and `wharf api-keys ...` share: the configuration they need, a Kafka client,
 * the compacted topic (created when missing, like a node would), a snapshot read and acknowledged
 * writes. They work from any machine that reaches Kafka, like `wharf cluster status`.
 */

export interface AuthCli {
  kafka: Kafka
  logger: Logger
  topic: TopicSpec
  hash: HashSettings
  pepper: string | undefined
  /** `authentication.scram.iteration_count` when SCRAM is enabled: new passwords get SCRAM credentials */
  scramIterations: number | undefined
}

/** Loads the configuration (exit 2 when invalid), connects, makes sure the topic exists and is compacted. */
export async function openAuthTopic (configFile: string | undefined, which: 'users' | 'banned' | 'api_keys'): Promise<AuthCli> {
  const config = loadOrExit(configFile)
  const brokers = config.kafka.brokers
  if (brokers === undefined) fail('kafka.brokers is not configured (set it in the file or WHARF_KAFKA__BROKERS)', 2)
  const logger = cliLogger(which)
  const kafka = createKafka({ ...config.kafka, brokers }, logger, '-cli')
  const topic = { ...config.topics[which], compacted: true }
  await ensureTopics(kafka, [topic], logger)
  const a = config.authentication
  return { kafka, logger, topic, hash: a.password_hash_algorithm, pepper: a.password_hash_salt, scramIterations: a.scram.enable ? a.scram.iteration_count : undefined }
}

/** Every record of the topic up to its end now, in order. */
export async function snapshot (cli: AuthCli, apply: (key: string, value: Buffer | null) => void): Promise<void> {
  await readToEnd(cli.kafka, cli.topic.name, (m: KafkaMessage) => {
    if (m.key !== null) apply(m.key.toString('utf8'), m.value)
  }, cli.logger)
}

const WRITE_TIMEOUT_MS = 30000

/**
 * Writes records and waits for Kafka to acknowledge them all (acks=all, idempotent, the node's
 * partitioner); fails the command when Kafka has not acknowledged them within 30 s.
 */
export async function write (cli: AuthCli, records: Array<{ key: string; value: Buffer | null }>): Promise<void> {
  // kafkajs retries an idempotent producer without end (a bounded count only logs a warning): the command bounds the wait
  const producer = cli.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: Number.MAX_SAFE_INTEGER } })
  const work = (async () => {
    await producer.connect()
    for (let i = 0; i < records.length; i += 500) {
      await producer.send({ topic: cli.topic.name, acks: -1, messages: records.slice(i, i + 500) })
    }
  })()
  if (!await settlesWithin(work, WRITE_TIMEOUT_MS)) fail(`Kafka did not acknowledge the write to ${cli.topic.name} within ${WRITE_TIMEOUT_MS / 1000} s; the change may or may not have been made (check with list)`)
  try {
    await work
  } finally {
    await producer.disconnect()
  }
}

/** Prints the message on stderr and exits (1: the request cannot be done, 2: configuration). */
export function fail (message: string, code = 1): never {
  process.stderr.write(`wharf: ${message}\n`)
  process.exit(code)
}

/** `2026-12-04 14:41:07` in UTC, or `-`. */
export function timeText (ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19)
}

/** Columns padded to their widest cell. */
export function table (rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length)))
  return rows.map(r => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n')
}
