import type { BatchingProducer } from '../kafka/batching-producer.js'
import type { MqttMessage } from './mqtt-message.js'
import { encodeRecord } from './record-codec.js'

/**
 * MQTT -> Kafka: every PUBLISH becomes one record in the data topic (key = MQTT topic, so one MQTT
 * topic is one partition and keeps its order everywhere).
 */
export class LogPublisher {
  constructor (private readonly producer: BatchingProducer, private readonly dataTopic: string) {}

  hasRoom (): boolean { return this.producer.hasRoom() }

  /** resolves when the pending buffer has room again (the edge stops reading sockets until then) */
  waitForRoom (): Promise<void> { return this.producer.waitForRoom() }

  /** resolves when Kafka acknowledged the record */
  publish (message: MqttMessage): Promise<void> {
    return this.producer.send(encodeRecord(this.dataTopic, message))
  }
}
