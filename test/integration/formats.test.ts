import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import avro from 'avsc'
import { Kafka, logLevel, type Consumer, type KafkaMessage, type Producer } from 'kafkajs'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { findFreePort } from '../../src/local-kafka/ports.js'
import { createLogger } from '../../src/observability/logger.js'
import { APICURIO_VERSION, ApicurioRegistry } from '../support/apicurio-registry.js'
import { testBrokers, uniqueTopics, WharfProcess, type WharfTopics } from '../support/wharf-process.js'

/* What a backend team has: the .avsc file of the repository, kafkajs and avsc; no Wharf code. */
const SCHEMA_TEXT = readFileSync(new URL('../../schemas/wharf-envelope.avsc', import.meta.url), 'utf8')
const SCHEMA = JSON.parse(SCHEMA_TEXT) as Record<string, unknown> & { fields: Array<{ name: string }> }
const envelope = avro.Type.forSchema(SCHEMA as avro.Schema)
const FINGERPRINT = createHash('sha256').update(JSON.stringify(envelope.schema())).digest('hex')
const PAYLOAD = Buffer.from([0xff, 0x00, 0x01, 0x7b]) // not UTF-8: json must base64 it
const EMPTY = { topic: null, qos: null, retain: false, client_id: null, username: null, node: null, timestamp: 0, properties: {}, mqtt5_properties: null }

interface Seen { topic: string; message: KafkaMessage }

async function backend (kafkaTopics: string[], id: string): Promise<{ seen: Seen[]; consumer: Consumer; producer: Producer }> {
  const kafka = new Kafka({ clientId: 'test-backend', brokers: testBrokers(), logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: `test-formats-${id}` })
  const producer = kafka.producer()
  const seen: Seen[] = []
  await consumer.connect()
  await consumer.subscribe({ topics: kafkaTopics, fromBeginning: true })
  await consumer.run({ eachMessage: async ({ topic, message }) => { seen.push({ topic, message }) } })
  await producer.connect()
  return { seen, consumer, producer }
}

const header = (m: KafkaMessage, name: string): string | undefined => m.headers?.[name]?.toString()

function assertRawHeaders (m: KafkaMessage, topic: string, node: string): void {
  assert.deepEqual(['mqtt.topic', 'mqtt.qos', 'mqtt.retain', 'mqtt.client_id', 'mqtt.username', 'mqtt.node'].map((h) => header(m, h)), [topic, '1', 'false', 'dev-1', 'alice', node])
}

describe('formats end to end: raw, json, avro (fingerprint header) and avro with a schema registry', () => {
  let dir = ''
  before(() => { dir = mkdtempSync(join(tmpdir(), 'wharf-formats-it-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  const configFile = (name: string, mapping: unknown): string => {
    const file = join(dir, name)
    writeFileSync(file, JSON.stringify({ mapping })) // JSON is YAML
    return file
  }
  const idOf = (topics: WharfTopics): string => topics.messages.slice('mqtt.messages.'.length)

  it('raw, json, avro: every field reaches a plain consumer; backend records reach a device; garbage is skipped', async () => {
    const topics = uniqueTopics('formats')
    const id = idOf(topics)
    const k = { raw: `raw.${id}`, json: `json.${id}`, avro: `avro.${id}` }
    const rules = (['raw', 'json', 'avro'] as const).map((f) => ({ filter: `fmt/${f}/#`, kafka_topic: k[f], key: '${clientid}', format: f, qos: 1, mqtt_topic: `fmt/${f}/\${key}/in` }))
    const node = `formats-${id}`
    const wharf = await WharfProcess.start({ brokers: testBrokers(), topics, nodeName: node, args: ['--config', configFile('formats.yaml', { rules })] })
    const { seen, consumer, producer } = await backend(Object.values(k), id)
    try {
      // MQTT -> Kafka
      const device = await connect(wharf.url, { clientId: 'dev-1', username: 'alice' })
      const got = collect(device)
      await device.subscribeAsync('fmt/#', { qos: 1 })
      for (const f of ['raw', 'json', 'avro']) await device.publishAsync(`fmt/${f}/dev-1/out`, PAYLOAD, { qos: 1 })
      await until(() => seen.length >= 3, 30000, 'three records in Kafka')
      const of = (t: string): KafkaMessage => (seen.find((s) => s.topic === t) as Seen).message
      const before = Date.now()

      const raw = of(k.raw)
      assert.equal(raw.key?.toString(), 'dev-1')
      assert.deepEqual(raw.value, PAYLOAD)
      assertRawHeaders(raw, 'fmt/raw/dev-1/out', node)

      const json = of(k.json)
      const j = JSON.parse(String(json.value)) as Record<string, unknown>
      assert.ok(typeof j.timestamp === 'number' && j.timestamp <= before && j.timestamp > before - 60000)
      assert.deepEqual({ ...j, timestamp: 0 }, { topic: 'fmt/json/dev-1/out', payload: PAYLOAD.toString('base64'), payload_encoding: 'base64', qos: 1, retain: false, client_id: 'dev-1', username: 'alice', node, timestamp: 0, properties: {} })
      assertRawHeaders(json, 'fmt/json/dev-1/out', node)

      const av = of(k.avro)
      assert.equal(header(av, 'wharf.schema.fingerprint'), FINGERPRINT)
      assertRawHeaders(av, 'fmt/avro/dev-1/out', node)
      const e = envelope.fromBuffer(av.value as Buffer) as Record<string, unknown>
      assert.ok(typeof e.timestamp === 'number' && e.timestamp <= before && e.timestamp > before - 60000)
      assert.deepEqual({ ...e, timestamp: 0 }, { topic: 'fmt/avro/dev-1/out', payload: PAYLOAD, qos: 1, retain: false, client_id: 'dev-1', username: 'alice', node, timestamp: 0, properties: {}, mqtt5_properties: null })
      assert.deepEqual(Object.keys(e), SCHEMA.fields.map((f) => f.name))

      // the device got its own three messages back through Kafka
      await until(() => got.length >= 3, 15000, 'own messages delivered')
      got.length = 0

      // Kafka -> MQTT: with mqtt.topic (header; for avro also the envelope's topic), a topic the rule covers, and without (the rule's mqtt_topic)
      const withTopic = (f: string): Record<string, string> => ({ 'mqtt.topic': `fmt/${f}/header`, 'mqtt.qos': '0' })
      await producer.send({ topic: k.raw, messages: [{ key: 'dev-1', value: 'raw-h', headers: withTopic('raw') }, { key: 'dev-1', value: 'raw-k' }] })
      await producer.send({ topic: k.json, messages: [{ key: 'dev-1', value: JSON.stringify({ payload: 'json-h' }), headers: withTopic('json') }, { key: 'dev-1', value: JSON.stringify({ payload: 'json-k' }) }] })
      await producer.send({
        topic: k.avro,
        messages: [
          { key: 'dev-1', value: envelope.toBuffer({ ...EMPTY, payload: Buffer.from('avro-h') }), headers: { ...withTopic('avro'), 'wharf.schema.fingerprint': FINGERPRINT } },
          { key: 'dev-1', value: envelope.toBuffer({ ...EMPTY, payload: Buffer.from('avro-k') }) },
          { key: 'dev-1', value: envelope.toBuffer({ ...EMPTY, topic: 'fmt/avro/envelope', qos: 1, payload: Buffer.from('avro-e') }) }
        ]
      })
      await until(() => got.length >= 7, 15000, 'seven backend records delivered')
      const byPayload = Object.fromEntries(got.map((g) => [g.payload, `${g.topic} q${g.qos}`]))
      assert.deepEqual(byPayload, {
        'raw-h': 'fmt/raw/header q0', 'raw-k': 'fmt/raw/dev-1/in q1',
        'json-h': 'fmt/json/header q0', 'json-k': 'fmt/json/dev-1/in q1',
        'avro-h': 'fmt/avro/header q0', 'avro-k': 'fmt/avro/dev-1/in q1', 'avro-e': 'fmt/avro/envelope q1'
      })

      // garbage in the avro topic: skipped and counted; the next good record is delivered
      got.length = 0
      await producer.send({ topic: k.avro, messages: [{ key: 'dev-1', value: 'not avro {' }, { key: 'dev-1', value: 'x', headers: { 'wharf.schema.fingerprint': 'ab'.repeat(32) } }] })
      await producer.send({ topic: k.avro, messages: [{ key: 'dev-1', value: envelope.toBuffer({ ...EMPTY, payload: Buffer.from('good') }) }] })
      await until(() => got.length === 1, 15000, 'good record after garbage')
      assert.deepEqual(got[0], { topic: 'fmt/avro/dev-1/in', payload: 'good', qos: 1, retain: false })
      const skipped = JSON.parse(await wharf.waitForLog('"reason":"invalid Avro envelope"')) as Record<string, unknown>
      assert.deepEqual([skipped.kafkaTopic, skipped.skippedSoFar], [k.avro, 1])
      await wharf.waitForLog('"reason":"unknown wharf.schema.fingerprint (no schema registry configured)"')
      await end(device)
    } finally {
      await consumer.disconnect().catch(() => undefined)
      await producer.disconnect().catch(() => undefined)
      await wharf.stop()
    }
  })

  describe(`with a real schema registry (Apicurio Registry ${APICURIO_VERSION}, in memory)`, () => {
    let registry: ApicurioRegistry
    before(async () => {
      registry = await ApicurioRegistry.start(createLogger({ level: 'warn' }))
      const rss = await registry.rssKiB()
      console.log(`# Apicurio Registry ${APICURIO_VERSION} answered after ${(registry.startupMs / 1000).toFixed(1)} s, RSS ${Math.round(rss / 1024)} MiB`)
    })
    after(async () => { await registry?.stop() })

    it('avro with a schema registry: registers <topic>-value, writes the Confluent wire format, reads other versions', async () => {
      const topics = uniqueTopics('registry')
      const id = idOf(topics)
      const kt = `avro-sr.${id}`
      const subject = `${kt}-value`
      const node = `registry-${id}`
      const file = configFile('registry.yaml', {
        rules: [{ filter: 'sr/#', kafka_topic: kt, key: '{2}', format: 'avro', qos: 1, mqtt_topic: 'sr/${key}/in' }],
        schema_registry: { url: registry.url }
      })
      const wharf = await WharfProcess.start({ brokers: testBrokers(), topics, nodeName: node, args: ['--config', file] })
      const { seen, consumer, producer } = await backend([kt], id)
      // a Confluent-style consumer: magic byte, schema id, the writer schema from the registry
      const schemaById = async (schemaId: number): Promise<avro.Type> => {
        const res = await fetch(`${registry.url}/schemas/ids/${schemaId}`)
        return avro.Type.forSchema(JSON.parse(((await res.json()) as { schema: string }).schema) as avro.Schema)
      }
      try {
        // Wharf registered the shipped schema under <topic>-value before it was ready
        const latest = (await (await fetch(`${registry.url}/subjects/${subject}/versions/latest`)).json()) as { id: number; schema: string }
        assert.equal(JSON.stringify(JSON.parse(latest.schema)), JSON.stringify(JSON.parse(SCHEMA_TEXT)), 'the shipped schema is registered')

        const device = await connect(wharf.url, { clientId: 'dev-1', username: 'alice' })
        const got = collect(device)
        await device.subscribeAsync('sr/#', { qos: 1 })
        await device.publishAsync('sr/dev-1/out', PAYLOAD, { qos: 1 })
        await until(() => seen.length >= 1, 30000, 'record in Kafka')
        const m = (seen[0] as Seen).message
        const value = m.value as Buffer
        assert.equal(value[0], 0, 'magic byte')
        assert.equal(value.readUInt32BE(1), latest.id, 'schema id of the subject')
        assert.equal(header(m, 'wharf.schema.fingerprint'), undefined)
        assertRawHeaders(m, 'sr/dev-1/out', node)
        const e = (await schemaById(latest.id)).fromBuffer(value.subarray(5)) as Record<string, unknown>
        assert.deepEqual({ ...e, timestamp: 0 }, { topic: 'sr/dev-1/out', payload: PAYLOAD, qos: 1, retain: false, client_id: 'dev-1', username: 'alice', node, timestamp: 0, properties: {}, mqtt5_properties: null })
        await until(() => got.length === 1, 15000, 'own message delivered')
        got.length = 0

        // a backend registers an evolved schema (new field with a default, no properties) after Wharf started
        const v2Schema = { ...SCHEMA, fields: [...SCHEMA.fields.filter((f) => f.name !== 'properties'), { name: 'priority', type: 'int', default: 0 }] }
        const res = await fetch(`${registry.url}/subjects/${subject}/versions`, { method: 'POST', headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' }, body: JSON.stringify({ schema: JSON.stringify(v2Schema) }) })
        const v2 = ((await res.json()) as { id: number }).id
        assert.notEqual(v2, latest.id)
        const v2Type = avro.Type.forSchema(v2Schema as avro.Schema)
        const wire = (schemaId: number, body: Buffer): Buffer => { const h = Buffer.alloc(5); h.writeUInt32BE(schemaId, 1); return Buffer.concat([h, body]) }
        const v2Body = (payload: string): Buffer => wire(v2, v2Type.toBuffer({ ...EMPTY, payload: Buffer.from(payload), priority: 3 }))
        await producer.send({ topic: kt, messages: [{ key: 'dev-1', value: v2Body('v2-h'), headers: { 'mqtt.topic': 'sr/dev-1/header', 'mqtt.qos': '0' } }, { key: 'dev-1', value: v2Body('v2-k') }] })
        await producer.send({ topic: kt, messages: [{ key: 'dev-1', value: wire(latest.id, envelope.toBuffer({ ...EMPTY, payload: Buffer.from('v1-k') })) }] })
        await until(() => got.length >= 3, 15000, 'backend records delivered')
        assert.deepEqual(Object.fromEntries(got.map((g) => [g.payload, `${g.topic} q${g.qos}`])), { 'v2-h': 'sr/dev-1/header q0', 'v2-k': 'sr/dev-1/in q1', 'v1-k': 'sr/dev-1/in q1' })
        // (v2 was registered after Wharf started: delivering v2-h and v2-k took fetching it by id)

        // garbage (no magic byte) is skipped and counted; the next good record is delivered
        got.length = 0
        await producer.send({ topic: kt, messages: [{ key: 'dev-1', value: 'not avro' }, { key: 'dev-1', value: v2Body('after') }] })
        await until(() => got.length === 1, 15000, 'good record after garbage')
        assert.equal(got[0]?.payload, 'after')
        const skipped = JSON.parse(await wharf.waitForLog('skipped a record')) as Record<string, unknown>
        assert.deepEqual([skipped.reason, skipped.kafkaTopic, skipped.skippedSoFar], ['not in the schema registry wire format (magic byte 0, 4-byte schema id)', kt, 1])
        await end(device)
      } finally {
        await consumer.disconnect().catch(() => undefined)
        await producer.disconnect().catch(() => undefined)
        await wharf.stop()
      }
    })

    it('the envelope with mqtt5_properties is a FULL-compatible next version of the envelope before it', async () => {
      const topics = uniqueTopics('evolve')
      const kt = `avro-evolve.${idOf(topics)}`
      const json = { 'Content-Type': 'application/vnd.schemaregistry.v1+json' }
      // the subject holds the previous envelope (as an earlier Wharf registered it) and accepts only
      // versions that read its records and whose records its readers read
      const previous = { ...SCHEMA, fields: SCHEMA.fields.filter((f) => f.name !== 'mqtt5_properties') }
      assert.equal((await fetch(`${registry.url}/subjects/${kt}-value/versions`, { method: 'POST', headers: json, body: JSON.stringify({ schema: JSON.stringify(previous) }) })).status, 200)
      assert.equal((await fetch(`${registry.url}/config/${kt}-value`, { method: 'PUT', headers: json, body: JSON.stringify({ compatibility: 'FULL_TRANSITIVE' }) })).status, 200)
      const file = configFile('evolve.yaml', { rules: [{ filter: 'ev/#', kafka_topic: kt, format: 'avro' }], schema_registry: { url: registry.url } })
      const wharf = await WharfProcess.start({ brokers: testBrokers(), topics, args: ['--config', file] })
      try {
        const latest = (await (await fetch(`${registry.url}/subjects/${kt}-value/versions/latest`)).json()) as { version: number; schema: string }
        assert.equal(latest.version, 2, 'registered as the next version')
        assert.deepEqual(JSON.parse(latest.schema), SCHEMA)
      } finally {
        await wharf.stop()
      }
    })

    it('a registry that refuses the envelope (409: incompatible with the subject) stops the start naming mapping.schema_registry.url', async () => {
      const kt = `avro-incompatible.${Date.now()}`
      const json = { 'Content-Type': 'application/vnd.schemaregistry.v1+json' }
      // the subject already holds another schema and only accepts backward-compatible versions:
      // the envelope's payload field has no default, so it cannot read the records written before
      const other = { type: 'record', name: 'Envelope', namespace: 'io.wharf.mqtt', fields: [{ name: 'device', type: 'string' }] }
      assert.equal((await fetch(`${registry.url}/subjects/${kt}-value/versions`, { method: 'POST', headers: json, body: JSON.stringify({ schema: JSON.stringify(other) }) })).status, 200)
      assert.equal((await fetch(`${registry.url}/config/${kt}-value`, { method: 'PUT', headers: json, body: JSON.stringify({ compatibility: 'BACKWARD' }) })).status, 200)
      const file = configFile('incompatible.yaml', { rules: [{ filter: 'a/#', kafka_topic: kt, format: 'avro' }], schema_registry: { url: registry.url } })
      const wharf = await WharfProcess.start({ brokers: testBrokers(), topics: uniqueTopics('incompatible'), args: ['--config', file], waitReady: false })
      const { code } = await wharf.exited
      assert.equal(code, 1, wharf.lines.join('\n'))
      const fatal = wharf.lines.find((l) => l.includes('Wharf node failed to start')) ?? ''
      assert.match(fatal, /mapping\.schema_registry\.url: .*409 .*Incompatible/, wharf.lines.join('\n'))
      assert.equal(wharf.lines.filter((l) => l.includes('schema registry not reachable yet')).length, 0, 'a 4xx is not retried')
    })
  })

  it('stops the start with exit 2 on invalid avro / registry configuration, naming the key', async () => {
    const topics = uniqueTopics('badavro')
    const cases: Array<[unknown, string]> = [
      [{ schema_registry: { url: 'localhost:8081' } }, 'mapping.schema_registry.url'],
      [{ schema_registry: { url: 'http://127.0.0.1:8081', username: 'u' } }, 'mapping.schema_registry.password'],
      [{ rules: [{ filter: 'a/#', kafka_topic: topics.messages, format: 'avro' }] }, 'mapping.rules.0.format']
    ]
    for (const [mapping, key] of cases) {
      const wharf = await WharfProcess.start({ brokers: testBrokers(), topics, args: ['--config', configFile('bad.yaml', mapping)], waitReady: false })
      const { code } = await wharf.exited
      assert.equal(code, 2, wharf.lines.join('\n'))
      assert.ok(wharf.lines.some((l) => l.includes(`invalid configuration: ${key}:`)), wharf.lines.join('\n'))
    }
  })

  it('fails the start naming mapping.schema_registry.url when the registry cannot be reached after retries', async () => {
    const url = `http://127.0.0.1:${await findFreePort()}` // nothing listens there
    const file = configFile('unreachable.yaml', { rules: [{ filter: 'a/#', kafka_topic: `avro-gone.${Date.now()}`, format: 'avro' }], schema_registry: { url } })
    const wharf = await WharfProcess.start({ brokers: testBrokers(), topics: uniqueTopics('gone'), args: ['--config', file], waitReady: false })
    const { code } = await wharf.exited
    assert.equal(code, 1, wharf.lines.join('\n'))
    const fatal = wharf.lines.find((l) => l.includes('Wharf node failed to start')) ?? ''
    assert.match(fatal, /mapping\.schema_registry\.url: could not register the Avro envelope for subject avro-gone\.\d+-value at http:\/\/127\.0\.0\.1:\d+ after 5 attempts: fetch failed \(ECONNREFUSED\)/, wharf.lines.join('\n'))
    assert.equal(wharf.lines.filter((l) => l.includes('schema registry not reachable yet')).length, 4)
  })
})
