import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import avro from 'avsc'
import { HEADER, headerText, parseQos, type DecodeResult } from './codec.js'
import type { IHeaders } from 'kafkajs'
import type { MessageProperties, MqttMessage, Qos } from '../protocol/message.js'
import { propertiesToJson, userPropertiesOf, withProperties } from './properties-json.js'

/**
 * The Avro envelope of `avro` mapping rules. The schema is `schemas/wharf-envelope.avsc` at the
 * package root (two levels up from both `src/bridge` and `dist/bridge`; the Docker image and the
 * npm package ship it), read once when this module loads.
 */
export const ENVELOPE_SCHEMA_FILE = fileURLToPath(new URL('../../schemas/wharf-envelope.avsc', import.meta.url))

/** The schema as text, exactly as shipped (what Wharf registers in a schema registry). */
export const ENVELOPE_SCHEMA_TEXT = readFileSync(ENVELOPE_SCHEMA_FILE, 'utf8')

/** The envelope type; timestamps stay numbers (no logical-type conversion). */
export const envelopeType = avro.Type.forSchema(JSON.parse(ENVELOPE_SCHEMA_TEXT) as avro.Schema)

/** Hex SHA-256 of the schema's Parsing Canonical Form (the `wharf.schema.fingerprint` header). */
export const ENVELOPE_FINGERPRINT = envelopeType.fingerprint('sha256').toString('hex')

/**
 * The envelope before `mqtt5_properties` (the shipped schema less that field: the same Parsing
 * Canonical Form, so the same fingerprint as the schema of earlier versions). Records written with
 * it (by an earlier Wharf, or a backend built against it) are read through Avro schema resolution:
 * the new field takes its default.
 */
const previousSchema = JSON.parse(ENVELOPE_SCHEMA_TEXT) as { fields: Array<{ name: string }> }
previousSchema.fields = previousSchema.fields.filter(f => f.name !== 'mqtt5_properties')
const previousType = avro.Type.forSchema(previousSchema as avro.Schema)

/** Fingerprint of the previous envelope schema (accepted in the `wharf.schema.fingerprint` header). */
export const PREVIOUS_ENVELOPE_FINGERPRINT = previousType.fingerprint('sha256').toString('hex')

/** Reads a body written with the previous envelope schema as the shipped one. */
export const PREVIOUS_ENVELOPE_RESOLVER = envelopeType.createResolver(previousType)

/** The `mqtt5_properties` record of the envelope. */
interface AvroProperties {
  user_properties: Array<{ name: string; value: string }>
  content_type: string | null
  payload_format_indicator: number | null
  response_topic: string | null
  correlation_data: Buffer | null
  message_expiry_interval: number | null
}

/** A decoded envelope, as the shipped schema reads it. */
export interface AvroEnvelope {
  topic: string | null
  payload: Buffer
  qos: number | null
  retain: boolean
  client_id: string | null
  username: string | null
  node: string | null
  timestamp: number
  properties: Record<string, string>
  mqtt5_properties: AvroProperties | null
}

const NO_PROPERTIES: Record<string, string> = Object.freeze({}) as Record<string, string>

/** The envelope's two property fields: the map of user properties (last value per name) and the whole set. */
function toAvroProperties (p: MessageProperties | undefined): Pick<AvroEnvelope, 'properties' | 'mqtt5_properties'> {
  if (p === undefined) return { properties: NO_PROPERTIES, mqtt5_properties: null }
  const j = propertiesToJson(p)
  const users = (j.user_properties ?? []).map(([name, value]) => ({ name, value }))
  return {
    properties: Object.fromEntries(users.map(u => [u.name, u.value])),
    mqtt5_properties: {
      user_properties: users,
      content_type: j.content_type ?? null,
      payload_format_indicator: j.payload_format_indicator ?? null,
      response_topic: j.response_topic ?? null,
      correlation_data: p.correlationData ?? null,
      message_expiry_interval: j.message_expiry_interval ?? null
    }
  }
}

/** The properties an envelope carries: `mqtt5_properties`, else the user properties of the map; undefined when none. */
function fromAvroProperties (e: AvroEnvelope): MessageProperties | undefined {
  const a = e.mqtt5_properties
  if (a === null) {
    const pairs = Object.entries(e.properties)
    return pairs.length === 0 ? undefined : { userProperties: userPropertiesOf(pairs) }
  }
  const p: MessageProperties = {}
  if (a.user_properties.length > 0) p.userProperties = userPropertiesOf(a.user_properties.map(u => [u.name, u.value]))
  if (a.content_type !== null) p.contentType = a.content_type
  if (a.payload_format_indicator !== null) p.payloadFormatIndicator = a.payload_format_indicator === 1
  if (a.response_topic !== null) p.responseTopic = a.response_topic
  if (a.correlation_data !== null) p.correlationData = a.correlation_data
  if (a.message_expiry_interval !== null && a.message_expiry_interval >= 0) p.messageExpiryInterval = a.message_expiry_interval
  return Object.keys(p).length === 0 ? undefined : p
}

/** The envelope body (no header) of a message taken over MQTT. */
export function envelopeBody (message: MqttMessage): Buffer {
  const envelope: AvroEnvelope = {
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
    client_id: message.clientId ?? null,
    username: message.username ?? null,
    node: message.node ?? null,
    timestamp: Date.now(),
    ...toAvroProperties(message.properties)
  }
  return envelopeType.toBuffer(envelope)
}

/**
 * Decodes an envelope body (no prefix) written with the shipped schema, or with another one when
 * `resolver` reads it as the shipped schema (Avro schema resolution). The mqtt.* headers fill what
 * the envelope leaves null.
 */
export function decodeEnvelope (body: Buffer | null, resolver: avro.Resolver | undefined, headers: IHeaders | undefined): DecodeResult {
  if (body === null || body.length === 0) return { ok: false, reason: 'empty Avro envelope' }
  let e: AvroEnvelope
  try {
    e = envelopeType.fromBuffer(body, resolver) as AvroEnvelope
  } catch {
    return { ok: false, reason: 'invalid Avro envelope' }
  }
  return fromEnvelope(e, headers)
}

function fromEnvelope (e: AvroEnvelope, headers: IHeaders | undefined): DecodeResult {
  let qos: Qos | undefined | -1
  if (e.qos === null) qos = parseQos(headerText(headers, HEADER.qos))
  else qos = e.qos === 0 || e.qos === 1 || e.qos === 2 ? e.qos : -1
  if (qos === -1) return { ok: false, reason: 'invalid qos in Avro envelope' }
  return {
    ok: true,
    record: {
      topic: e.topic ?? headerText(headers, HEADER.topic),
      qos,
      payload: e.payload,
      retain: e.retain,
      clientId: e.client_id ?? undefined,
      username: e.username ?? undefined,
      node: e.node ?? undefined,
      ...withProperties(fromAvroProperties(e))
    }
  }
}
