import type { KafkaMessage } from 'kafkajs'
import { HEADER } from '../bridge/codec.js'
import { rawCodec } from '../bridge/raw-codec.js'
import { isValidTopicName } from '../bridge/topic-filter.js'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import type { MqttMessage } from './mqtt-message.js'

export { HEADER }

/** Raw format: key = MQTT topic, value = payload bytes, metadata in headers. */
export function encodeRecord (kafkaTopic: string, msg: MqttMessage): OutgoingRecord {
  return rawCodec.encode(msg, { topic: kafkaTopic, key: msg.topic })
}

export type DecodeResult = { ok: true; message: MqttMessage } | { ok: false; reason: string }

/**
 * A raw record back into an MQTT message. The MQTT topic is the `mqtt.topic` header, else the
 * record key. QoS defaults to 0 when the header is absent. (The data path uses `bridge/mapping.ts`,
 * which does the same for the data topic and applies the rules for mapped topics.)
 */
export function decodeRecord (record: KafkaMessage): DecodeResult {
  const decoded = rawCodec.decode(record)
  if (!decoded.ok) return decoded
  const r = decoded.record
  const topic = r.topic ?? record.key?.toString()
  if (topic === undefined) return { ok: false, reason: 'no mqtt.topic header and no key' }
  if (!isValidTopicName(topic)) return { ok: false, reason: 'invalid MQTT topic' }
  return { ok: true, message: { topic, payload: r.payload, qos: r.qos ?? 0, retain: r.retain, clientId: r.clientId, username: r.username, node: r.node } }
}
