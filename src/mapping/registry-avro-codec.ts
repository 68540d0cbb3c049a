import type { KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../kafka/batching-producer.js'
import { decodeEnvelope, envelopeBody } from './avro-envelope.js'
import { metadataHeaders, type DecodeResult, type RecordCodec, type RecordTarget } from './codec.js'
import type { MqttMessage } from '../protocol/message.js'
import type { RegistrySchemas } from './registry-schemas.js'

/** Confluent wire format: magic byte 0, the schema id as 4 bytes big-endian, the Avro body. */
export const WIRE_HEADER_BYTES = 5

export function wireHeader (schemaId: number): Buffer {
  const header = Buffer.alloc(WIRE_HEADER_BYTES)
  header.writeUInt32BE(schemaId, 1)
  return header
}

/** The schema id of a value in the wire format, or undefined when it is not in it. */
export function wireSchemaId (value: Buffer | null): number | undefined {
  if (value === null || value.length < WIRE_HEADER_BYTES || value[0] !== 0) return undefined
  return value.readUInt32BE(1)
}

/** The subject of a Kafka topic's values (Confluent's default TopicNameStrategy). */
export function valueSubject (kafkaTopic: string): string {
  return `${kafkaTopic}-value`
}

/**
 * Avro format with a schema registry, for one Kafka topic: values in the Confluent wire format
 * with the id under which the shipped envelope is registered (subject `<topic>-value`); records
 * written with other ids (other versions, other writers) are read through Avro schema resolution.
 * mqtt.* headers as in raw. `register` must have run before `encode`.
 */
export class RegistryAvroCodec implements RecordCodec {
  readonly format = 'avro'
  readonly subject: string
  private header: Buffer | undefined
  schemaId: number | undefined

  constructor (kafkaTopic: string, private readonly schemas: RegistrySchemas) {
    this.subject = valueSubject(kafkaTopic)
  }

  async register (): Promise<void> {
    this.schemaId = await this.schemas.register(this.subject)
    this.header = wireHeader(this.schemaId)
  }

  encode (message: MqttMessage, target: RecordTarget): OutgoingRecord {
    if (this.header === undefined) throw new Error(`the Avro envelope is not registered under ${this.subject} yet`)
    const body = envelopeBody(message)
    return { topic: target.topic, key: target.key, value: Buffer.concat([this.header, body], WIRE_HEADER_BYTES + body.length), headers: metadataHeaders(message) }
  }

  decode (record: KafkaMessage): DecodeResult {
    const id = wireSchemaId(record.value)
    if (id === undefined) return { ok: false, reason: 'not in the schema registry wire format (magic byte 0, 4-byte schema id)' }
    const reader = this.schemas.reader(id)
    if (reader === undefined) return { ok: false, reason: 'schema id not fetched from the schema registry' }
    if ('error' in reader) return { ok: false, reason: reader.error }
    return decodeEnvelope((record.value as Buffer).subarray(WIRE_HEADER_BYTES), reader.resolver, record.headers)
  }

  prefetch (records: readonly KafkaMessage[]): Promise<void> | undefined {
    let missing: number[] | undefined
    for (const record of records) {
      const id = wireSchemaId(record.value)
      if (id !== undefined && this.schemas.reader(id) === undefined) (missing ??= []).push(id)
    }
    return missing === undefined ? undefined : this.schemas.fetch(missing)
  }
}
