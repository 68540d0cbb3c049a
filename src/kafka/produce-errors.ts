/**
 * Kafka's answers that mean "these records will never be accepted as they are": sending them again
 * cannot help, so they fail alone instead of holding up every record behind them. `record`: some
 * record(s) of the request (too large, invalid, corrupt); `topic`: every record of one topic (not
 * authorized, invalid topic). Everything else (leader moves, timeouts, NOT_ENOUGH_REPLICAS, a
 * broker away, ...) is retried. CORRUPT_MESSAGE is retriable for kafkajs (it may be a transfer
 * error): kafkajs' own retries run first, and then only the records that still fail alone are
 * refused.
 */
const REFUSALS: Record<string, 'record' | 'topic'> = {
  MESSAGE_TOO_LARGE: 'record',
  RECORD_LIST_TOO_LARGE: 'record',
  INVALID_RECORD: 'record',
  CORRUPT_MESSAGE: 'record',
  INVALID_TIMESTAMP: 'record',
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 'record',
  TOPIC_AUTHORIZATION_FAILED: 'topic',
  INVALID_TOPIC_EXCEPTION: 'topic',
  POLICY_VIOLATION: 'topic'
}

/** What Kafka refused, and how widely. */
export interface ProduceRefusal {
  /** Kafka's error name, e.g. MESSAGE_TOO_LARGE */
  type: string
  scope: 'record' | 'topic'
}

/** The refusal an error of `sendBatch` carries (kafkajs wraps it in `cause` / `originalError`), or undefined: retry. */
export function produceRefusal (err: unknown): ProduceRefusal | undefined {
  let current: unknown = err
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const e = current as { type?: unknown; cause?: unknown; originalError?: unknown }
    if (typeof e.type === 'string') {
      const scope = REFUSALS[e.type]
      if (scope !== undefined) return { type: e.type, scope }
    }
    current = e.cause ?? e.originalError
  }
  return undefined
}

/** Kafka refused the record for good (`type`); it was not written and is not retried. */
export class KafkaRecordRefused extends Error {
  constructor (readonly type: string, readonly kafkaTopic: string) {
    super(`Kafka refused the record (${type}) for topic ${kafkaTopic}; it was not written`)
    this.name = 'KafkaRecordRefused'
  }
}
