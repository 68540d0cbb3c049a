import type { Format } from '../mapping/codec.js'
import type { TemplatePart } from '../mapping/template.js'

/*
 * How large a Kafka record one MQTT packet can make, so that a node can refuse, at start, a
 * `mqtt.max_packet_size` its Kafka topics cannot hold (and create its topics big enough). Pure.
 *
 * The bound is exact for raw records, Avro, retained messages and for JSON up to JSON's escaping:
 * a payload that is not UTF-8 is base64 (4/3), and text is counted at its byte length, so a JSON
 * payload full of characters JSON escapes (control characters: up to 6 bytes each) can still make
 * a record Kafka refuses; that PUBLISH then fails alone (batching-producer.ts).
 */

/** The v2 record batch header, which Kafka counts against max.message.bytes. */
export const BATCH_OVERHEAD = 61
/** A record's length, attributes, timestamp and offset deltas, key and value lengths and header count, as varints at their longest. */
const RECORD_FRAMING = 36
/** A header's two varint lengths, at their longest. */
const HEADER_FRAMING = 10
/** An MQTT topic is a UTF-8 string: at most 65535 bytes. */
const MAX_TOPIC = 65_535
/** UTF-8 bytes of a string of `n` UTF-16 code units, at most. */
const utf8Max = (n: number): number => Math.min(MAX_TOPIC, 3 * n)
const header = (name: string, valueBytes: number): number => HEADER_FRAMING + name.length + valueBytes
const base64 = (n: number): number => 4 * Math.ceil(n / 3)

/** What bounds the variable parts of a record. */
export interface FitLimits {
  /** `mqtt.max_packet_size` (remaining length) */
  maxPacketSize: number
  /** `mqtt.max_clientid_len`, in characters */
  maxClientIdLen: number
  /** `mqtt.max_username_length`, in characters */
  maxUsernameLen: number
  /** `node.name` */
  node: string
}

/** How one route writes a PUBLISH into a data topic: its format and key template. */
export interface RouteShape {
  format: Format
  key: TemplatePart[]
  /** avro with a schema registry: a 5-byte prefix instead of the fingerprint header */
  registry?: boolean
}

interface Sizes { C: number; U: number; N: number }

function sizes (l: FitLimits): Sizes {
  return { C: utf8Max(l.maxClientIdLen), U: utf8Max(l.maxUsernameLen), N: Buffer.byteLength(l.node) }
}

/** The mqtt.* headers every format writes (codec.ts `metadataHeaders`). */
function metadataHeaders (T: number, s: Sizes): number {
  return header('mqtt.topic', T) + header('mqtt.qos', 1) + header('mqtt.retain', 5) +
    header('mqtt.client_id', s.C) + header('mqtt.username', s.U) + header('mqtt.node', s.N)
}

function keyBytes (parts: TemplatePart[], T: number, s: Sizes): number {
  let n = 0
  for (const p of parts) {
    if (p.kind === 'text') n += Buffer.byteLength(p.text)
    else if (p.kind === 'level' || p.name === 'topic') n += T
    else n += p.name === 'clientid' ? s.C : s.U
  }
  return n
}

/** The value and its extra headers, for a topic of T bytes and a payload of P bytes. */
function valueBytes (route: RouteShape, T: number, P: number, s: Sizes): number {
  switch (route.format) {
    case 'raw': return P
    // {"topic":..,"payload":..,"payload_encoding":"base64","qos":0,"retain":false,"client_id":..,"username":..,"node":..,"timestamp":13 digits}
    case 'json': return 160 + T + base64(P) + s.C + s.U + s.N
    // union indexes, varint lengths, qos, retain, timestamp, an empty map; the fingerprint header or the registry prefix
    case 'avro': return 64 + T + P + s.C + s.U + s.N + (route.registry === true ? 5 : header('wharf.schema.fingerprint', 64))
  }
}

/**
 * The worst record a PUBLISH of `maxPacketSize` makes along a route. A PUBLISH's remaining length
 * holds the topic (2 + T bytes), the packet id (2, QoS 1/2) and the payload, so T + P <= size - 2;
 * the record's size is linear in T, so the worst is at the smallest or the largest topic.
 */
export function publishRecordBytes (route: RouteShape, limits: FitLimits): number {
  const s = sizes(limits)
  const room = limits.maxPacketSize - 2
  const at = (T: number): number => {
    const P = room - T
    return BATCH_OVERHEAD + RECORD_FRAMING + keyBytes(route.key, T, s) + valueBytes(route, T, P, s) + metadataHeaders(T, s)
  }
  return Math.max(at(1), at(Math.max(1, Math.min(room, MAX_TOPIC))))
}

/** The worst record of the retained topic (retained-view.ts: key = topic, value = payload, one header). */
export function retainedRecordBytes (limits: FitLimits): number {
  return BATCH_OVERHEAD + RECORD_FRAMING + (limits.maxPacketSize - 2) + header('mqtt.qos', 1)
}

/**
 * The worst will record of the sessions topic (will-store.ts: JSON, payload in base64, key
 * `<client id>#will`): a CONNECT holds the will's topic and payload (T + P <= size - 16).
 */
export function willRecordBytes (limits: FitLimits): number {
  const s = sizes(limits)
  const room = limits.maxPacketSize - 16
  // {"v":1,"clientId":..,"owner":{"node":..,"inc":<uuid>,"conn":<id>},"at":13 digits,"will":{"topic":..,"payload":..,"qos":0,"retain":false,
  // "properties":{..}},"delayS":10 digits,"disconnectedAt":13 digits}: MQTT 5 will properties take their bytes from the
  // same CONNECT (counted in base64 like the payload); their JSON names and the delay fields are the 220 more
  const at = (T: number): number => BATCH_OVERHEAD + RECORD_FRAMING + (s.C + 5) + 240 + 220 + s.C + s.N + T + base64(room - T)
  return Math.max(at(1), at(Math.max(1, Math.min(room, MAX_TOPIC))))
}

/** What one Kafka topic must hold: the largest record, and the largest batch the producer sends to one partition. */
export interface TopicNeed {
  topic: string
  /** the largest record a packet of max_packet_size can make here */
  recordBytes: number
  /** what it is (for the message): "a PUBLISH", "a retained PUBLISH", "a will" */
  what: string
  /** `kafka.producer.batch_max_bytes` + the batch header */
  batchBytes: number
}

/** A topic whose max.message.bytes is too small, and which key to change. */
export interface FitProblem {
  key: 'mqtt.max_packet_size' | 'kafka.producer.batch_max_bytes'
  topic: string
  needed: number
  maxMessageBytes: number
}

/** The first topic that cannot hold what it must (by `maxMessageBytes` per topic), or undefined. */
export function fitProblem (needs: readonly TopicNeed[], maxMessageBytes: (topic: string) => number | undefined): FitProblem | undefined {
  for (const need of needs) {
    const limit = maxMessageBytes(need.topic)
    if (limit === undefined) continue
    if (need.recordBytes > limit) return { key: 'mqtt.max_packet_size', topic: need.topic, needed: need.recordBytes, maxMessageBytes: limit }
    if (need.batchBytes > limit) return { key: 'kafka.producer.batch_max_bytes', topic: need.topic, needed: need.batchBytes, maxMessageBytes: limit }
  }
  return undefined
}

/** The max.message.bytes a topic Wharf creates gets: what it must hold, rounded up to whole KiB. */
export function maxMessageBytesFor (need: TopicNeed): number {
  return Math.ceil(Math.max(need.recordBytes, need.batchBytes) / 1024) * 1024
}
