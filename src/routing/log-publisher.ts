import type { BatchingProducer, SendDone } from '../kafka/batching-producer.js'
import type { Mapping } from '../mapping/mapping.js'
import type { MqttMessage } from '../protocol/message.js'
import type { RetainedStore } from '../retained/retained-store.js'
import { promiseOf } from '../util/async.js'

/**
 * MQTT -> Kafka: every PUBLISH (and every will) becomes one record, in the Kafka topic, with the key
 * and format of the first mapping rule that matches (by default the data topic, raw, key = MQTT
 * topic, so one MQTT topic is one partition and keeps its order everywhere). A retained message is
 * a second record, in the retained topic; the promise waits for both.
 */
export class LogPublisher {
  constructor (private readonly producer: BatchingProducer, private readonly mapping: Mapping, private readonly retained: RetainedStore) {}

  hasRoom (): boolean { return this.producer.hasRoom() }

  /** resolves when the pending buffer has room again (the edge stops reading sockets until then) */
  waitForRoom (): Promise<void> { return this.producer.waitForRoom() }

  /** resolves when Kafka acknowledged the record (and the retained record, for a retained message) */
  publish (message: MqttMessage): Promise<void> {
    return promiseOf(done => this.publishWith(message, done))
  }

  /**
   * `publish` for the per-message path: `done` once, when Kafka acknowledged the record (and the
   * retained record), or with the first error; never synchronously.
   */
  publishWith (message: MqttMessage, done: SendDone): void {
    const record = this.mapping.encode(message)
    if (!message.retain) {
      this.producer.sendWith(record, done)
      return
    }
    let left = 2
    const one = (err: Error | undefined): void => {
      if (left === 0) return
      if (err !== undefined) { left = 0; done(err); return }
      if (--left === 0) done(undefined)
    }
    this.producer.sendWith(record, one)
    this.retained.write(message).then(() => one(undefined), (err: unknown) => one(err instanceof Error ? err : new Error(String(err))))
  }
}
