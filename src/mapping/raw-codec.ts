import type { KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import { HEADER, headerText, metadataHeaders, parseQos, type DecodeResult, type RecordCodec, type RecordTarget } from './codec.js'
import type { MqttMessage } from '../protocol/message.js'

/** Raw format: value = payload bytes, MQTT metadata in headers. */
export const rawCodec: RecordCodec = {
  format: 'raw',

  encode (message: MqttMessage, target: RecordTarget): OutgoingRecord {
    return { topic: target.topic, key: target.key, value: message.payload, headers: metadataHeaders(message) }
  },

  decode (record: KafkaMessage): DecodeResult {
    const headers = record.headers
    const qos = parseQos(headerText(headers, HEADER.qos))
    if (qos === -1) return { ok: false, reason: 'invalid mqtt.qos header' }
    return {
      ok: true,
      record: {
        topic: headerText(headers, HEADER.topic),
        qos,
        payload: record.value ?? Buffer.alloc(0),
        retain: headerText(headers, HEADER.retain) === 'true',
        clientId: headerText(headers, HEADER.clientId),
        username: headerText(headers, HEADER.username),
        node: headerText(headers, HEADER.node)
      }
    }
  }
}
