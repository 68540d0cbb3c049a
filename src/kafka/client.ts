import { readFileSync } from 'node:fs'
import { Kafka, logLevel, type KafkaConfig, type SASLOptions, type LogEntry } from 'kafkajs'
import type { Logger } from '../observability/logger.js'
import { kafkajsVersion, patchKafkajsEncoder } from './kafkajs-encoder.js'
import { patchKafkajsGrouping } from './kafkajs-grouping.js'
import { patchKafkajsProduce } from './kafkajs-produce.js'
import { patchKafkajsRequestQueue } from './kafkajs-request-queue.js'

/** The Kafka connection settings Wharf needs; a slice of `kafka.*` in the configuration. */
export interface KafkaConnectionOptions {
  brokers: string[]
  client_id: string
  connection_timeout_ms: number
  request_timeout_ms: number
  tls: { enabled: boolean; ca_file?: string | undefined; cert_file?: string | undefined; key_file?: string | undefined; reject_unauthorized: boolean }
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | undefined
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  // kafkajs reports retriable failures as errors; Wharf retries them and logs its own errors where they matter
  [logLevel.ERROR]: 'warn',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug'
}

/** kafkajs' warning when an idempotent producer's retries are limited (batching-producer.ts does, and retries itself). */
const LIMITED_RETRIES_WARNING = 'Limiting retries for the idempotent producer may invalidate EoS guarantees'

/** kafkajs logs through pino: its entries become child-logger lines tagged `component: kafkajs`. */
function pinoLogCreator (logger: Logger) {
  const log = logger.child({ component: 'kafkajs' })
  return () => ({ namespace, level, log: entry }: LogEntry) => {
    const { message, timestamp: _t, logger: _l, ...fields } = entry
    // Wharf limits kafkajs' own retries on purpose and retries itself (batching-producer.ts); it uses no transactions
    const method = message === LIMITED_RETRIES_WARNING ? 'debug' : LEVELS[level] ?? 'info'
    log[method]({ ...fields, kafkaNamespace: namespace }, message)
  }
}

function ssl (tls: KafkaConnectionOptions['tls']): KafkaConfig['ssl'] {
  if (!tls.enabled) return false
  const read = (file: string | undefined): Buffer | undefined => file === undefined ? undefined : readFileSync(file)
  return {
    rejectUnauthorized: tls.reject_unauthorized,
    ca: read(tls.ca_file),
    cert: read(tls.cert_file),
    key: read(tls.key_file)
  }
}

let encoderChecked = false

/** One kafkajs client per node; producers, consumers and the admin all come from it. */
export function createKafka (opts: KafkaConnectionOptions, logger: Logger, clientSuffix = ''): Kafka {
  // allocation-light Produce encoding (kafkajs-encoder.ts); no 1 ms idle timer per connection (kafkajs-request-queue.ts)
  const queuePatched = patchKafkajsRequestQueue()
  // Produce requests written in one pass (kafkajs-produce.ts); kafkajs' own encoder otherwise
  const producePatched = patchKafkajsProduce()
  if (!producePatched && !encoderChecked) {
    logger.warn({ kafkajs: kafkajsVersion() }, 'kafkajs is not the version the one-pass Produce encoder was written for; kafkajs encodes Produce requests itself (slower, same bytes)')
  }
  if (!patchKafkajsEncoder() && !encoderChecked) {
    logger.warn({ kafkajs: kafkajsVersion() }, 'kafkajs is not the version the allocation-light Produce encoder was written for; using kafkajs\' own encoder (slower, same bytes)')
  }
  if (!queuePatched && !encoderChecked) {
    logger.warn({ kafkajs: kafkajsVersion() }, 'kafkajs is not the version the request-queue patch was written for; its connections keep their 1 ms idle timer (more idle CPU)')
  }
  // batches grouped by partition in one pass (kafkajs-grouping.ts; applied at start by the CLI)
  if (!patchKafkajsGrouping() && !encoderChecked) {
    logger.debug({ kafkajs: kafkajsVersion() }, 'kafkajs was loaded before its batch grouping could be replaced; it groups batches itself (slower, same result)')
  }
  encoderChecked = true
  const config: KafkaConfig = {
    clientId: opts.client_id + clientSuffix,
    brokers: opts.brokers,
    connectionTimeout: opts.connection_timeout_ms,
    requestTimeout: opts.request_timeout_ms,
    ssl: ssl(opts.tls),
    logLevel: logger.isLevelEnabled('debug') ? logLevel.DEBUG : logLevel.WARN,
    logCreator: pinoLogCreator(logger),
    // Wharf never gives up on Kafka: callers retry with their own backoff and log why.
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 8 }
  }
  if (opts.sasl !== undefined) config.sasl = opts.sasl as SASLOptions
  return new Kafka(config)
}
