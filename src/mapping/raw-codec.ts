import type { KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import { HEADER, headerIsTrue, headerQos, headerText, metadataHeaders, repeatedHeaderText, type DecodeResult, type RecordCodec, type RecordTarget } from './codec.js'
import { FewTexts } from '../util/few-texts.js'
import type { MqttMessage } from '../protocol/message.js'

/** The cluster's node names, as the records' `mqtt.node` headers give them. */
const nodeNames = new FewTexts(8)

/** Raw format: value = payload bytes, MQTT metadata in headers. */
export const rawCodec: RecordCodec = {
  format: 'raw',

  encode (message: MqttMessage, target: RecordTarget): OutgoingRecord {
    return { topic: target.topic, key: target.key, value: message.payload, headers: metadataHeaders(message) }
  },

  decode (record: KafkaMessage): DecodeResult {
    const headers = record.headers
    const qos = headerQos(headers)
    if (qos === -1) return { ok: false, reason: 'invalid mqtt.qos header' }
    return {
      ok: true,
      record: {
        topic: headerText(headers, HEADER.topic),
        qos,
        payload: record.value ?? Buffer.alloc(0),
        retain: headerIsTrue(headers, HEADER.retain),
        clientId: headerText(headers, HEADER.clientId),
        username: headerText(headers, HEADER.username),
        node: repeatedHeaderText(nodeNames, headers, HEADER.node)
      }
    }
  }
}
