import type { KafkaMessage } from 'kafkajs'
import type { Logger } from '../observability/logger.js'
import type { MqttMessage } from './mqtt-message.js'
import { decodeRecord } from './record-codec.js'

/** Whoever hands messages to the clients connected to this node (the MQTT edge). */
export interface LocalSink {
  /** resolves when the message has been handed to every matching local subscriber */
  deliver (message: MqttMessage): Promise<void>
}

const SKIP_LOG_INTERVAL_MS = 60_000

/**
 * Delivery from the log: every record of a data topic, in partition order, becomes an MQTT message
 * for the local subscribers. Records that cannot be mapped are counted and skipped, logged once per
 * reason per minute; they never stop the reader.
 */
export class LogDelivery {
  readonly skipped = new Map<string, number>()
  private readonly lastLogged = new Map<string, number>()
  private readonly log: Logger
  delivered = 0

  constructor (private readonly sink: LocalSink, logger: Logger) {
    this.log = logger.child({ component: 'delivery' })
  }

  readonly onBatch = async (topic: string, partition: number, records: KafkaMessage[]): Promise<void> => {
    const work: Array<Promise<void>> = []
    for (const record of records) {
      const decoded = decodeRecord(record)
      if (decoded.ok) {
        work.push(this.sink.deliver(decoded.message))
      } else {
        this.skip(decoded.reason, topic, partition, record.offset)
      }
    }
    await Promise.all(work)
    this.delivered += work.length
  }

  private skip (reason: string, topic: string, partition: number, offset: string): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1)
    const now = Date.now()
    if (now - (this.lastLogged.get(reason) ?? 0) >= SKIP_LOG_INTERVAL_MS) {
      this.lastLogged.set(reason, now)
      this.log.warn({ reason, kafkaTopic: topic, partition, offset, skippedSoFar: this.skipped.get(reason) }, 'skipped a record that cannot be delivered over MQTT')
    }
  }
}
