import type { IHeaders, KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import { HEADER } from '../mapping/codec.js'
import { propertiesFromHeaders, propertyHeaders } from '../mapping/property-headers.js'
import type { MessageProperties, MqttMessage, Qos } from '../protocol/message.js'
import { compileTopicFilter } from '../protocol/topic-filter.js'

export interface RetainedMessage {
  topic: string
  payload: Buffer
  qos: Qos
  /** MQTT 5 properties; a Message Expiry Interval comes with `expiresAt` (when it was retained + the interval) */
  properties?: MessageProperties | undefined
}

/**
 * This node's view of the compacted retained topic: the last retained message per MQTT topic
 * (record key). An empty or null value is a tombstone and removes the topic. Every node builds the
 * view from the log before it reports ready, so all nodes serve the same retained messages.
 */
export class RetainedView {
  private readonly byTopic = new Map<string, RetainedMessage>()

  get size (): number { return this.byTopic.size }

  /**
   * The record that makes `msg` the retained message of its topic (or removes it: empty payload).
   * Its MQTT 5 properties travel as the data topics' `mqtt.*` property headers; a Message Expiry
   * Interval counts from the record's timestamp.
   */
  static record (kafkaTopic: string, msg: MqttMessage): OutgoingRecord {
    const value = msg.payload.length === 0 ? null : msg.payload
    const headers: IHeaders = { [HEADER.qos]: String(msg.qos) }
    if (value !== null) propertyHeaders(msg.properties, headers)
    return { topic: kafkaTopic, key: msg.topic, value, headers }
  }

  /** Apply one message (from the log, or just acknowledged by Kafka). */
  set (topic: string, payload: Buffer | null, qos: Qos, properties?: MessageProperties): void {
    if (payload === null || payload.length === 0) this.byTopic.delete(topic)
    else this.byTopic.set(topic, properties === undefined ? { topic, payload, qos } : { topic, payload, qos, properties })
  }

  readonly onBatch = async (_topic: string, _partition: number, records: KafkaMessage[]): Promise<void> => {
    for (const r of records) {
      if (r.key === null) continue
      const q = r.headers?.[HEADER.qos]?.toString()
      this.set(r.key.toString(), r.value, q === '2' ? 2 : q === '1' ? 1 : 0, propertiesFromHeaders(r.headers, Number(r.timestamp)))
    }
  }

  /** Retained messages matching any of the filters, each once. */
  match (filters: string[]): RetainedMessage[] {
    const out: RetainedMessage[] = []
    if (filters.length === 1 && !/[+#]/.test(filters[0] as string)) {
      const one = this.byTopic.get(filters[0] as string)
      return one === undefined ? out : [one]
    }
    const matchers = filters.map(compileTopicFilter)
    for (const msg of this.byTopic.values()) {
      if (matchers.some(matches => matches(msg.topic))) out.push(msg)
    }
    return out
  }
}
