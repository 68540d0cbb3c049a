import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import avro from 'avsc'
import { HEADER, headerText, parseQos, type DecodeResult } from './codec.js'
import type { IHeaders } from 'kafkajs'
import type { MqttMessage, Qos } from '../protocol/message.js'

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
}

const NO_PROPERTIES: Record<string, string> = Object.freeze({}) as Record<string, string>

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
    properties: NO_PROPERTIES
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
      node: e.node ?? undefined
    }
  }
}
