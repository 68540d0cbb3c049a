import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { IConnackPacket, IConnectPacket, IPubackPacket, IPublishPacket, IPubrecPacket, ISubackPacket, Packet } from 'mqtt-packet'
import { until, untilAsync } from '../support/mqtt-client.js'
import { limitEvents } from '../support/node-http.js'
import { RawMqtt } from '../support/raw-mqtt.js'
import { groupSettled } from '../support/shared-group.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/*
 * MQTT 5 flow towards the client and the remaining reason codes (issue 17): Receive Maximum,
 * Maximum Packet Size and topic aliases on what the server sends, SUBACK 0x97, CONNACK 0x95,
 * PUBACK/PUBREC 0x99 and the codes of a record Kafka refused. Two edges on one Kafka: publishers
 * on A, subscribers on B. "Nothing arrived" is shown by a marker published after the action.
 */

/** kafkajs' ConfigResourceTypes.TOPIC (a TypeScript enum that its CommonJS build does not export by name). */
const TOPIC = 2
const MAX_PACKET_SIZE = 4096
const MAX_SUBSCRIPTIONS = 3

/** A raw MQTT 5 connection after a CONNECT with `properties`: its CONNACK. */
async function rawV5 (port: number, connect: Partial<IConnectPacket> & { clientId: string }): Promise<{ raw: RawMqtt; connack: IConnackPacket }> {
  const raw = await RawMqtt.open(port, 5)
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, ...connect })
  const connack = await raw.next(p => p.cmd === 'connack') as IConnackPacket
  return { raw, connack }
}

/** SUBSCRIBE on a raw client: its SUBACK. */
async function rawSubscribe (raw: RawMqtt, messageId: number, filters: string[], qos: 0 | 1 | 2 = 1): Promise<ISubackPacket> {
  raw.send({ cmd: 'subscribe', messageId, subscriptions: filters.map(topic => ({ topic, qos })) })
  return await raw.next(p => p.cmd === 'suback' && p.messageId === messageId) as ISubackPacket
}

/** An mqtt.js MQTT 5 client. */
async function v5 (port: number, opts: IClientOptions = {}): Promise<MqttClient> {
  return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10000, ...opts })
}

const payloadOf = (p: Packet): string => (p as IPublishPacket).payload.toString()

describe('MQTT 5 flow towards the client, and the remaining reason codes', () => {
  const topics = uniqueTopics('mqtt5flow')
  const id = randomUUID().slice(0, 6)
  let a: WharfProcess
  let b: WharfProcess
  const clients: MqttClient[] = []
  const raws: RawMqtt[] = []
  let pub: MqttClient

  before(async () => {
    const env = { WHARF_MQTT__MAX_PACKET_SIZE: String(MAX_PACKET_SIZE), WHARF_MQTT__MAX_SUBSCRIPTIONS: String(MAX_SUBSCRIPTIONS) }
    ;[a, b] = await Promise.all([
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `fa-${id}`, env }),
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `fb-${id}`, env })
    ])
    pub = await v5(a.mqttPort, { clientId: `pub-${id}` })
    clients.push(pub)
  })

  after(async () => {
    for (const r of raws) r.drop()
    await Promise.all(clients.map(c => c.endAsync(true)))
    await Promise.all([a, b].filter(n => n !== undefined).map(n => n.stop()))
  })

  it('Receive Maximum 2: two QoS 1 PUBLISHes in flight until the client acknowledges, then the rest from its session, none lost (publisher on A, subscriber on B)', async () => {
    const topic = `rm/${id}`
    const { raw, connack } = await rawV5(b.mqttPort, { clientId: `rm-${id}`, clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: 2 } })
    raws.push(raw)
    assert.equal(connack.reasonCode, 0)
    assert.deepEqual((await rawSubscribe(raw, 1, [topic])).granted, [1])
    const observer = await v5(b.mqttPort, { clientId: `rm-obs-${id}` })
    clients.push(observer)
    const seen: string[] = []
    observer.on('message', (_t, payload) => seen.push(payload.toString()))
    await observer.subscribeAsync(topic, { qos: 1 })

    const data: string[] = []
    let unacked: number[] = []
    let maxInFlight = 0
    let acking = false
    const ackAll = (): void => {
      for (const messageId of unacked.splice(0)) raw.send({ cmd: 'puback', messageId })
    }
    raw.onPacket(p => {
      if (p.cmd !== 'publish' || p.qos === 0) return
      data.push(payloadOf(p))
      unacked.push(p.messageId as number)
      maxInFlight = Math.max(maxInFlight, unacked.length)
      if (acking && unacked.length >= 2) ackAll()
    })
    const sent = Array.from({ length: 6 }, (_v, i) => `m${i + 1}`)
    for (const m of sent) await pub.publishAsync(topic, m, { qos: 1 })
    // the marker is in the same partition, after the six: once B delivered it, B handled all six
    await pub.publishAsync(topic, 'marker', { qos: 0 })
    await until(() => seen.includes('marker'), 20000, 'the marker at the observer on B')
    await until(() => data.length >= 2, 20000, 'the first two')
    assert.deepEqual(data, ['m1', 'm2'], 'exactly two QoS 1 PUBLISHes before any PUBACK')
    assert.ok(await limitEvents(b, 'inflight_full') >= 1, 'the session fell behind (counted)')

    acking = true
    ackAll()
    await until(() => data.length >= 6, 30000, 'the rest, from the session')
    assert.deepEqual(data, sent, 'every message, in order, none twice')
    assert.equal(maxInFlight, 2, 'never more than the client\'s Receive Maximum unacknowledged')
    unacked = []
    raw.disconnect()
  })

  it('Receive Maximum 1 on a clean session: the next QoS 1 message waits in its queue and goes out after the PUBACK with its properties', async () => {
    const topic = `rmq/${id}`
    const { raw } = await rawV5(b.mqttPort, { clientId: `rmq-${id}`, properties: { receiveMaximum: 1 } })
    raws.push(raw)
    assert.deepEqual((await rawSubscribe(raw, 1, [topic])).granted, [1])
    await pub.publishAsync(topic, 'q1', { qos: 1 })
    const q1 = await raw.next(p => p.cmd === 'publish') as IPublishPacket
    // q1 is not acknowledged: q2 has no room and waits in the clean session's queue
    await pub.publishAsync(topic, 'q2', { qos: 1, properties: { userProperties: { k: 'v' }, contentType: 'text/plain', messageExpiryInterval: 600 } })
    raw.send({ cmd: 'puback', messageId: q1.messageId as number })
    const q2 = await raw.next(p => p.cmd === 'publish') as IPublishPacket
    assert.equal(q2.payload.toString(), 'q2')
    assert.deepEqual({ ...q2.properties?.userProperties }, { k: 'v' })
    assert.equal(q2.properties?.contentType, 'text/plain')
    const left = q2.properties?.messageExpiryInterval ?? 0
    assert.ok(left > 0 && left <= 600, `what is left of the expiry interval (${left})`)
    raw.send({ cmd: 'puback', messageId: q2.messageId as number })
    raw.disconnect()
  })

  it('Receive Maximum 1 on a shared-subscription member: a backlog handed over in one batch goes out one at a time, each after the previous PUBACK', async () => {
    const topic = `rmsh/${id}`
    const group = `g${id}`
    const filter = `$share/${group}/${topic}`
    const member = async (clientId: string): Promise<RawMqtt> => {
      const { raw } = await rawV5(b.mqttPort, { clientId, properties: { receiveMaximum: 1 } })
      raws.push(raw)
      assert.deepEqual((await rawSubscribe(raw, 1, [filter])).granted, [1])
      return raw
    }
    const first = await member(`rmsh-1-${id}`)
    await groupSettled([b], group)
    // the group commits a position once a member acknowledged (the group's first fetch starts at the end: repeat until one arrives)
    let m0: IPublishPacket | undefined
    for (let i = 0; i < 40 && m0 === undefined; i++) {
      await pub.publishAsync(topic, 'm0', { qos: 1 })
      m0 = await first.next(p => p.cmd === 'publish', 500).catch(() => undefined) as IPublishPacket | undefined
    }
    assert.ok(m0 !== undefined, 'the group delivers')
    first.send({ cmd: 'puback', messageId: m0.messageId as number })
    first.disconnect()
    await first.closed
    const backlog = ['m1', 'm2', 'm3']
    for (const m of backlog) await pub.publishAsync(topic, m, { qos: 1 })
    // the next member gets the backlog from the group's position: one Kafka batch, dispatched at once
    const next = await member(`rmsh-2-${id}`)
    const got: string[] = []
    while (got.length < backlog.length) {
      const p = await next.next(q => q.cmd === 'publish', 30000) as IPublishPacket
      // a warm-up message the first member left unacknowledged comes again, first: not part of the backlog
      if (p.payload.toString() !== 'm0') got.push(p.payload.toString())
      // a ping's answer comes after anything written before it: nothing else was in flight
      next.send({ cmd: 'pingreq' })
      await next.next(q => q.cmd === 'pingresp')
      assert.equal(next.packets.filter(q => q.cmd === 'publish').length, 0, `only one unacknowledged PUBLISH (after ${p.payload.toString()})`)
      next.send({ cmd: 'puback', messageId: p.messageId as number })
    }
    assert.deepEqual(got, backlog)
    next.disconnect()
  })

  it('Maximum Packet Size 100: a 500-byte delivery is not sent and is counted, a later marker arrives; a persistent session is not held up by it, live or replayed', async () => {
    const topic = `mps/${id}`
    const before = await limitEvents(b, 'delivery_too_large')
    const { raw: clean } = await rawV5(b.mqttPort, { clientId: `mps-c-${id}`, properties: { maximumPacketSize: 100 } })
    const { raw: persistent } = await rawV5(b.mqttPort, { clientId: `mps-p-${id}`, clean: false, properties: { maximumPacketSize: 100, sessionExpiryInterval: 300 } })
    raws.push(clean, persistent)
    for (const r of [clean, persistent]) {
      assert.deepEqual((await rawSubscribe(r, 1, [topic])).granted, [1])
      r.onPacket(p => { if (p.cmd === 'publish' && p.qos > 0) r.send({ cmd: 'puback', messageId: p.messageId as number }) })
    }
    await pub.publishAsync(topic, Buffer.alloc(500, 0x61), { qos: 1 })
    await pub.publishAsync(topic, 'marker', { qos: 1 })
    for (const r of [clean, persistent]) {
      const first = await r.next(p => p.cmd === 'publish')
      assert.equal(payloadOf(first), 'marker', 'the marker is the first (and only) PUBLISH')
    }
    assert.ok(await limitEvents(b, 'delivery_too_large') >= before + 2, 'one per subscriber, counted')

    // away: the large one and a marker wait in Kafka; on its return the session skips the large one
    persistent.drop()
    await persistent.closed
    await pub.publishAsync(topic, Buffer.alloc(500, 0x62), { qos: 1 })
    await pub.publishAsync(topic, 'marker-2', { qos: 1 })
    const { raw: back, connack } = await rawV5(b.mqttPort, { clientId: `mps-p-${id}`, clean: false, properties: { maximumPacketSize: 100, sessionExpiryInterval: 300 } })
    raws.push(back)
    assert.equal(connack.sessionPresent, true)
    const replayed = await back.next(p => p.cmd === 'publish')
    assert.equal(payloadOf(replayed), 'marker-2', 'the replay skipped the large message')
    back.send({ cmd: 'puback', messageId: (replayed as IPublishPacket).messageId as number })
    assert.equal(payloadOf(await clean.next(p => p.cmd === 'publish')), 'marker-2', 'the clean session: the marker, not the large one')
    back.disconnect()
    clean.disconnect()
  })

  it('topic aliases towards a v5 client: the first PUBLISH of a topic carries topic and alias, the next ones an empty topic; mqtt.js resolves them; none for a client without a Topic Alias Maximum, none for 3.1.1; a new connection starts over', async () => {
    const base = `ta/${id}`
    const { raw: aliased } = await rawV5(b.mqttPort, { clientId: `ta-r-${id}`, properties: { topicAliasMaximum: 1 } })
    const { raw: plain } = await rawV5(b.mqttPort, { clientId: `ta-p-${id}` })
    const { client: v4 } = await RawMqtt.connect(b.mqttPort, `ta-4-${id}`, true, 4)
    raws.push(aliased, plain, v4)
    for (const r of [aliased, plain, v4]) await rawSubscribe(r, 1, [`${base}/#`], 0)
    const js = await v5(b.mqttPort, { clientId: `ta-js-${id}`, properties: { topicAliasMaximum: 5 } })
    clients.push(js)
    const jsGot: Array<[string, string]> = []
    js.on('message', (t, payload) => jsGot.push([t, payload.toString()]))
    await js.subscribeAsync(`${base}/#`, { qos: 0 })

    // one partition: one MQTT topic; `y` takes the only alias of the raw client in turn
    const sends: Array<[string, string]> = [[`${base}/x`, '1'], [`${base}/x`, '2'], [`${base}/x`, '3']]
    for (const [t, m] of sends) await pub.publishAsync(t, m, { qos: 1 })
    await until(() => jsGot.length >= 3, 20000, 'mqtt.js got the three')
    assert.deepEqual(jsGot, sends, 'mqtt.js resolved every alias to its topic')

    const got = await Promise.all([0, 1, 2].map(async () => await aliased.next(p => p.cmd === 'publish') as IPublishPacket))
    assert.equal(got[0]?.topic, `${base}/x`)
    assert.equal(got[0]?.properties?.topicAlias, 1)
    for (const p of got.slice(1)) {
      assert.equal(p.topic, '', 'a later PUBLISH carries an empty topic')
      assert.equal(p.properties?.topicAlias, 1)
    }
    assert.deepEqual(got.map(p => p.payload.toString()), ['1', '2', '3'])
    // a second topic re-maps the only alias: it carries its topic
    await pub.publishAsync(`${base}/y`, '4', { qos: 1 })
    const y = await aliased.next(p => p.cmd === 'publish') as IPublishPacket
    assert.equal(y.topic, `${base}/y`)
    assert.equal(y.properties?.topicAlias, 1)

    for (const r of [plain, v4]) {
      const ps = await Promise.all([0, 1, 2, 3].map(async () => await r.next(p => p.cmd === 'publish') as IPublishPacket))
      assert.deepEqual(ps.map(p => p.topic), [`${base}/x`, `${base}/x`, `${base}/x`, `${base}/y`], 'no aliases without a Topic Alias Maximum, none for 3.1.1')
      assert.ok(ps.every(p => p.properties?.topicAlias === undefined))
    }

    // the aliases belong to the connection: a new one starts with an empty table
    aliased.disconnect()
    const { raw: again } = await rawV5(b.mqttPort, { clientId: `ta-r-${id}`, properties: { topicAliasMaximum: 1 } })
    raws.push(again)
    await rawSubscribe(again, 1, [`${base}/#`], 0)
    await pub.publishAsync(`${base}/y`, '5', { qos: 1 })
    const fresh = await again.next(p => p.cmd === 'publish') as IPublishPacket
    assert.equal(fresh.topic, `${base}/y`, 'the first PUBLISH on the new connection carries its topic')
    assert.equal(fresh.properties?.topicAlias, 1)
    again.disconnect()
  })

  it('topic aliases from a v5 client: a PUBLISH that sets an alias, then ones with an empty topic and the alias, all reach the subscriber under the topic; an unknown alias is refused', async () => {
    const topic = `tain/${id}/t`
    const sub = await v5(b.mqttPort, { clientId: `tain-s-${id}` })
    clients.push(sub)
    const got: Array<[string, string]> = []
    sub.on('message', (t, payload) => got.push([t, payload.toString()]))
    await sub.subscribeAsync(`tain/${id}/#`, { qos: 1 })
    const { raw } = await rawV5(a.mqttPort, { clientId: `tain-p-${id}` })
    raws.push(raw)
    raw.send({ cmd: 'publish', topic, payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 3 } })
    raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 3 } })
    raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('3'), qos: 1, messageId: 3, retain: false, dup: false, properties: { topicAlias: 3 } })
    await raw.next(p => p.cmd === 'puback' && p.messageId === 3)
    await until(() => got.length >= 3, 20000, 'the three at the subscriber')
    assert.deepEqual(got, [[topic, '1'], [topic, '2'], [topic, '3']])
    // an alias never set: a protocol error, the connection ends
    raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('4'), qos: 1, messageId: 4, retain: false, dup: false, properties: { topicAlias: 4 } })
    await raw.closed
  })

  it('SUBACK 0x97 (quota exceeded) for a filter past mqtt.max_subscriptions; 0x80 for 3.1.1', async () => {
    const { raw } = await rawV5(b.mqttPort, { clientId: `sq-${id}` })
    raws.push(raw)
    const filters = Array.from({ length: MAX_SUBSCRIPTIONS + 1 }, (_v, i) => `sq/${id}/${i}`)
    // a repeated filter is one subscription (aedes merges it): the SUBACK has one code per distinct filter
    assert.deepEqual((await rawSubscribe(raw, 7, [...filters.slice(0, 2), filters[0] as string, ...filters.slice(2)])).granted, [1, 1, 1, 0x97])
    assert.deepEqual((await rawSubscribe(raw, 8, [`sq/${id}/more`])).granted, [0x97])
    raw.disconnect()
    const { client: v4 } = await RawMqtt.connect(b.mqttPort, `sq4-${id}`, true, 4)
    raws.push(v4)
    v4.send({ cmd: 'subscribe', messageId: 2, subscriptions: filters.map(topic => ({ topic, qos: 1 as const })) })
    const suback = await v4.next(p => p.cmd === 'suback') as ISubackPacket
    assert.deepEqual(suback.granted, [1, 1, 1, 0x80])
    assert.ok(await limitEvents(b, 'max_subscriptions') >= 3)
    v4.disconnect()
  })

  it('CONNACK 0x95 for an MQTT 5 CONNECT larger than the maximum packet size (a 3.1.1 one is closed)', async () => {
    const before = await limitEvents(a, 'packet_too_large')
    const will = { topic: `will/${id}`, payload: Buffer.alloc(MAX_PACKET_SIZE + 100, 1), qos: 0 as const, retain: false }
    const { raw, connack } = await rawV5(a.mqttPort, { clientId: `big-${id}`, will })
    assert.equal(connack.reasonCode, 0x95)
    await raw.closed
    const v4 = await RawMqtt.open(a.mqttPort, 4)
    v4.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `big4-${id}`, clean: true, keepalive: 60, will })
    await v4.closed
    assert.equal(v4.packets.length, 0, 'no CONNACK in 3.1.1 for it')
    assert.ok(await limitEvents(a, 'packet_too_large') >= before + 2)
  })

  it('PUBACK/PUBREC 0x99 for a PUBLISH whose Payload Format Indicator says UTF-8 and whose payload is not; QoS 0: dropped and counted; the connection stays', async () => {
    const topic = `pfi/${id}`
    const sub = await v5(b.mqttPort, { clientId: `pfi-sub-${id}` })
    clients.push(sub)
    const got: string[] = []
    sub.on('message', (_t, payload) => got.push(payload.toString('hex')))
    await sub.subscribeAsync(topic, { qos: 1 })
    const before = await limitEvents(a, 'payload_format_invalid')
    const { raw } = await rawV5(a.mqttPort, { clientId: `pfi-${id}` })
    raws.push(raw)
    const bad = Buffer.from([0xc3, 0x28, 0xff])
    const properties = { payloadFormatIndicator: true }
    raw.send({ cmd: 'publish', topic, payload: bad, qos: 1, messageId: 11, retain: false, dup: false, properties })
    const puback = await raw.next(p => p.cmd === 'puback' && p.messageId === 11) as IPubackPacket
    assert.equal(puback.reasonCode, 0x99)
    raw.send({ cmd: 'publish', topic, payload: bad, qos: 2, messageId: 12, retain: false, dup: false, properties })
    const pubrec = await raw.next(p => p.cmd === 'pubrec' && p.messageId === 12) as IPubrecPacket
    assert.equal(pubrec.reasonCode, 0x99)
    raw.send({ cmd: 'publish', topic, payload: bad, qos: 0, retain: false, dup: false, properties })
    // valid UTF-8 with the indicator, then the marker: both acknowledged with 0 on the same connection
    raw.send({ cmd: 'publish', topic, payload: Buffer.from('żółw'), qos: 1, messageId: 13, retain: false, dup: false, properties })
    assert.equal((await raw.next(p => p.cmd === 'puback' && p.messageId === 13) as IPubackPacket).reasonCode ?? 0, 0)
    raw.send({ cmd: 'publish', topic, payload: Buffer.from('marker'), qos: 1, messageId: 14, retain: false, dup: false })
    await raw.next(p => p.cmd === 'puback' && p.messageId === 14)
    await until(() => got.includes(Buffer.from('marker').toString('hex')), 20000, 'the marker on B')
    assert.deepEqual(got, [Buffer.from('żółw').toString('hex'), Buffer.from('marker').toString('hex')], 'none of the invalid ones was delivered')
    assert.ok(await limitEvents(a, 'payload_format_invalid') >= before + 3)
    raw.disconnect()
  })

  it('a record Kafka refuses for good: PUBACK/PUBREC 0x97 (too large) for a v5 client, which stays connected; a Kafka outage still gets no acknowledgement (kafka-outage.test.ts)', async () => {
    const admin = new Kafka({ clientId: 'mqtt5-flow-test', brokers: testBrokers(), logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    try {
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: TOPIC, name: topics.messages, configEntries: [{ name: 'max.message.bytes', value: '1500' }] }] })
      await untilAsync(async () => {
        const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC, name: topics.messages, configNames: ['max.message.bytes'] }] })
        return resources[0]?.configEntries[0]?.configValue === '1500'
      }, 10000, 'the topic\'s max.message.bytes changed')
    } finally {
      await admin.disconnect()
    }
    const topic = `kr/${id}`
    const { raw } = await rawV5(a.mqttPort, { clientId: `kr-${id}` })
    raws.push(raw)
    const big = Buffer.alloc(3000, 7)
    raw.send({ cmd: 'publish', topic, payload: big, qos: 1, messageId: 21, retain: false, dup: false })
    assert.equal((await raw.next(p => p.cmd === 'puback' && p.messageId === 21, 30000) as IPubackPacket).reasonCode, 0x97)
    raw.send({ cmd: 'publish', topic, payload: big, qos: 2, messageId: 22, retain: false, dup: false })
    assert.equal((await raw.next(p => p.cmd === 'pubrec' && p.messageId === 22, 30000) as IPubrecPacket).reasonCode, 0x97)
    raw.send({ cmd: 'publish', topic, payload: Buffer.from('small'), qos: 1, messageId: 23, retain: false, dup: false })
    assert.equal((await raw.next(p => p.cmd === 'puback' && p.messageId === 23, 30000) as IPubackPacket).reasonCode ?? 0, 0, 'the connection goes on')
    assert.ok(await limitEvents(a, 'kafka_rejected') >= 2)
    raw.disconnect()
  })
})
