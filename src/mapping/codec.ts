import type { IHeaders, KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import type { MessageProperties, MqttMessage, Qos } from '../protocol/message.js'
import { propertyHeaders } from './property-headers.js'
import { sameBytes, type FewTexts } from '../util/few-texts.js'

/** Kafka header names carrying MQTT metadata (documented in README, "For backend services"). */
export const HEADER = {
  topic: 'mqtt.topic',
  qos: 'mqtt.qos',
  retain: 'mqtt.retain',
  clientId: 'mqtt.client_id',
  username: 'mqtt.username',
  node: 'mqtt.node'
} as const

/** Payload formats of mapping rules. */
export const FORMATS = ['raw', 'json', 'avro'] as const
export type Format = typeof FORMATS[number]

/** Where a message goes in Kafka: chosen by the mapping rule. */
export interface RecordTarget {
  topic: string
  key: string
}

/** What a codec reads from a record; topic and QoS stay undefined when the record does not say. */
export interface DecodedRecord {
  topic: string | undefined
  qos: Qos | undefined
  payload: Buffer
  retain: boolean
  clientId: string | undefined
  username: string | undefined
  node: string | undefined
  /** MQTT 5 properties the value itself carries (json and avro envelopes); the expiry interval as given */
  properties?: MessageProperties | undefined
}

export type DecodeResult = { ok: true; record: DecodedRecord } | { ok: false; reason: string }

/** One payload format, both directions. encode and decode are synchronous (the hot path). */
export interface RecordCodec {
  readonly format: Format
  encode (message: MqttMessage, target: RecordTarget): OutgoingRecord
  decode (record: KafkaMessage): DecodeResult
  /**
   * Gets what decoding these records needs and the codec does not have yet (Avro writer schemas
   * from a schema registry); undefined, without waiting, when nothing is missing.
   */
  prefetch? (records: readonly KafkaMessage[]): Promise<void> | undefined
}

const QOS_TEXT = ['0', '1', '2'] as const

/** The MQTT metadata headers every format writes (and the MQTT 5 properties', `property-headers.ts`). */
export function metadataHeaders (msg: MqttMessage): IHeaders {
  const headers: IHeaders = {
    [HEADER.topic]: msg.topic,
    [HEADER.qos]: QOS_TEXT[msg.qos],
    [HEADER.retain]: msg.retain ? 'true' : 'false'
  }
  if (msg.clientId !== undefined) headers[HEADER.clientId] = msg.clientId
  if (msg.username !== undefined) headers[HEADER.username] = msg.username
  if (msg.node !== undefined) headers[HEADER.node] = msg.node
  propertyHeaders(msg.properties, headers)
  return headers
}

/**
 * A header's value as text: the last one when the header is repeated; undefined when absent or
 * null (Kafka headers may have a null value: a backend's record with one must not stop delivery).
 */
export function headerText (headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name] as IHeaders[string] | null
  if (v === undefined || v === null) return undefined
  if (Array.isArray(v)) {
    const last = v[v.length - 1] as Buffer | string | null | undefined
    return last === undefined || last === null ? undefined : last.toString()
  }
  return v.toString()
}

/** 0, 1, 2 from text; undefined when absent; -1 when invalid. */
export function parseQos (text: string | undefined): Qos | undefined | -1 {
  if (text === undefined) return undefined
  return text === '0' ? 0 : text === '1' ? 1 : text === '2' ? 2 : -1
}

/*
 * The raw format's per-record header reads without a string per header where the bytes answer
 * (every call of Buffer#toString is a call into C++; a record has six such headers): the one-byte
 * QoS, the RETAIN flag compared as bytes, and the node name, one of a cluster's few.
 */

/** The `mqtt.qos` header as `parseQos` reads it. */
export function headerQos (headers: IHeaders | undefined): Qos | undefined | -1 {
  const v = headers?.[HEADER.qos]
  if (Buffer.isBuffer(v) && v.length === 1) {
    const digit = (v[0] as number) - 0x30
    return digit === 0 || digit === 1 || digit === 2 ? digit : -1
  }
  return parseQos(headerText(headers, HEADER.qos))
}

const TRUE = Buffer.from('true')

/** Is the header's value the text `true`? */
export function headerIsTrue (headers: IHeaders | undefined, name: string): boolean {
  const v = headers?.[name]
  if (Buffer.isBuffer(v)) return v.length === 4 && sameBytes(v, 0, TRUE)
  return headerText(headers, name) === 'true'
}

/** A header's text through `texts` (for values that repeat: node names), as `headerText` gives it. */
export function repeatedHeaderText (texts: FewTexts, headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name]
  return Buffer.isBuffer(v) ? texts.text(v, 0, v.length) : headerText(headers, name)
}
