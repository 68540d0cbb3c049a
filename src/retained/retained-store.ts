import type { BatchingProducer } from '../kafka/batching-producer.js'
import type { MqttMessage } from '../protocol/message.js'
import { RetainedView } from './retained-view.js'

/**
 * Writes retained messages to the compacted retained topic (key = MQTT topic; empty payload =
 * tombstone) and keeps this node's view current. Once Kafka acknowledged a write it is applied to
 * the view at once, so a SUBSCRIBE right after the PUBACK sees it; the log tail applies the same
 * record again later, in log order, which is what all nodes converge to.
 */
export class RetainedStore {
  readonly view = new RetainedView()

  constructor (private readonly producer: BatchingProducer, private readonly retainedTopic: string) {}

  async write (message: MqttMessage): Promise<void> {
    const written = Date.now()
    await this.producer.send(RetainedView.record(this.retainedTopic, message))
    // the record's timestamp is about `written`: the log tail sets the same expiry again when it reads it
    const p = message.properties
    const properties = p?.messageExpiryInterval === undefined ? p : { ...p, expiresAt: written + p.messageExpiryInterval * 1000 }
    this.view.set(message.topic, message.payload, message.qos, properties)
  }
}
