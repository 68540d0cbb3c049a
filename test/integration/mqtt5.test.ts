import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel, Partitioners, type KafkaMessage } from 'kafkajs'
import mqtt, { type MqttClient } from 'mqtt'
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet'
import { collect, until } from '../support/mqtt-client.js'
import { RawMqtt } from '../support/raw-mqtt.js'
import { limitEvents } from '../support/node-http.js'
import { groupSettled } from '../support/shared-group.js'
import { wharf } from '../support/wharf-cli.js'
import { testBrokers, topicsEnv, uniqueTopics, WharfProcess } from '../support/wharf-process.js'
import { v5 } from '../support/mqtt5-client.js'

/*
 * MQTT 5 end to end (issue 17): two anonymous edges on one Kafka (A, B) with a capped Session
 * Expiry Interval and a Server Keep Alive, and a third (C) that requires built-in users, for the
 * CONNACK reason codes. Clients are mqtt.js with protocolVersion 5 beside 3.1.1 ones, and raw
 * MQTT 5 packets where mqtt.js hides the answer. "Nothing arrived" is shown by a marker published
 * after the action arriving first.
 */

const SESSION_CAP = 600
const KEEPALIVE_CAP = 30

/** The CONNACK a raw MQTT 5 CONNECT gets. */
async function rawConnackV5 (port: number, connect: { clientId: string; username?: string; password?: string }): Promise<IConnackPacket> {
  const raw = await RawMqtt.open(port, 5)
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, ...connect, password: connect.password === undefined ? undefined : Buffer.from(connect.password) })
  const connack = await raw.next(p => p.cmd === 'connack') as IConnackPacket
  await raw.closed
  return connack
}

describe('MQTT 5 on a cluster of edges', () => {
  const topics = uniqueTopics('mqtt5')
  const id = randomUUID().slice(0, 6)
  const dir = mkdtempSync(join(tmpdir(), 'wharf-mqtt5-'))
  let a: WharfProcess
  let b: WharfProcess
  let c: WharfProcess
  const clients: MqttClient[] = []
  const keep = <T extends { client: MqttClient }>(x: T): T => { clients.push(x.client); return x }

  before(async () => {
    const env = { WHARF_MQTT__SESSION_EXPIRY_INTERVAL: String(SESSION_CAP), WHARF_MQTT__SERVER_KEEPALIVE: String(KEEPALIVE_CAP) }
    const authConfig = join(dir, 'auth.yaml')
    const aclFile = join(dir, 'acl.yaml')
    writeFileSync(authConfig, [
      'allow_anonymous: false',
      'authentication:',
      '  chain: [built_in_database]',
      'authorization:',
      `  file: ${aclFile}`,
      '  no_match: deny',
      '  deny_action: ignore',
      'flapping_detect:',
      '  enable: false',
      'mqtt:',
      '  reason_strings: true'
    ].join('\n') + '\n')
    writeFileSync(aclFile, ['- permission: allow', '  action: all', '  topics: ["allowed/#"]'].join('\n') + '\n')
    ;[a, b, c] = await Promise.all([
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `a-${id}`, env }),
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `b-${id}`, env }),
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `c-${id}`, args: ['--config', authConfig] })
    ])
  })

  after(async () => {
    await Promise.all(clients.map(cl => cl.endAsync(true)))
    await Promise.all([a, b, c].filter(n => n !== undefined).map(n => n.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('CONNACK: Wharf\'s capabilities, the capped Session Expiry Interval, Server Keep Alive and an assigned client id', async () => {
    const { connack } = keep(await v5(a.mqttPort, { clientId: '', keepalive: 0, properties: { sessionExpiryInterval: 3600 } }))
    assert.equal(connack.reasonCode, 0)
    const p = connack.properties ?? {}
    assert.equal(p.sharedSubscriptionAvailable, true, 'shared subscriptions are cluster-wide')
    assert.equal(p.retainAvailable, true)
    assert.equal(p.wildcardSubscriptionAvailable, true)
    assert.equal(p.subscriptionIdentifiersAvailable, true)
    assert.equal(p.receiveMaximum, 1000, 'mqtt.receive_maximum')
    assert.equal(p.topicAliasMaximum, 65535, 'mqtt.max_topic_alias')
    assert.equal(p.sessionExpiryInterval, SESSION_CAP, 'capped by mqtt.session_expiry_interval')
    assert.equal(p.serverKeepAlive, KEEPALIVE_CAP, 'keep-alive 0 asked, the server\'s imposed')
    assert.match(p.assignedClientIdentifier ?? '', /.+/, 'an empty client id gets one assigned')
    assert.equal(p.maximumQoS, undefined, 'absent: QoS 2 is supported')
  })

  it('a 3.1.1 client on the same listener gets a 3.1.1 CONNACK', async () => {
    const raw = await RawMqtt.open(a.mqttPort, 4)
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `v4-${id}`, clean: true, keepalive: 60 })
    const connack = await raw.next(p => p.cmd === 'connack') as IConnackPacket
    assert.equal(connack.returnCode, 0)
    assert.equal(connack.properties, undefined)
    raw.drop()
  })

  it('CONNACK reason codes: bad credentials 0x86, not authorized 0x87, banned 0x8A, client id not valid 0x85, with reason strings', async () => {
    const cliEnv = { WHARF_KAFKA__BROKERS: testBrokers().join(','), ...topicsEnv(topics) }
    await wharf(['users', 'add', `u-${id}`, '--password-stdin'], { env: cliEnv, input: 'right-password' })
    await wharf(['banned', 'add', 'clientid', `bad-${id}`, '--duration', '1h', '--reason', 'test'], { env: cliEnv })
    const wrong = await rawConnackV5(c.mqttPort, { clientId: `w-${id}`, username: `u-${id}`, password: 'wrong' })
    assert.equal(wrong.reasonCode, 0x86)
    assert.equal(wrong.properties?.reasonString, 'bad_credentials')
    assert.equal((await rawConnackV5(c.mqttPort, { clientId: `anon-${id}` })).reasonCode, 0x87, 'anonymous where it is not allowed')
    // the ban reaches node C through the banned topic
    let banned: IConnackPacket | undefined
    await until(() => banned?.reasonCode === 0x8A, 20000, 'the ban').catch(() => undefined)
    for (let i = 0; i < 40 && banned?.reasonCode !== 0x8A; i++) {
      banned = await rawConnackV5(c.mqttPort, { clientId: `bad-${id}`, username: `u-${id}`, password: 'right-password' })
      if (banned.reasonCode !== 0x8A) await new Promise(resolve => setTimeout(resolve, 250))
    }
    assert.equal(banned?.reasonCode, 0x8A)
    assert.equal((await rawConnackV5(c.mqttPort, { clientId: 'x'.repeat(300), username: `u-${id}`, password: 'right-password' })).reasonCode, 0x85, 'longer than mqtt.max_client_id_length')
    const ok = keep(await v5(c.mqttPort, { clientId: `ok-${id}`, username: `u-${id}`, password: 'right-password' }))
    assert.equal(ok.connack.reasonCode, 0)
  })

  it('sessions across nodes: a Session Expiry Interval keeps a v5 session, Clean Start discards it, expiry 0 keeps none', async () => {
    const clientId = `s5-${id}`
    const topic = `s5/${id}`
    const first = keep(await v5(a.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }))
    assert.equal(first.connack.sessionPresent, false)
    await first.client.subscribeAsync(topic, { qos: 1 })
    await first.client.endAsync()
    const v4 = await mqtt.connectAsync(b.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `pub-${id}` })
    clients.push(v4)
    await v4.publishAsync(topic, 'while-away', { qos: 1 })
    const back = keep(await v5(b.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }))
    assert.equal(back.connack.sessionPresent, true, 'resumed on the other node')
    await until(() => back.got.some(m => m.payload.toString() === 'while-away'), 20000, 'the message published while away')
    await back.client.endAsync()
    await v4.publishAsync(topic, 'before-clean-start', { qos: 1 })
    const fresh = keep(await v5(a.mqttPort, { clientId, clean: true, properties: { sessionExpiryInterval: 300 } }))
    assert.equal(fresh.connack.sessionPresent, false, 'Clean Start')
    await fresh.client.subscribeAsync(topic, { qos: 1 })
    await v4.publishAsync(topic, 'marker', { qos: 1 })
    await until(() => fresh.got.some(m => m.payload.toString() === 'marker'), 20000, 'the marker')
    assert.ok(!fresh.got.some(m => m.payload.toString() === 'before-clean-start'), 'the discarded session owed nothing')
    await fresh.client.endAsync()
    const ending = keep(await v5(b.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }))
    assert.equal(ending.connack.sessionPresent, true)
    await ending.client.endAsync(false, { properties: { sessionExpiryInterval: 0 } })
    const ended = keep(await v5(a.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }))
    assert.equal(ended.connack.sessionPresent, false, 'the DISCONNECT set the Session Expiry Interval to 0: the session ended with it')
    await ended.client.endAsync()
    const none = keep(await v5(b.mqttPort, { clientId, clean: false }))
    await none.client.subscribeAsync(topic, { qos: 1 })
    await none.client.endAsync()
    const after = keep(await v5(a.mqttPort, { clientId, clean: false }))
    assert.equal(after.connack.sessionPresent, false, 'a connection with Session Expiry Interval 0 leaves no session behind')
  })
  it('Session Present 1 for a resumed session that has no subscriptions, v5 and 3.1.1, across nodes [MQTT-3.2.2-2]', async () => {
    const clientId = `nosubs5-${id}`
    const first = keep(await v5(a.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }))
    assert.equal(first.connack.sessionPresent, false)
    await first.client.endAsync()
    const back = keep(await v5(b.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 300 } }))
    assert.equal(back.connack.sessionPresent, true, 'the session exists, without subscriptions')
    const v4Id = `nosubs4-${id}`
    const v4 = await mqtt.connectAsync(a.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: v4Id, clean: false })
    await v4.endAsync()
    const v4back = mqtt.connect(b.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: v4Id, clean: false })
    clients.push(v4back)
    const connack = await new Promise<IConnackPacket>((resolve, reject) => { v4back.once('connect', resolve); v4back.once('error', reject) })
    assert.equal(connack.sessionPresent, true, '3.1.1: the stored session was resumed')
  })

  it('MQTT 5 allows a password without a user name: a CONNACK, not a closed connection (§3.1.2.9)', async () => {
    // mqtt-packet will not generate it: the bytes by hand (password flag 0x40, Clean Start 0x02)
    const passwordOnly = async (port: number, clientId: string): Promise<IConnackPacket> => {
      const str = (x: string): Buffer => Buffer.concat([Buffer.from([0, Buffer.byteLength(x)]), Buffer.from(x)])
      const body = Buffer.concat([str('MQTT'), Buffer.from([5, 0x42, 0, 60, 0]), str(clientId), str('token')])
      const raw = await RawMqtt.open(port, 5)
      raw.sendBytes(Buffer.concat([Buffer.from([0x10, body.length]), body]))
      return await raw.next(p => p.cmd === 'connack') as IConnackPacket
    }
    const anonymous = await passwordOnly(a.mqttPort, `pwonly-a-${id}`)
    assert.equal(anonymous.reasonCode, 0, 'anonymous allowed on A')
    const refused = await passwordOnly(c.mqttPort, `pwonly-c-${id}`)
    assert.ok(refused.reasonCode === 0x86 || refused.reasonCode === 0x87, `refused with a reason code (${refused.reasonCode})`)
  })

  it('properties through Kafka: a v5 publisher on A, a v5 and a 3.1.1 subscriber on B, a plain Kafka consumer reading the headers', async () => {
    const topic = `props/${id}`
    const sub5 = keep(await v5(b.mqttPort, { clientId: `p-sub5-${id}` }))
    await sub5.client.subscribeAsync(topic, { qos: 1 })
    const sub4 = await mqtt.connectAsync(b.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `p-sub4-${id}` })
    clients.push(sub4)
    const got4 = collect(sub4)
    await sub4.subscribeAsync(topic, { qos: 1 })
    const pub = keep(await v5(a.mqttPort, { clientId: `p-pub-${id}` }))
    const properties = {
      userProperties: { site: 'north', tag: ['a', 'b'] },
      contentType: 'application/json',
      payloadFormatIndicator: true,
      responseTopic: `replies/${id}`,
      correlationData: Buffer.from([1, 2, 3]),
      messageExpiryInterval: 300
    }
    await pub.client.publishAsync(topic, '{"t":21}', { qos: 1, properties })
    await until(() => sub5.got.length > 0 && got4.length > 0, 20000, 'both subscribers')
    const m = sub5.got[0] as IPublishPacket
    assert.deepEqual({ ...m.properties?.userProperties }, { site: 'north', tag: ['a', 'b'] })
    assert.equal(m.properties?.contentType, 'application/json')
    assert.equal(m.properties?.payloadFormatIndicator, true)
    assert.equal(m.properties?.responseTopic, `replies/${id}`)
    assert.deepEqual(m.properties?.correlationData, Buffer.from([1, 2, 3]))
    const left = m.properties?.messageExpiryInterval ?? 0
    assert.ok(left > 0 && left <= 300, `the remaining interval (${left})`)
    assert.equal(got4[0]?.payload, '{"t":21}', 'the 3.1.1 subscriber gets the message without properties')

    const kafka = new Kafka({ clientId: `plain-${id}`, brokers: testBrokers(), logLevel: logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId: `plain-${id}` })
    await consumer.connect()
    const records: KafkaMessage[] = []
    try {
      await consumer.subscribe({ topic: topics.messages, fromBeginning: true })
      await consumer.run({ eachMessage: async ({ message }) => { records.push(message) } })
      await until(() => records.some(r => r.value?.toString() === '{"t":21}'), 30000, 'the record at a plain consumer')
    } finally {
      await consumer.disconnect()
    }
    const h = (records.find(r => r.value?.toString() === '{"t":21}') as KafkaMessage).headers ?? {}
    const text = (name: string): unknown => { const v = h[name]; return Array.isArray(v) ? v.map(x => x.toString()) : v?.toString() }
    assert.equal(text('mqtt.user.site'), 'north')
    assert.deepEqual(text('mqtt.user.tag'), ['a', 'b'])
    assert.equal(text('mqtt.content_type'), 'application/json')
    assert.equal(text('mqtt.payload_format_indicator'), '1')
    assert.equal(text('mqtt.response_topic'), `replies/${id}`)
    assert.deepEqual(h['mqtt.correlation_data'], Buffer.from([1, 2, 3]))
    assert.equal(text('mqtt.message_expiry_interval'), '300')
  })

  it('a backend\'s record with property headers reaches v5 subscribers as properties; an expired one reaches nobody, live or on replay', async () => {
    const topic = `backend/${id}`
    const kafka = new Kafka({ clientId: `backend-${id}`, brokers: testBrokers(), logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    const record = (value: string, headers: Record<string, string | string[]>, timestamp = Date.now()) =>
      ({ key: topic, value, timestamp: String(timestamp), headers: { 'mqtt.topic': topic, 'mqtt.qos': '1', ...headers } })
    try {
      const live = keep(await v5(a.mqttPort, { clientId: `b-live-${id}` }))
      await live.client.subscribeAsync(topic, { qos: 1 })
      const away = keep(await v5(b.mqttPort, { clientId: `b-away-${id}`, clean: false, properties: { sessionExpiryInterval: 300 } }))
      await away.client.subscribeAsync(topic, { qos: 1 })
      await away.client.endAsync()
      const hourAgo = Date.now() - 3600_000
      await producer.send({
        topic: topics.messages,
        messages: [
          record('from-backend', { 'mqtt.user.origin': 'billing', 'mqtt.content_type': 'text/plain', 'mqtt.message_expiry_interval': '600' }),
          record('expired', { 'mqtt.message_expiry_interval': '60' }, hourAgo),
          record('marker', {})
        ]
      })
      await until(() => live.got.some(m => m.payload.toString() === 'marker'), 20000, 'the marker, live')
      assert.deepEqual(live.got.map(m => m.payload.toString()), ['from-backend', 'marker'], 'the expired record is not delivered')
      const first = live.got[0] as IPublishPacket
      assert.deepEqual({ ...first.properties?.userProperties }, { origin: 'billing' })
      assert.equal(first.properties?.contentType, 'text/plain')
      assert.ok((first.properties?.messageExpiryInterval ?? 0) <= 600)
      const back = keep(await v5(a.mqttPort, { clientId: `b-away-${id}`, clean: false, properties: { sessionExpiryInterval: 300 } }))
      assert.equal(back.connack.sessionPresent, true)
      await until(() => back.got.some(m => m.payload.toString() === 'marker'), 20000, 'the marker, on replay')
      assert.deepEqual(back.got.map(m => m.payload.toString()), ['from-backend', 'marker'], 'replay skips the expired record')
      assert.deepEqual({ ...back.got[0]?.properties?.userProperties }, { origin: 'billing' })
    } finally {
      await producer.disconnect()
    }
  })
  it('$share from v5 clients on two nodes and a 3.1.1 member: each message once; SUBACK codes per filter (granted, 0x8F)', async () => {
    const group = `g-${id}`
    const topic = `jobs/${id}`
    const m1 = keep(await v5(a.mqttPort, { clientId: `sh1-${id}` }))
    const m2 = keep(await v5(b.mqttPort, { clientId: `sh2-${id}` }))
    // mqtt.js refuses invalid filters itself: a raw MQTT 5 SUBSCRIBE
    const raw = await RawMqtt.open(a.mqttPort, 5)
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `sh-raw-${id}`, clean: true, keepalive: 60 })
    await raw.next(p => p.cmd === 'connack')
    raw.send({ cmd: 'subscribe', messageId: 5, subscriptions: [`$share/${group}/other/#`, '$share/no-filter', 'a/#/b', `plain/${id}/+`].map(t => ({ topic: t, qos: 1 as const })) })
    const suback = await raw.next(p => p.cmd === 'suback')
    assert.deepEqual(suback.cmd === 'suback' && suback.granted, [1, 0x8F, 0x8F, 1])
    raw.drop()
    assert.equal((await m1.client.subscribeAsync(`$share/${group}/${topic}/#`, { qos: 1 }))[0]?.qos, 1, 'not 0x9E')
    assert.equal((await m2.client.subscribeAsync(`$share/${group}/${topic}/#`, { qos: 1 }))[0]?.qos, 1, 'not 0x9E')
    const m3 = await mqtt.connectAsync(a.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `sh3-${id}` })
    clients.push(m3)
    const got3 = collect(m3)
    await m3.subscribeAsync(`$share/${group}/${topic}/#`, { qos: 1 })
    await groupSettled([a, b], group)
    const pub = keep(await v5(b.mqttPort, { clientId: `sh-pub-${id}` }))
    const n = 30
    for (let i = 0; i < n; i++) await pub.client.publishAsync(`${topic}/${i}`, `m${i}`, { qos: 1 })
    const all = (): string[] => [...m1.got.map(m => m.payload.toString()), ...m2.got.map(m => m.payload.toString()), ...got3.map(m => m.payload)]
    await until(() => all().length >= n, 30000, 'every shared message').catch(err => { throw new Error(`${String(err)}: got ${all().length} (${m1.got.length}/${m2.got.length}/${got3.length})`) })
    assert.deepEqual(all().sort(), Array.from({ length: n }, (_, i) => `m${i}`).sort(), 'each message exactly once across the group')
    await m1.client.unsubscribeAsync(`$share/${group}/${topic}/#`)
  })

  it('PUBACK 0x87 for a PUBLISH the ACL denies (the connection stays); SUBACK 0x87 for a filter it denies', async () => {
    const cl = keep(await v5(c.mqttPort, { clientId: `acl-${id}`, username: `u-${id}`, password: 'right-password' }))
    const denied = await new Promise<number | undefined>((resolve, reject) => {
      cl.client.publish(`secret/${id}`, 'no', { qos: 1 }, (err, packet) => {
        if (err !== undefined && err !== null && (err as { code?: number }).code === undefined) { reject(err); return }
        resolve((err as { code?: number } | undefined)?.code ?? (packet as { reasonCode?: number } | undefined)?.reasonCode)
      })
    })
    assert.equal(denied, 0x87)
    const ok = await cl.client.publishAsync(`allowed/${id}`, 'yes', { qos: 1 }) as { reasonCode?: number } | undefined
    assert.equal(ok?.reasonCode ?? 0, 0, 'the connection stays and an allowed PUBLISH is acknowledged')
    // mqtt.js rejects a SUBACK with any refusal in it, and hands over the packet
    const refused = await cl.client.subscribeAsync([`secret/${id}`, `allowed/${id}`], { qos: 1 }).then(() => undefined, (err: { packet?: { granted?: number[] } }) => err.packet?.granted)
    assert.deepEqual(refused, [0x87, 1])
  })

  it('takeover: the old v5 connection gets DISCONNECT 0x8E, from another node and from the same node', async () => {
    const clientId = `take-${id}`
    const disconnectOf = (cl: MqttClient): Promise<number | undefined> => new Promise(resolve => cl.once('disconnect', packet => resolve(packet.reasonCode)))
    const first = keep(await v5(a.mqttPort, { clientId }))
    const firstTold = disconnectOf(first.client)
    const second = keep(await v5(b.mqttPort, { clientId }))
    assert.equal(await firstTold, 0x8E, 'taken over from node B')
    const secondTold = disconnectOf(second.client)
    keep(await v5(b.mqttPort, { clientId }))
    assert.equal(await secondTold, 0x8E, 'taken over on the same node')
  })

  it('a DISCONNECT raising a Session Expiry Interval of 0 is a protocol error: DISCONNECT 0x82, the will published, no session kept', async () => {
    const willTopic = `raise-will/${id}`
    const watcher = keep(await v5(b.mqttPort, { clientId: `raise-w-${id}` }))
    await watcher.client.subscribeAsync(willTopic, { qos: 1 })
    const raw = await RawMqtt.open(a.mqttPort, 5)
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `raise-${id}`, clean: true, keepalive: 60, will: { topic: willTopic, payload: Buffer.from('gone'), qos: 1, retain: false } })
    assert.equal((await raw.next(p => p.cmd === 'connack') as IConnackPacket).reasonCode, 0)
    raw.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 600 } })
    assert.equal(await disconnectedWith(raw), 0x82)
    await until(() => watcher.got.some(m => m.topic === willTopic && m.payload.toString() === 'gone'), 20000, 'the will of the invalid DISCONNECT')
    const again = keep(await v5(a.mqttPort, { clientId: `raise-${id}`, clean: false, properties: { sessionExpiryInterval: 600 } }))
    assert.equal(again.connack.sessionPresent, false, 'the raised interval was not applied: no session kept')
  })

  it('keep-alive timeout: DISCONNECT 0x8D before the connection is closed', async () => {
    const raw = await RawMqtt.open(a.mqttPort, 5)
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `ka-${id}`, clean: true, keepalive: 1 })
    await raw.next(p => p.cmd === 'connack')
    const disconnect = await raw.next(p => p.cmd === 'disconnect', 10000)
    assert.equal(disconnect.cmd === 'disconnect' && disconnect.reasonCode, 0x8D)
    await raw.closed
  })
})

/** A raw MQTT 5 client, connected (CONNACK taken). */
async function rawV5 (port: number, clientId: string): Promise<{ raw: RawMqtt; connack: IConnackPacket }> {
  const raw = await RawMqtt.open(port, 5)
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 60 })
  const connack = await raw.next(p => p.cmd === 'connack') as IConnackPacket
  assert.equal(connack.reasonCode, 0)
  return { raw, connack }
}

/** The reason code of the DISCONNECT the server sent before closing. */
async function disconnectedWith (raw: RawMqtt): Promise<number | undefined> {
  const disconnect = await raw.next(p => p.cmd === 'disconnect', 10000)
  await raw.closed
  return disconnect.cmd === 'disconnect' ? disconnect.reasonCode : undefined
}

describe('MQTT 5 and the input limits', () => {
  const id = randomUUID().slice(0, 6)
  let l: WharfProcess
  let q: WharfProcess

  before(async () => {
    ;[l, q] = await Promise.all([
      // topics of their own: a node creates them for its max_packet_size, and each checks them at start
      WharfProcess.start({
        brokers: testBrokers(),
        topics: uniqueTopics('mqtt5lim'),
        env: { WHARF_MQTT__MAX_PACKET_SIZE: '1024', WHARF_MQTT__RECEIVE_MAXIMUM: '3', WHARF_MQTT__MAX_AWAITING_REL: '2' }
      }),
      WharfProcess.start({ brokers: testBrokers(), topics: uniqueTopics('mqtt5qos'), env: { WHARF_MQTT__MAX_QOS_ALLOWED: '1' } })
    ])
  })

  after(async () => { await Promise.all([l, q].filter(n => n !== undefined).map(n => n.stop())) })

  it('CONNACK: Receive Maximum, Maximum Packet Size (the whole packet) and Maximum QoS from the configuration', async () => {
    const { raw, connack } = await rawV5(l.mqttPort, `adv-${id}`)
    assert.equal(connack.properties?.receiveMaximum, 3, 'mqtt.receive_maximum')
    assert.equal(connack.properties?.maximumPacketSize, 1024 + 3, 'mqtt.max_packet_size is a remaining length; the fixed header of such a packet is 3 bytes')
    assert.equal(connack.properties?.maximumQoS, undefined, 'QoS 2 allowed')
    raw.disconnect()
    const other = await rawV5(q.mqttPort, `advq-${id}`)
    assert.equal(other.connack.properties?.maximumQoS, 1, 'mqtt.max_qos_allowed')
    other.raw.disconnect()
  })

  it('a PUBLISH above mqtt.max_packet_size: DISCONNECT 0x95, counted as packet_too_large', async () => {
    const before = await limitEvents(l, 'packet_too_large')
    const { raw } = await rawV5(l.mqttPort, `big-${id}`)
    raw.send({ cmd: 'publish', topic: 'big/one', payload: Buffer.alloc(2000), qos: 1, messageId: 1, retain: false, dup: false })
    assert.equal(await disconnectedWith(raw), 0x95)
    assert.ok(await limitEvents(l, 'packet_too_large') > before)
  })

  it('QoS 2 PUBLISHes awaiting PUBREL beyond mqtt.max_awaiting_rel: DISCONNECT 0x97, counted as awaiting_rel_full', async () => {
    const { raw } = await rawV5(l.mqttPort, `rel-${id}`)
    for (const messageId of [1, 2]) raw.send({ cmd: 'publish', topic: 'rel/one', payload: Buffer.from(String(messageId)), qos: 2, messageId, retain: false, dup: false })
    await raw.next(p => p.cmd === 'pubrec')
    await raw.next(p => p.cmd === 'pubrec')
    raw.send({ cmd: 'publish', topic: 'rel/one', payload: Buffer.from('3'), qos: 2, messageId: 3, retain: false, dup: false })
    assert.equal(await disconnectedWith(raw), 0x97)
    assert.ok(await limitEvents(l, 'awaiting_rel_full') >= 1)
  })

  it('a will QoS above mqtt.max_qos_allowed refuses the CONNECT: MQTT 5 CONNACK 0x9B, 3.1.1 return code 5 [MQTT-3.2.2-12]', async () => {
    const will = { topic: `will/${id}`, payload: Buffer.from('w'), qos: 2 as const, retain: false }
    const raw = await RawMqtt.open(q.mqttPort, 5)
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `willq5-${id}`, clean: true, keepalive: 60, will })
    assert.equal((await raw.next(p => p.cmd === 'connack') as IConnackPacket).reasonCode, 0x9B)
    await raw.closed
    const raw4 = await RawMqtt.open(q.mqttPort, 4)
    raw4.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `willq4-${id}`, clean: true, keepalive: 60, will })
    assert.equal((await raw4.next(p => p.cmd === 'connack') as IConnackPacket).returnCode, 5)
    await raw4.closed
    const ok = await RawMqtt.open(q.mqttPort, 5)
    ok.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `willq1-${id}`, clean: true, keepalive: 60, will: { ...will, qos: 1 } })
    assert.equal((await ok.next(p => p.cmd === 'connack') as IConnackPacket).reasonCode, 0, 'a will at the allowed QoS')
    ok.disconnect()
  })

  it('a PUBLISH above mqtt.max_qos_allowed: DISCONNECT 0x9B (not PUBREC 0x87), counted as qos_not_allowed', async () => {
    const { raw } = await rawV5(q.mqttPort, `qos-${id}`)
    raw.send({ cmd: 'publish', topic: 'qos/two', payload: Buffer.from('x'), qos: 2, messageId: 1, retain: false, dup: false })
    assert.equal(await disconnectedWith(raw), 0x9B)
    assert.equal(raw.packets.some(p => p.cmd === 'pubrec'), false, 'no PUBREC before the DISCONNECT')
    assert.ok(await limitEvents(q, 'qos_not_allowed') >= 1)
  })
})
