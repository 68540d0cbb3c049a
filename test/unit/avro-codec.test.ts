import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import avro from 'avsc'
import type { KafkaMessage } from 'kafkajs'
import { pino } from 'pino'
import { avroCodec, SCHEMA_FINGERPRINT_HEADER } from '../../src/mapping/avro-codec.js'
import { ENVELOPE_FINGERPRINT, ENVELOPE_SCHEMA_FILE, envelopeType, type AvroEnvelope } from '../../src/mapping/avro-envelope.js'
import { Mapping } from '../../src/mapping/mapping.js'
import type { MqttMessage } from '../../src/protocol/message.js'
import { RegistryAvroCodec, wireHeader, wireSchemaId } from '../../src/mapping/registry-avro-codec.js'
import { RegistrySchemas, SchemaRegistrationFailed } from '../../src/mapping/registry-schemas.js'
import { SchemaRegistryClient } from '../../src/mapping/schema-registry-client.js'
import { SchemaRegistryStandIn } from '../support/schema-registry-stand-in.js'

const logger = pino({ level: 'silent' })
const message: MqttMessage = { topic: 'devices/d1/telemetry', payload: Buffer.from([0xff, 0x00, 0x7b]), qos: 1, retain: true, clientId: 'd1', username: 'alice', node: 'edge-1' }
const SHIPPED = JSON.parse(readFileSync(ENVELOPE_SCHEMA_FILE, 'utf8')) as { fields: Array<{ name: string }> } & Record<string, unknown>

function asRecord (value: Buffer | string | null, headers: Record<string, string> = {}): KafkaMessage {
  return { key: Buffer.from('d1'), value: typeof value === 'string' ? Buffer.from(value) : value, headers, timestamp: '0', attributes: 0, offset: '0' } as KafkaMessage
}

function backendEnvelope (fields: Partial<AvroEnvelope> & { payload: Buffer }): Buffer {
  return envelopeType.toBuffer({ topic: null, qos: null, retain: false, client_id: null, username: null, node: null, timestamp: 0, properties: {}, mqtt5_properties: null, ...fields })
}

describe('avro envelope schema', () => {
  it('ships every field of the envelope', () => {
    assert.deepEqual(SHIPPED.fields.map((f) => f.name), ['topic', 'payload', 'qos', 'retain', 'client_id', 'username', 'node', 'timestamp', 'properties', 'mqtt5_properties'])
  })

  it('fingerprint = hex SHA-256 of the Parsing Canonical Form', () => {
    const canonical = JSON.stringify(avro.Type.forSchema(SHIPPED as avro.Schema).schema())
    assert.equal(ENVELOPE_FINGERPRINT, createHash('sha256').update(canonical).digest('hex'))
    assert.match(ENVELOPE_FINGERPRINT, /^[0-9a-f]{64}$/)
  })
})

describe('avro codec without a schema registry', () => {
  it('round trip: every field in the envelope, the fingerprint and mqtt.* in headers', () => {
    const before = Date.now()
    const out = avroCodec.encode(message, { topic: 'k', key: 'd1' })
    assert.equal(out.key, 'd1')
    assert.equal(out.headers?.[SCHEMA_FINGERPRINT_HEADER], ENVELOPE_FINGERPRINT)
    assert.equal(out.headers?.['mqtt.topic'], 'devices/d1/telemetry')
    const env = envelopeType.fromBuffer(out.value as Buffer) as AvroEnvelope
    assert.ok(env.timestamp >= before && env.timestamp <= Date.now())
    assert.deepEqual({ ...env, timestamp: 0 }, {
      topic: 'devices/d1/telemetry', payload: message.payload, qos: 1, retain: true, client_id: 'd1', username: 'alice', node: 'edge-1', timestamp: 0, properties: {}, mqtt5_properties: null
    })
    const back = avroCodec.decode(asRecord(out.value as Buffer, out.headers as Record<string, string>))
    assert.ok(back.ok)
    assert.deepEqual(back.record, { topic: 'devices/d1/telemetry', qos: 1, payload: message.payload, retain: true, clientId: 'd1', username: 'alice', node: 'edge-1' })
  })

  it('a backend envelope with only a payload leaves topic and QoS to headers and the rule', () => {
    const minimal = avroCodec.decode(asRecord(backendEnvelope({ payload: Buffer.from('reboot') })))
    assert.ok(minimal.ok)
    assert.deepEqual([minimal.record.topic, minimal.record.qos, String(minimal.record.payload)], [undefined, undefined, 'reboot'])
    const headed = avroCodec.decode(asRecord(backendEnvelope({ payload: Buffer.from('x') }), { 'mqtt.topic': 'a/b', 'mqtt.qos': '2', [SCHEMA_FINGERPRINT_HEADER]: ENVELOPE_FINGERPRINT }))
    assert.ok(headed.ok)
    assert.deepEqual([headed.record.topic, headed.record.qos], ['a/b', 2])
  })

  it('skips garbage, an empty value, a bad QoS and another schema\'s fingerprint, with a reason', () => {
    const reason = (r: ReturnType<typeof avroCodec.decode>): string => (r.ok ? 'ok' : r.reason)
    assert.equal(reason(avroCodec.decode(asRecord('not avro at all'))), 'invalid Avro envelope')
    assert.equal(reason(avroCodec.decode(asRecord(null))), 'empty Avro envelope')
    assert.equal(reason(avroCodec.decode(asRecord(backendEnvelope({ payload: Buffer.from('x'), qos: 7 })))), 'invalid qos in Avro envelope')
    const other = avroCodec.decode(asRecord(backendEnvelope({ payload: Buffer.from('x') }), { [SCHEMA_FINGERPRINT_HEADER]: 'ab'.repeat(32) }))
    assert.equal(reason(other), `unknown ${SCHEMA_FINGERPRINT_HEADER} (no schema registry configured)`)
  })

  it('is what an avro rule of a Mapping uses, both directions', () => {
    const mapping = new Mapping([{ filter: 'devices/#', kafka_topic: 'dev', key: '{2}', format: 'avro', qos: 1, mqtt_topic: 'devices/${key}/cmd' }], 'mqtt.messages')
    const record = mapping.encode(message)
    assert.equal(record.topic, 'dev')
    assert.equal(record.headers?.[SCHEMA_FINGERPRINT_HEADER], ENVELOPE_FINGERPRINT)
    const back = mapping.decode('dev', asRecord(backendEnvelope({ payload: Buffer.from('go') })))
    assert.ok(back.ok)
    assert.deepEqual([back.message.topic, back.message.qos], ['devices/d1/cmd', 1])
    assert.equal(mapping.prefetch('dev', [asRecord('x')]), undefined)
  })
})

describe('avro codec with a schema registry (Confluent wire format)', () => {
  let registry: SchemaRegistryStandIn
  let schemas: RegistrySchemas
  before(async () => {
    registry = await SchemaRegistryStandIn.start()
    schemas = new RegistrySchemas(new SchemaRegistryClient({ url: `${registry.url}/`, requestTimeoutMs: 2000 }), logger, [10, 10])
  })
  after(async () => { await registry.close() })

  it('registers under <topic>-value with the registry content type, then writes magic byte 0 + id + body', async () => {
    const codec = new RegistryAvroCodec('devices.telemetry', schemas)
    assert.throws(() => codec.encode(message, { topic: 'devices.telemetry', key: 'd1' }), /not registered/)
    await codec.register()
    assert.ok(registry.requests.includes('POST /subjects/devices.telemetry-value/versions application/vnd.schemaregistry.v1+json'), registry.requests.join('\n'))
    assert.ok(registry.requests.includes('GET /subjects/devices.telemetry-value/versions/latest '))
    const id = codec.schemaId as number
    const out = codec.encode(message, { topic: 'devices.telemetry', key: 'd1' })
    const value = out.value as Buffer
    assert.equal(value[0], 0)
    assert.equal(value.readUInt32BE(1), id)
    assert.equal(wireSchemaId(value), id)
    assert.equal(out.headers?.[SCHEMA_FINGERPRINT_HEADER], undefined)
    const env = envelopeType.fromBuffer(value.subarray(5)) as AvroEnvelope
    assert.equal(env.client_id, 'd1')
    const back = codec.decode(asRecord(value))
    assert.ok(back.ok)
    assert.deepEqual(back.record, { topic: 'devices/d1/telemetry', qos: 1, payload: message.payload, retain: true, clientId: 'd1', username: 'alice', node: 'edge-1' })
    // registering again (another node, a restart) finds the same id
    const again = new RegistryAvroCodec('devices.telemetry', schemas)
    await again.register()
    assert.equal(again.schemaId, id)
  })

  it('reads records of other schema versions through schema resolution, fetching the writer schema first', async () => {
    const codec = new RegistryAvroCodec('devices.commands', schemas)
    await codec.register()
    // v2 by a backend: an extra field, no properties; v0: only topic and payload
    const v2Schema = { ...SHIPPED, fields: [...SHIPPED.fields.filter((f) => f.name !== 'properties'), { name: 'priority', type: 'int', default: 0 }] }
    const v0Schema = { type: 'record', name: 'Envelope', namespace: 'io.wharf.mqtt', fields: [{ name: 'topic', type: ['null', 'string'] }, { name: 'payload', type: 'bytes' }] }
    const v2 = registry.register('devices.commands-value', JSON.stringify(v2Schema))
    const v0 = registry.register('other-value', JSON.stringify(v0Schema))
    const v2Body = avro.Type.forSchema(v2Schema as avro.Schema).toBuffer({ topic: 'devices/d7/commands', payload: Buffer.from('on'), qos: 2, retain: false, client_id: null, username: null, node: null, timestamp: 5, priority: 9 })
    const v0Body = avro.Type.forSchema(v0Schema as avro.Schema).toBuffer({ topic: 'devices/d8/commands', payload: Buffer.from('off') })
    const records = [asRecord(Buffer.concat([wireHeader(v2), v2Body])), asRecord(Buffer.concat([wireHeader(v0), v0Body]))]
    const fetching = codec.prefetch(records)
    assert.ok(fetching !== undefined, 'unknown ids are fetched before decoding')
    await fetching
    assert.equal(codec.prefetch(records), undefined, 'then known')
    const [a, b] = records.map((r) => codec.decode(r))
    assert.ok(a?.ok && b?.ok)
    assert.deepEqual([a.record.topic, a.record.qos, String(a.record.payload)], ['devices/d7/commands', 2, 'on'])
    assert.deepEqual([b.record.topic, b.record.qos, String(b.record.payload), b.record.retain], ['devices/d8/commands', undefined, 'off', false])
  })

  it('skips records not in the wire format, of unknown ids and of schemas that do not resolve', async () => {
    const codec = new RegistryAvroCodec('devices.x', schemas)
    await codec.register()
    const reason = (r: ReturnType<typeof codec.decode>): string => (r.ok ? 'ok' : r.reason)
    assert.equal(reason(codec.decode(asRecord('garbage'))), 'not in the schema registry wire format (magic byte 0, 4-byte schema id)')
    assert.equal(reason(codec.decode(asRecord(Buffer.concat([wireHeader(codec.schemaId as number), Buffer.from([0x7f, 0x7f])])))), 'invalid Avro envelope')
    const bad = registry.register('x-value', JSON.stringify({ type: 'record', name: 'Envelope', namespace: 'io.wharf.mqtt', fields: [{ name: 'topic', type: 'string' }] }))
    const records = [asRecord(Buffer.concat([wireHeader(bad), Buffer.from([0])])), asRecord(Buffer.concat([wireHeader(999), Buffer.from([0])]))]
    await codec.prefetch(records)
    assert.equal(reason(codec.decode(records[0] as KafkaMessage)), `schema id ${bad} cannot be read as the Wharf envelope`)
    assert.equal(reason(codec.decode(records[1] as KafkaMessage)), 'schema id 999 not in the schema registry')
  })

  it('fails registration naming mapping.schema_registry.url: after retries when unreachable, at once on a 4xx', async () => {
    const closed = await SchemaRegistryStandIn.start()
    const url = closed.url
    await closed.close()
    const unreachable = new RegistrySchemas(new SchemaRegistryClient({ url, requestTimeoutMs: 500 }), logger, [10, 10])
    await assert.rejects(unreachable.register('t-value'), (err: Error) => {
      assert.ok(err instanceof SchemaRegistrationFailed)
      assert.equal(err.message, `mapping.schema_registry.url: could not register the Avro envelope for subject t-value at ${url} after 3 attempts: fetch failed (ECONNREFUSED)`)
      return true
    })
    registry.failWith = 409
    const count = registry.requests.length
    try {
      await assert.rejects(schemas.register('t-value'), /^SchemaRegistrationFailed: mapping\.schema_registry\.url: .* 409 stand-in told to fail$/)
      assert.equal(registry.requests.length, count + 1, 'no retry on a 4xx')
    } finally {
      registry.failWith = undefined
    }
  })

  it('a Mapping registers every avro topic once and leaves raw and json alone', async () => {
    const mapping = new Mapping([
      { filter: 'a/#', kafka_topic: 'm.avro', key: '${topic}', format: 'avro', qos: 0 },
      { filter: 'b/#', kafka_topic: 'm.avro', key: '${topic}', format: 'avro', qos: 0 },
      { filter: 'c/#', kafka_topic: 'm.json', key: '${topic}', format: 'json', qos: 0 }
    ], 'mqtt.messages', schemas)
    const count = registry.requests.length
    await mapping.registerSchemas()
    assert.deepEqual(registry.requests.slice(count).map((r) => r.split(' ').slice(0, 2).join(' ')), ['POST /subjects/m.avro-value/versions', 'GET /subjects/m.avro-value/versions/latest'])
    assert.equal(wireSchemaId(mapping.encode({ ...message, topic: 'b/1' }).value as Buffer), wireSchemaId(mapping.encode({ ...message, topic: 'a/1' }).value as Buffer))
  })
})

describe('avro envelope: MQTT 5 properties and the previous schema', () => {
  const v5: MqttMessage = {
    ...message,
    properties: { userProperties: { a: ['1', '2'], b: '3' }, contentType: 'text/plain', payloadFormatIndicator: true, responseTopic: 'r/1', correlationData: Buffer.from([0, 1, 255]), messageExpiryInterval: 60 }
  }
  const previous = avro.Type.forSchema({ ...SHIPPED, fields: SHIPPED.fields.filter((f) => f.name !== 'mqtt5_properties') } as avro.Schema)

  it('round trip: every property in mqtt5_properties (user properties in order, a repeated name too), the map keeps the last value per name', () => {
    const out = avroCodec.encode(v5, { topic: 'k', key: 'd1' })
    const env = envelopeType.fromBuffer(out.value as Buffer) as AvroEnvelope
    assert.deepEqual(env.properties, { a: '2', b: '3' })
    const back = avroCodec.decode(asRecord(out.value as Buffer, { [SCHEMA_FINGERPRINT_HEADER]: ENVELOPE_FINGERPRINT }))
    assert.ok(back.ok)
    assert.deepEqual(back.record.properties, v5.properties)
  })

  it('reads a record written with the previous schema (its fingerprint): mqtt5_properties takes its default, the map gives user properties', () => {
    const body = previous.toBuffer({ topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, client_id: null, username: null, node: null, timestamp: 0, properties: { k: 'v' } })
    const back = avroCodec.decode(asRecord(body, { [SCHEMA_FINGERPRINT_HEADER]: previous.fingerprint('sha256').toString('hex') }))
    assert.ok(back.ok)
    assert.deepEqual([back.record.topic, back.record.properties], ['t', { userProperties: { k: 'v' } }])
  })

  it('a reader of the previous schema reads a record written with this one (the new field is skipped)', () => {
    const out = avroCodec.encode(v5, { topic: 'k', key: 'd1' })
    const old = previous.fromBuffer(out.value as Buffer, previous.createResolver(envelopeType)) as Record<string, unknown>
    assert.deepEqual([old.topic, old.properties], ['devices/d1/telemetry', { a: '2', b: '3' }])
  })
})
