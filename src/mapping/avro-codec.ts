import type { KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import { ENVELOPE_FINGERPRINT, PREVIOUS_ENVELOPE_FINGERPRINT, PREVIOUS_ENVELOPE_RESOLVER, envelopeBody, decodeEnvelope } from './avro-envelope.js'
import { headerText, metadataHeaders, type DecodeResult, type RecordCodec, type RecordTarget } from './codec.js'
import type { MqttMessage } from '../protocol/message.js'

/** Header naming the envelope schema of an `avro` record written without a schema registry. */
export const SCHEMA_FINGERPRINT_HEADER = 'wharf.schema.fingerprint'

/**
 * Avro format without a schema registry: the value is the envelope body (plain Avro binary, no
 * prefix) written with the shipped schema; the `wharf.schema.fingerprint` header holds the
 * schema's SHA-256 Parsing Canonical Form fingerprint in hex, plus the mqtt.* headers as in raw.
 * A backend record may leave the fingerprint header out; when it has one, it must be the shipped
 * schema's (there is nowhere to look another one up).
 */
export const avroCodec: RecordCodec = {
  format: 'avro',

  encode (message: MqttMessage, target: RecordTarget): OutgoingRecord {
    const headers = metadataHeaders(message)
    headers[SCHEMA_FINGERPRINT_HEADER] = ENVELOPE_FINGERPRINT
    return { topic: target.topic, key: target.key, value: envelopeBody(message), headers }
  },

  decode (record: KafkaMessage): DecodeResult {
    const fingerprint = headerText(record.headers, SCHEMA_FINGERPRINT_HEADER)
    // a record of the envelope before mqtt5_properties: read through schema resolution
    if (fingerprint === PREVIOUS_ENVELOPE_FINGERPRINT) return decodeEnvelope(record.value, PREVIOUS_ENVELOPE_RESOLVER, record.headers)
    if (fingerprint !== undefined && fingerprint !== ENVELOPE_FINGERPRINT) return { ok: false, reason: `unknown ${SCHEMA_FINGERPRINT_HEADER} (no schema registry configured)` }
    return decodeEnvelope(record.value, undefined, record.headers)
  }
}
