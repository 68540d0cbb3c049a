import { isUtf8 } from 'node:buffer'
import type { KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import { HEADER, headerText, metadataHeaders, parseQos, type DecodeResult, type RecordCodec, type RecordTarget } from './codec.js'
import type { MqttMessage, Qos } from '../protocol/message.js'
import { propertiesFromJson, propertiesToJson, withProperties, type PropertiesJson } from './properties-json.js'

/** The value of a `json` record (documented in README, "For backend services"). */
export interface JsonEnvelope {
  topic: string
  payload: string
  payload_encoding: 'utf8' | 'base64'
  qos: Qos
  retain: boolean
  client_id: string | null
  username: string | null
  node: string | null
  /** milliseconds since the epoch, when the edge took the PUBLISH */
  timestamp: number
  /** MQTT 5 properties (`{}` for none; `properties-json.ts`) */
  properties: PropertiesJson
}

function optionalString (v: unknown): string | undefined | false {
  if (v === undefined || v === null) return undefined
  return typeof v === 'string' ? v : false
}

/**
 * JSON format: the value is a JsonEnvelope; the payload is UTF-8 text when it is valid UTF-8,
 * else base64 (`payload_encoding` says which). Headers as in raw. Backend records need only
 * `payload` (and `topic` unless the rule derives it); missing `payload_encoding` means utf8.
 */
export const jsonCodec: RecordCodec = {
  format: 'json',

  encode (message: MqttMessage, target: RecordTarget): OutgoingRecord {
    const utf8 = isUtf8(message.payload)
    const envelope: JsonEnvelope = {
      topic: message.topic,
      payload: message.payload.toString(utf8 ? 'utf8' : 'base64'),
      payload_encoding: utf8 ? 'utf8' : 'base64',
      qos: message.qos,
      retain: message.retain,
      client_id: message.clientId ?? null,
      username: message.username ?? null,
      node: message.node ?? null,
      timestamp: Date.now(),
      properties: propertiesToJson(message.properties)
    }
    return { topic: target.topic, key: target.key, value: Buffer.from(JSON.stringify(envelope)), headers: metadataHeaders(message) }
  },

  decode (record: KafkaMessage): DecodeResult {
    if (record.value === null || record.value.length === 0) return { ok: false, reason: 'empty JSON envelope' }
    let data: unknown
    try {
      data = JSON.parse(record.value.toString('utf8'))
    } catch {
      return { ok: false, reason: 'invalid JSON envelope' }
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return { ok: false, reason: 'JSON envelope is not an object' }
    const e = data as Record<string, unknown>
    const topic = optionalString(e.topic)
    const clientId = optionalString(e.client_id)
    const username = optionalString(e.username)
    const node = optionalString(e.node)
    if (topic === false || clientId === false || username === false || node === false) return { ok: false, reason: 'JSON envelope field of the wrong type' }
    const encoding = e.payload_encoding ?? 'utf8'
    if (encoding !== 'utf8' && encoding !== 'base64') return { ok: false, reason: 'invalid payload_encoding in JSON envelope' }
    const payloadText = e.payload ?? ''
    if (typeof payloadText !== 'string') return { ok: false, reason: 'JSON envelope payload is not a string' }
    let qos: Qos | undefined | -1
    if (e.qos === undefined || e.qos === null) qos = parseQos(headerText(record.headers, HEADER.qos))
    else qos = e.qos === 0 || e.qos === 1 || e.qos === 2 ? e.qos : -1
    if (qos === -1) return { ok: false, reason: 'invalid qos in JSON envelope' }
    if (e.retain !== undefined && e.retain !== null && typeof e.retain !== 'boolean') return { ok: false, reason: 'JSON envelope field of the wrong type' }
    const properties = propertiesFromJson(e.properties)
    if (properties === false) return { ok: false, reason: 'invalid properties in JSON envelope' }
    return {
      ok: true,
      record: {
        topic: topic ?? headerText(record.headers, HEADER.topic),
        qos,
        payload: Buffer.from(payloadText, encoding),
        retain: e.retain === true,
        clientId,
        username,
        node,
        ...withProperties(properties)
      }
    }
  }
}

