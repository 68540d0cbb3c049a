import type { KafkaMessage } from 'kafkajs'
import { tpKey } from '../kafka/topic-partition.js'
import type { RecordDecoder } from '../mapping/mapping.js'
import type { Logger } from '../observability/logger.js'
import type { MqttMessage } from '../protocol/message.js'

/** Whoever hands messages to the clients connected to this node (the MQTT edge). */
export interface LocalSink {
  /**
   * Hands the message to every matching local subscriber: when this returns, each has taken it (or
   * dropped it, or left it in Kafka for later); writing it to their sockets is the sink's business,
   * never waited for here, so a slow subscriber does not hold the partition for the others. `tp`
   * ("topic:partition") and `offset` say where in the log it is (persistent sessions need it).
   */
  deliver (message: MqttMessage, tp: string, offset: string): void
}

const SKIP_LOG_INTERVAL_MS = 60_000

/**
 * Delivery from the log: every record of the data topic and of the mapped topics, in partition
 * order, is decoded with its topic's format and becomes an MQTT message for the local subscribers.
 * Records that cannot be mapped or decoded are counted (per reason and Kafka topic) and skipped,
 * logged once per reason and Kafka topic per minute; they never stop the reader.
 */
export class LogDelivery {
  /** records handed to the local subscribers */
  delivered = 0
  /** skipped records, by "kafka topic \0 reason" */
  private readonly skipped = new Map<string, number>()
  private readonly lastLogged = new Map<string, number>()
  private readonly log: Logger

  constructor (private readonly sink: LocalSink, private readonly decoder: RecordDecoder, logger: Logger) {
    this.log = logger.child({ component: 'delivery' })
  }

  /**
   * One fetched batch of a partition, handed to the sink in log order within one turn of the event
   * loop (the fetcher awaits it before the partition's next batch). Slicing a batch over several
   * turns (so a client's byte bound would count its socket rather than a fetch) was tried and left
   * out: with the default bounds (1 MiB, as a partition's fetch) a client that reads loses nothing,
   * and it showed no effect on memory beyond the run-to-run spread (docs/benchmarks.md).
   */
  readonly onBatch = async (topic: string, partition: number, records: KafkaMessage[]): Promise<void> => {
    const tp = tpKey(topic, partition)
    await this.decoder.decodeEach(topic, partition, records, (decoded, record) => {
      if (decoded.ok) {
        this.sink.deliver(decoded.message, tp, record.offset)
        this.delivered++
      } else this.skip(decoded.reason, topic, partition, record.offset)
    })
  }

  /** Skipped records so far, as ({ reason, kafka_topic }, count). */
  * skippedCounts (): Iterable<[Record<string, string>, number]> {
    for (const [key, n] of this.skipped) {
      const cut = key.indexOf('\u0000')
      yield [{ kafka_topic: key.slice(0, cut), reason: key.slice(cut + 1) }, n]
    }
  }

  private skip (reason: string, topic: string, partition: number, offset: string): void {
    const key = `${topic}\u0000${reason}`
    const count = (this.skipped.get(key) ?? 0) + 1
    this.skipped.set(key, count)
    const now = Date.now()
    if (now - (this.lastLogged.get(key) ?? 0) >= SKIP_LOG_INTERVAL_MS) {
      this.lastLogged.set(key, now)
      this.log.warn({ reason, kafkaTopic: topic, partition, offset, skippedSoFar: count }, 'skipped a record that cannot be delivered over MQTT')
    }
  }
}
