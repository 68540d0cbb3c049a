import type { Mapping } from '../mapping/mapping.js'
import type { BatchingProducer } from '../kafka/batching-producer.js'
import type { MqttMessage } from '../protocol/message.js'

/**
 * MQTT -> Kafka: every PUBLISH becomes one record, in the Kafka topic, with the key and format of
 * the first mapping rule that matches (by default the data topic, raw, key = MQTT topic, so one
 * MQTT topic is one partition and keeps its order everywhere).
 */
export class LogPublisher {
  constructor (private readonly producer: BatchingProducer, private readonly mapping: Mapping) {}

  hasRoom (): boolean { return this.producer.hasRoom() }

  /** resolves when the pending buffer has room again (the edge stops reading sockets until then) */
  waitForRoom (): Promise<void> { return this.producer.waitForRoom() }

  /** resolves when Kafka acknowledged the record */
  publish (message: MqttMessage): Promise<void> {
    return this.producer.send(this.mapping.encode(message))
  }
}
