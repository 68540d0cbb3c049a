import type { IHeaders, KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import type { MqttMessage } from './mqtt-message.js'
import { isValidTopicName } from './topic-filter.js'

/** Kafka header names carrying MQTT metadata (documented in README, "For backend services"). */
export const HEADER = {
  topic: 'mqtt.topic',
  qos: 'mqtt.qos',
  retain: 'mqtt.retain',
  clientId: 'mqtt.client_id',
  username: 'mqtt.username',
  node: 'mqtt.node'
} as const

const QOS_TEXT = ['0', '1', '2'] as const

/** Raw format: key = MQTT topic, value = payload bytes, metadata in headers. */
export function encodeRecord (kafkaTopic: string, msg: MqttMessage): OutgoingRecord {
  const headers: IHeaders = {
    [HEADER.topic]: msg.topic,
    [HEADER.qos]: QOS_TEXT[msg.qos],
    [HEADER.retain]: msg.retain ? 'true' : 'false'
  }
  if (msg.clientId !== undefined) headers[HEADER.clientId] = msg.clientId
  if (msg.username !== undefined) headers[HEADER.username] = msg.username
  if (msg.node !== undefined) headers[HEADER.node] = msg.node
  return { topic: kafkaTopic, key: msg.topic, value: msg.payload, headers }
}

export type DecodeResult = { ok: true; message: MqttMessage } | { ok: false; reason: string }

function headerText (headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name]
  if (v === undefined) return undefined
  if (Array.isArray(v)) return v.length === 0 ? undefined : String(v[v.length - 1])
  return v.toString()
}

/**
 * A record from a data topic back into an MQTT message. The MQTT topic is the `mqtt.topic` header,
 * else the record key (records produced by backend services with the MQTT topic as key). QoS
 * defaults to 0 when the header is absent.
 */
export function decodeRecord (record: KafkaMessage): DecodeResult {
  const headers = record.headers
  const topic = headerText(headers, HEADER.topic) ?? record.key?.toString()
  if (topic === undefined) return { ok: false, reason: 'no mqtt.topic header and no key' }
  if (!isValidTopicName(topic)) return { ok: false, reason: 'invalid MQTT topic' }
  const qosText = headerText(headers, HEADER.qos) ?? '0'
  const qos = qosText === '0' ? 0 : qosText === '1' ? 1 : qosText === '2' ? 2 : -1
  if (qos === -1) return { ok: false, reason: 'invalid mqtt.qos header' }
  return {
    ok: true,
    message: {
      topic,
      payload: record.value ?? Buffer.alloc(0),
      qos,
      retain: headerText(headers, HEADER.retain) === 'true',
      clientId: headerText(headers, HEADER.clientId),
      username: headerText(headers, HEADER.username),
      node: headerText(headers, HEADER.node)
    }
  }
}
