import type { KafkaMessage } from 'kafkajs'
import type { Mapping } from '../mapping/mapping.js'
import type { Logger } from '../observability/logger.js'
import type { MqttMessage } from '../protocol/message.js'
import { tpKey } from '../kafka/end-offsets.js'

/** Whoever hands messages to the clients connected to this node (the MQTT edge). */
export interface LocalSink {
  /**
   * Resolves when the message has been handed to every matching local subscriber. `tp`
   * ("topic:partition") and `offset` say where in the log it is (persistent sessions need it).
   */
  deliver (message: MqttMessage, tp: string, offset: string): Promise<void>
}

const SKIP_LOG_INTERVAL_MS = 60_000

/**
 * Delivery from the log: every record of the data topic and of the mapped topics, in partition
 * order, is decoded with its topic's format and becomes an MQTT message for the local subscribers.
 * Records that cannot be mapped or decoded are counted (per reason, and per Kafka topic) and
 * skipped, logged once per reason and Kafka topic per minute; they never stop the reader.
 */
export class LogDelivery {
  readonly skipped = new Map<string, number>()
  /** skipped records per Kafka topic */
  readonly skippedByTopic = new Map<string, number>()
  private readonly lastLogged = new Map<string, number>()
  private readonly log: Logger
  delivered = 0

  constructor (private readonly sink: LocalSink, private readonly mapping: Mapping, logger: Logger) {
    this.log = logger.child({ component: 'delivery' })
  }

  readonly onBatch = async (topic: string, partition: number, records: KafkaMessage[]): Promise<void> => {
    const fetching = this.mapping.prefetch(topic, records)
    if (fetching !== undefined) await fetching
    const work: Array<Promise<void>> = []
    const tp = tpKey(topic, partition)
    for (const record of records) {
      const decoded = this.mapping.decode(topic, record)
      if (decoded.ok) {
        work.push(this.sink.deliver(decoded.message, tp, record.offset))
      } else {
        this.skip(decoded.reason, topic, partition, record.offset)
      }
    }
    await Promise.all(work)
    this.delivered += work.length
  }

  private skip (reason: string, topic: string, partition: number, offset: string): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1)
    this.skippedByTopic.set(topic, (this.skippedByTopic.get(topic) ?? 0) + 1)
    const now = Date.now()
    const logKey = `${topic}\u0000${reason}`
    if (now - (this.lastLogged.get(logKey) ?? 0) >= SKIP_LOG_INTERVAL_MS) {
      this.lastLogged.set(logKey, now)
      this.log.warn({ reason, kafkaTopic: topic, partition, offset, skippedSoFar: this.skipped.get(reason) }, 'skipped a record that cannot be delivered over MQTT')
    }
  }
}
