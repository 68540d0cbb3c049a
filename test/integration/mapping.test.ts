import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'
import { partitionOf } from '../../src/kafka/partitioner.js'

interface Seen { topic: string; partition: number; message: KafkaMessage }

describe('mapping rules: MQTT topics to Kafka topics, keys and formats, both directions', () => {
  let dir = ''
  before(() => { dir = mkdtempSync(join(tmpdir(), 'wharf-mapping-it-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  const configFile = (name: string, rules: unknown[]): string => {
    const file = join(dir, name)
    writeFileSync(file, JSON.stringify({ mapping: { rules } })) // JSON is YAML
    return file
  }

  it('routes device messages by rule and delivers backend records to devices', async () => {
    const topics = uniqueTopics('mapping')
    const id = topics.messages.slice('mqtt.messages.'.length)
    const k = { telemetry: `tele.${id}`, data: `data.${id}`, commands: `cmd.${id}` }
    const file = configFile('rules.yaml', [
      { filter: 'devices/+/telemetry', kafka_topic: k.telemetry, key: '{2}', format: 'json' },
      { filter: 'devices/+/data/#', kafka_topic: k.data, key: '{2}' },
      { filter: 'devices/+/commands', kafka_topic: k.commands, key: '{2}', qos: 1, mqtt_topic: 'devices/${key}/commands' }
    ])
    const wharf = await WharfProcess.start({ brokers: testBrokers(), topics, args: ['--config', file] })
    const kafka = new Kafka({ clientId: 'test-backend', brokers: testBrokers(), logLevel: logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId: `test-${id}` })
    const producer = kafka.producer()
    const seen: Seen[] = []
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [k.telemetry, k.data, topics.messages], fromBeginning: true })
      await consumer.run({ eachMessage: async ({ topic, partition, message }) => { seen.push({ topic, partition, message }) } })
      await producer.connect()

      // MQTT -> Kafka
      const device = await connect(wharf.url, { clientId: 'dev-1' })
      await device.publishAsync('devices/d1/telemetry', '{"t":21.5}', { qos: 1 })
      for (const sub of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) await device.publishAsync(`devices/d1/data/${sub}`, sub, { qos: 1 })
      for (const other of ['d2', 'd3', 'd4', 'd5']) await device.publishAsync(`devices/${other}/data/x`, other, { qos: 1 })
      await device.publishAsync('home/kitchen', 'unmapped', { qos: 1 })
      await until(() => seen.length >= 14, 30000, 'records in Kafka')

      const tele = seen.filter((s) => s.topic === k.telemetry)
      assert.equal(tele.length, 1)
      const t = tele[0]?.message as KafkaMessage
      assert.equal(t.key?.toString(), 'd1')
      const envelope = JSON.parse(String(t.value)) as Record<string, unknown>
      assert.equal(typeof envelope.timestamp, 'number')
      assert.deepEqual({ ...envelope, timestamp: 0, node: typeof envelope.node }, {
        topic: 'devices/d1/telemetry', payload: '{"t":21.5}', payload_encoding: 'utf8', qos: 1, retain: false, client_id: 'dev-1', username: null, node: 'string', timestamp: 0, properties: {}
      })
      assert.equal(t.headers?.['mqtt.topic']?.toString(), 'devices/d1/telemetry')

      const d1 = seen.filter((s) => s.topic === k.data && s.message.key?.toString() === 'd1')
      assert.equal(d1.length, 8)
      assert.equal(new Set(d1.map((s) => s.partition)).size, 1, 'all messages of one device in one partition')
      assert.deepEqual(d1.map((s) => String(s.message.value)), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 'in publish order')
      const raw = d1[0]?.message as KafkaMessage
      assert.equal(raw.headers?.['mqtt.topic']?.toString(), 'devices/d1/data/a')
      assert.equal(raw.headers?.['mqtt.client_id']?.toString(), 'dev-1')
      assert.equal(raw.headers?.['mqtt.qos']?.toString(), '1')
      assert.equal(seen.filter((s) => s.topic === k.data).length, 12)

      const unmapped = seen.filter((s) => s.topic === topics.messages)
      assert.equal(unmapped.length, 1)
      assert.equal(unmapped[0]?.message.key?.toString(), 'home/kitchen')

      // Kafka -> MQTT: no mqtt.topic header, topic from the rule's mqtt_topic, QoS from the rule
      const d42 = await connect(wharf.url, { clientId: 'd42' })
      const got42 = collect(d42)
      await d42.subscribeAsync('devices/d42/commands', { qos: 2 })
      await producer.send({ topic: k.commands, messages: [{ key: 'd42', value: 'reboot' }] })
      await until(() => got42.length === 1, 15000, 'command delivered')
      assert.deepEqual(got42[0], { topic: 'devices/d42/commands', payload: 'reboot', qos: 1, retain: false })
      // with mqtt.topic the header wins (here its QoS)
      await producer.send({ topic: k.commands, messages: [{ key: 'd42', value: 'with header', headers: { 'mqtt.topic': 'devices/d42/commands', 'mqtt.qos': '0' } }] })
      await until(() => got42.length === 2, 15000, 'record with mqtt.topic delivered')
      assert.deepEqual(got42[1], { topic: 'devices/d42/commands', payload: 'with header', qos: 0, retain: false })
      // a record whose MQTT topic the rules put elsewhere (ops/log belongs to the data topic), or keyed
      // otherwise than its rule keys it, is skipped on every node: each node reads only the partitions
      // its clients' filters need, so such a record could not reach every subscriber alike
      const other = await connect(wharf.url)
      const gotOther = collect(other)
      await other.subscribeAsync('ops/#', { qos: 0 })
      await producer.send({ topic: k.commands, messages: [{ key: 'd42', value: 'x', headers: { 'mqtt.topic': 'ops/log', 'mqtt.qos': '0' } }] })
      await wharf.waitForLog('"reason":"MQTT topic not mapped to this Kafka topic"')
      const admin = kafka.admin()
      await admin.connect()
      const n = (await admin.fetchTopicMetadata({ topics: [k.commands] })).topics[0]?.partitions.length ?? 0
      await admin.disconnect()
      const elsewhere = ['a', 'b', 'c', 'd', 'e', 'f'].find(key => partitionOf(k.commands, key, n) !== partitionOf(k.commands, 'd42', n)) as string
      // a wildcard subscriber makes the node read every partition of the commands topic, the
      // misplaced record's too: it is skipped there, as it is not read at all where only d42's is
      const all = await connect(wharf.url)
      const gotAll = collect(all)
      await all.subscribeAsync('devices/+/commands', { qos: 1 })
      await producer.send({ topic: k.commands, messages: [{ key: elsewhere, value: 'x', headers: { 'mqtt.topic': 'devices/d42/commands' } }] })
      await wharf.waitForLog('"reason":"record not in the partition of its key"')
      await producer.send({ topic: k.commands, messages: [{ key: 'd42', value: 'marker' }] })
      await until(() => gotAll.length === 1 && got42.length === 3, 15000, 'the marker at both subscribers')
      assert.deepEqual(gotAll.map(m => m.payload), ['marker'], 'the misplaced record reached nobody')
      await end(all)
      // the same topic produced into its own Kafka topic (the data topic, keyed by the MQTT topic) is delivered
      await producer.send({ topic: topics.messages, messages: [{ key: 'ops/log', value: 'y', headers: { 'mqtt.topic': 'ops/log', 'mqtt.qos': '0' } }] })
      await until(() => gotOther.length === 1, 15000, 'ops/log from the data topic')
      assert.deepEqual(gotOther.map(m => m.payload), ['y'])
      assert.equal(got42.length, 3, 'the misplaced records were not delivered')

      // a garbage record in a json topic is skipped; the next good one is delivered
      const d9 = await connect(wharf.url)
      const got9 = collect(d9)
      await d9.subscribeAsync('devices/d9/telemetry', { qos: 1 })
      await producer.send({ topic: k.telemetry, messages: [{ key: 'd9', value: 'not json {' }] })
      await producer.send({ topic: k.telemetry, messages: [{ key: 'd9', value: JSON.stringify({ topic: 'devices/d9/telemetry', payload: 'good', qos: 1 }) }] })
      await until(() => got9.length === 1, 15000, 'good record after garbage')
      assert.deepEqual(got9[0], { topic: 'devices/d9/telemetry', payload: 'good', qos: 1, retain: false })
      const skipped = JSON.parse(await wharf.waitForLog('"reason":"invalid JSON envelope"')) as Record<string, unknown>
      assert.equal(skipped.reason, 'invalid JSON envelope')
      assert.equal(skipped.kafkaTopic, k.telemetry)
      await end(device, d42, other, d9)
    } finally {
      await consumer.disconnect().catch(() => undefined)
      await producer.disconnect().catch(() => undefined)
      await wharf.stop()
    }
  })

  it('stops the start with exit 2 on an invalid rule, naming it', async () => {
    const file = configFile('bad.yaml', [{ filter: 'devices/+/x', kafka_topic: 'k', key: '${device}' }])
    const wharf = await WharfProcess.start({ brokers: testBrokers(), topics: uniqueTopics('badrule'), args: ['--config', file], waitReady: false })
    const { code } = await wharf.exited
    assert.equal(code, 2)
    assert.ok(wharf.lines.some((l) => l.includes('mapping.rules.0.key') && l.includes('${device}')), wharf.lines.join('\n'))
  })
})
