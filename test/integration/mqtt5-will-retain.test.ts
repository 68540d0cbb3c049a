import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import avro from 'avsc'
import { Kafka, logLevel, type Consumer, type KafkaMessage, type Producer } from 'kafkajs'
import type { IClientOptions, MqttClient } from 'mqtt'
import type { IPublishPacket } from 'mqtt-packet'
import { until } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'
import { v5 } from '../support/mqtt5-client.js'

/*
 * MQTT 5 wills, retained properties, envelopes, request/response and Clean Start 0 with Session
 * Expiry 0 (issue 17), on edges A and B of one Kafka, plus D, a node killed for the dead-node will.
 * "Nothing arrived" is shown by a marker published after the action arriving first.
 */

const RESPONSE_PREFIX = 'reply/'
const WILL_DELAY = 3
const NODE_TIMEOUT_MS = 4000

/* What a backend team has: the shipped .avsc and avsc. */
const envelope = avro.Type.forSchema(JSON.parse(readFileSync(new URL('../../schemas/wharf-envelope.avsc', import.meta.url), 'utf8')) as avro.Schema)

/** The connection breaks (no DISCONNECT): the server sees an abnormal end. */
function cut (c: MqttClient): void {
  c.stream.destroy()
  c.end(true)
}

const WILL_PROPERTIES = {
  userProperties: { reason: 'gone', tag: ['1', '2'] },
  contentType: 'text/plain',
  payloadFormatIndicator: true,
  responseTopic: 'status/ask',
  correlationData: Buffer.from([7, 0, 255])
}

/** Plain data (mqtt-packet and avsc build objects of their own prototypes; Buffers become { type, data }). */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v))

/** The message properties a subscriber got, as compared here. */
function messageProps (p: IPublishPacket): unknown {
  const { userProperties, contentType, payloadFormatIndicator, responseTopic, correlationData } = p.properties ?? {}
  return plain({ userProperties, contentType, payloadFormatIndicator, responseTopic, correlationData })
}

const index = (got: IPublishPacket[], topic: string, payload?: string): number =>
  got.findIndex(p => p.topic === topic && (payload === undefined || p.payload.toString() === payload))

describe('MQTT 5 wills, retained properties, envelopes, request/response, clean start', () => {
  const topics = uniqueTopics('v5will')
  const id = randomUUID().slice(0, 6)
  const dir = mkdtempSync(join(tmpdir(), 'wharf-v5will-'))
  const kt = { json: `v5json.${id}`, avro: `v5avro.${id}` }
  let a: WharfProcess
  let b: WharfProcess
  let d: WharfProcess
  let kafka: Kafka
  let consumer: Consumer
  let producer: Producer
  /** records of the sessions topic and of the json/avro topics, as a plain consumer reads them */
  const records: Array<{ topic: string; message: KafkaMessage }> = []
  const clients: MqttClient[] = []
  const keep = <T extends { client: MqttClient }>(x: T): T => { clients.push(x.client); return x }

  before(async () => {
    const config = join(dir, 'wharf.yaml')
    writeFileSync(config, JSON.stringify({
      mqtt: { response_information: RESPONSE_PREFIX },
      cluster: { node_timeout_ms: NODE_TIMEOUT_MS, heartbeat_interval_ms: 1000 },
      mapping: {
        rules: [
          { filter: 'env/json/#', kafka_topic: kt.json, format: 'json', qos: 1 },
          { filter: 'env/avro/#', kafka_topic: kt.avro, format: 'avro', qos: 1 }
        ]
      }
    }))
    const start = (name: string): Promise<WharfProcess> => WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `${name}-${id}`, args: ['--config', config] })
    ;[a, b, d] = await Promise.all([start('a'), start('b'), start('d')])
    kafka = new Kafka({ clientId: `plain-${id}`, brokers: testBrokers(), logLevel: logLevel.NOTHING })
    consumer = kafka.consumer({ groupId: `plain-${id}` })
    producer = kafka.producer()
    await Promise.all([consumer.connect(), producer.connect()])
    await consumer.subscribe({ topics: [topics.sessions, kt.json, kt.avro], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ topic, message }) => { records.push({ topic, message }) } })
  })

  after(async () => {
    await Promise.all(clients.map(cl => cl.endAsync(true)))
    await Promise.allSettled([consumer?.disconnect(), producer?.disconnect()])
    await Promise.all([a, b, d].filter(n => n !== undefined).map(n => n.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  /** The will record of `clientId` once it says the connection ended (a plain consumer of the sessions topic). */
  const willDisconnected = async (clientId: string): Promise<void> => {
    await until(() => records.some(r => r.topic === topics.sessions && r.message.key?.toString() === `${clientId}#will` &&
      r.message.value !== null && typeof (JSON.parse(r.message.value.toString()) as { disconnectedAt?: unknown }).disconnectedAt === 'number'), 30000, `the will record of ${clientId} with disconnectedAt`)
  }

  it('Will Delay Interval across nodes: published with its properties after the delay; not at all when the client reconnects on another node within it', async () => {
    const sub = keep(await v5(b.mqttPort, { clientId: `wsub-${id}` }))
    await sub.client.subscribeAsync([`will/${id}/#`, `mark/${id}`], { qos: 1 })
    const willOf = (name: string): IClientOptions => ({
      clientId: `${name}-${id}`,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: { topic: `will/${id}/${name}`, payload: Buffer.from(`${name} gone`), qos: 1, retain: false, properties: { willDelayInterval: WILL_DELAY, ...WILL_PROPERTIES } }
    })
    const gone = await v5(a.mqttPort, willOf('gone'))
    const back = await v5(a.mqttPort, willOf('back'))
    cut(gone.client)
    cut(back.client)
    // A has seen both ends (their will records say when): a marker now comes before any will
    await Promise.all([willDisconnected(`gone-${id}`), willDisconnected(`back-${id}`)])
    await sub.client.publishAsync(`mark/${id}`, 'after the disconnect', { qos: 1 })
    // "back" returns, on B, within the delay
    keep(await v5(b.mqttPort, { clientId: `back-${id}`, clean: false, properties: { sessionExpiryInterval: 60 } }))
    await until(() => index(sub.got, `will/${id}/gone`) >= 0, 30000, 'the delayed will')
    assert.ok(index(sub.got, `mark/${id}`, 'after the disconnect') < index(sub.got, `will/${id}/gone`), 'the will waited for its delay')
    const will = sub.got[index(sub.got, `will/${id}/gone`)] as IPublishPacket
    assert.equal(will.payload.toString(), 'gone gone')
    assert.deepEqual(messageProps(will), plain(WILL_PROPERTIES), 'will properties reach a v5 subscriber on another node')
    // the delay of "back" has passed too (both started together): a marker now, and no will of "back" before it
    await sub.client.publishAsync(`mark/${id}`, 'after the delay', { qos: 1 })
    await until(() => index(sub.got, `mark/${id}`, 'after the delay') >= 0, 15000, 'the marker')
    assert.equal(index(sub.got, `will/${id}/back`), -1, 'a client back within the delay has no will published')
  })

  it('a dead node\'s delayed will: a survivor publishes it, with its properties, once the delay from the death has passed', async () => {
    const sub = keep(await v5(a.mqttPort, { clientId: `dsub-${id}` }))
    await sub.client.subscribeAsync([`dwill/${id}`, `dmark/${id}`], { qos: 1 })
    const victim = await v5(d.mqttPort, {
      clientId: `dvictim-${id}`,
      properties: { sessionExpiryInterval: 60 },
      will: { topic: `dwill/${id}`, payload: Buffer.from('node died'), qos: 1, retain: false, properties: { willDelayInterval: WILL_DELAY, ...WILL_PROPERTIES } }
    })
    victim.client.on('error', () => undefined)
    await d.kill()
    // a survivor found D dead and claims its wills: the delay counts from about now
    await Promise.race([a.waitForLog('claiming the wills of a dead node', 30000), b.waitForLog('claiming the wills of a dead node', 30000)])
    await sub.client.publishAsync(`dmark/${id}`, 'dead', { qos: 1 })
    await until(() => index(sub.got, `dwill/${id}`) >= 0, 30000, 'the dead node\'s will')
    assert.ok(index(sub.got, `dmark/${id}`) < index(sub.got, `dwill/${id}`), 'the will waited for its delay after the death')
    assert.deepEqual(messageProps(sub.got[index(sub.got, `dwill/${id}`)] as IPublishPacket), plain(WILL_PROPERTIES))
  })

  it('retained messages keep their properties on another node; the remaining expiry is sent; an expired one is not sent', async () => {
    const pub = keep(await v5(a.mqttPort, { clientId: `rpub-${id}` }))
    const props = { userProperties: { k: 'v' }, contentType: 'application/json', responseTopic: 'r/x', correlationData: Buffer.from('c1'), payloadFormatIndicator: true }
    await pub.client.publishAsync(`ret/${id}/kept`, '{"a":1}', { qos: 1, retain: true, properties: { ...props, messageExpiryInterval: 600 } })
    const expiresAt = Date.now() + 1000
    await pub.client.publishAsync(`ret/${id}/short`, 'short-lived', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
    const early = keep(await v5(b.mqttPort, { clientId: `rsub1-${id}` }))
    await early.client.subscribeAsync(`ret/${id}/kept`, { qos: 1 })
    await until(() => early.got.length === 1, 15000, 'the retained message')
    const got = early.got[0] as IPublishPacket
    assert.equal(got.retain, true)
    assert.deepEqual(messageProps(got), plain(props))
    const left = got.properties?.messageExpiryInterval ?? 0
    assert.ok(left > 0 && left <= 600, `the remaining interval is sent (${left})`)
    // the short-lived one's second passes; then a marker retained after it, in the same SUBSCRIBE
    await until(() => Date.now() > expiresAt + 200, 5000, 'the short expiry to pass')
    await pub.client.publishAsync(`ret/${id}/zmarker`, 'marker', { qos: 1, retain: true })
    const late = keep(await v5(b.mqttPort, { clientId: `rsub2-${id}` }))
    await late.client.subscribeAsync([`ret/${id}/short`, `ret/${id}/zmarker`], { qos: 1 })
    await until(() => index(late.got, `ret/${id}/zmarker`) >= 0, 15000, 'the retained marker')
    assert.equal(index(late.got, `ret/${id}/short`), -1, 'an expired retained message is not sent')
  })

  it('json and avro envelopes carry the properties to a plain consumer, and a backend\'s json properties reach a v5 subscriber', async () => {
    const pub = keep(await v5(a.mqttPort, { clientId: `epub-${id}` }))
    const properties = { userProperties: { a: ['1', '2'], b: '3' }, contentType: 'text/plain', payloadFormatIndicator: true, responseTopic: 'r/1', correlationData: Buffer.from([0, 1, 255]), messageExpiryInterval: 300 }
    await pub.client.publishAsync(`env/json/${id}`, 'j', { qos: 1, properties })
    await pub.client.publishAsync(`env/avro/${id}`, 'v', { qos: 1, properties })
    await until(() => records.some(r => r.topic === kt.json) && records.some(r => r.topic === kt.avro), 30000, 'the envelopes')
    const json = JSON.parse((records.find(r => r.topic === kt.json)?.message.value as Buffer).toString()) as Record<string, unknown>
    assert.deepEqual(json.properties, {
      user_properties: [['a', '1'], ['a', '2'], ['b', '3']], content_type: 'text/plain', payload_format_indicator: 1, response_topic: 'r/1', correlation_data: 'AAH/', message_expiry_interval: 300
    })
    const value = records.find(r => r.topic === kt.avro)?.message.value as Buffer
    const env = envelope.fromBuffer(value) as { properties: Record<string, string>; mqtt5_properties: Record<string, unknown> }
    assert.deepEqual(plain(env.properties), { a: '2', b: '3' })
    assert.deepEqual(plain(env.mqtt5_properties), plain({
      user_properties: [{ name: 'a', value: '1' }, { name: 'a', value: '2' }, { name: 'b', value: '3' }],
      content_type: 'text/plain', payload_format_indicator: 1, response_topic: 'r/1', correlation_data: Buffer.from([0, 1, 255]), message_expiry_interval: 300
    }))
    // a backend writes a json envelope with properties (no mqtt.* headers)
    const sub = keep(await v5(b.mqttPort, { clientId: `esub-${id}` }))
    await sub.client.subscribeAsync(`env/json/${id}/in`, { qos: 1 })
    await producer.send({
      topic: kt.json,
      messages: [{ key: `env/json/${id}/in`, value: JSON.stringify({ topic: `env/json/${id}/in`, payload: 'cmd', properties: { user_properties: [['x', 'y']], response_topic: 'back/here', correlation_data: 'AQI=', message_expiry_interval: 120 } }) }]
    })
    await until(() => sub.got.length === 1, 30000, 'the backend\'s message')
    const got = sub.got[0] as IPublishPacket
    assert.deepEqual(plain([got.payload.toString(), got.properties?.userProperties, got.properties?.responseTopic, got.properties?.correlationData]), plain(['cmd', { x: 'y' }, 'back/here', Buffer.from([1, 2])]))
    const left = got.properties?.messageExpiryInterval ?? 0
    assert.ok(left > 0 && left <= 120, `the remaining interval (${left})`)
  })

  it('Request Response Information: the CONNACK gives a per-client prefix when asked; a request/response round trip across two nodes', async () => {
    const requester = keep(await v5(a.mqttPort, { clientId: `req-${id}`, properties: { requestResponseInformation: true } }))
    assert.equal(requester.connack.properties?.responseInformation, `${RESPONSE_PREFIX}req-${id}/`)
    const plain = keep(await v5(a.mqttPort, { clientId: `noreq-${id}` }))
    assert.equal(plain.connack.properties?.responseInformation, undefined, 'not asked: not sent')
    const responder = keep(await v5(b.mqttPort, { clientId: `svc-${id}` }))
    responder.client.on('message', (_t, payload, packet) => {
      const p = packet.properties
      if (p?.responseTopic === undefined) return
      void responder.client.publishAsync(p.responseTopic, `answer to ${payload.toString()}`, { qos: 1, properties: { correlationData: p.correlationData } })
    })
    await responder.client.subscribeAsync(`svc/${id}/req`, { qos: 1 })
    const responseTopic = `${requester.connack.properties?.responseInformation ?? ''}svc`
    await requester.client.subscribeAsync(responseTopic, { qos: 1 })
    await requester.client.publishAsync(`svc/${id}/req`, 'ping', { qos: 1, properties: { responseTopic, correlationData: Buffer.from('corr-42') } })
    await until(() => requester.got.length === 1, 30000, 'the response')
    const response = requester.got[0] as IPublishPacket
    assert.deepEqual([response.topic, response.payload.toString(), response.properties?.correlationData], [responseTopic, 'answer to ping', Buffer.from('corr-42')])
  })

  it('Clean Start 0 with Session Expiry Interval 0 resumes the stored session (on another node), which then ends with the connection', async () => {
    const clientId = `cs0-${id}`
    const first = await v5(a.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } })
    await first.client.subscribeAsync(`cs/${id}`, { qos: 1 })
    await first.client.endAsync()
    const pub = keep(await v5(a.mqttPort, { clientId: `cspub-${id}` }))
    await pub.client.publishAsync(`cs/${id}`, 'while away', { qos: 1 })
    const resumed = await v5(b.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 0 } })
    assert.equal(resumed.connack.sessionPresent, true, 'the stored session is resumed')
    await until(() => index(resumed.got, `cs/${id}`, 'while away') >= 0, 30000, 'the message queued while away')
    await resumed.client.endAsync()
    await pub.client.publishAsync(`cs/${id}`, 'after the end', { qos: 1 })
    const again = keep(await v5(a.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 0 } }))
    assert.equal(again.connack.sessionPresent, false, 'the session ended with the connection that resumed it')
    await again.client.subscribeAsync(`csmark/${id}`, { qos: 1 })
    await pub.client.publishAsync(`csmark/${id}`, 'marker', { qos: 1 })
    await until(() => index(again.got, `csmark/${id}`) >= 0, 15000, 'the marker')
    assert.equal(index(again.got, `cs/${id}`), -1, 'nothing of the ended session is delivered')
  })
})
