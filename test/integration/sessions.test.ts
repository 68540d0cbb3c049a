import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { Kafka, logLevel } from 'kafkajs'
import { lossReport, Qos1Stream } from '../support/qos1-stream.js'
import { end, until, untilAsync, type Received } from '../support/mqtt-client.js'
import { RawMqtt } from '../support/raw-mqtt.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'
import { willKey, type SessionRecord } from '../../src/session/session-record.js'

const NODE_TIMEOUT_MS = 3000

/** Connect with a message collector attached before the CONNACK (a resume starts right after it). */
async function session (url: string, clientId: string, opts: IClientOptions = {}): Promise<{ client: MqttClient; got: Received[]; sessionPresent: boolean }> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 30000, clientId, clean: false, ...opts })
  const got: Received[] = []
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }))
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  return { client, got, sessionPresent: connack.sessionPresent }
}

/** The latest value of every key of a topic, read with a plain kafkajs consumer (null = tombstone). */
async function latestValues (brokers: string[], topic: string): Promise<Map<string, Buffer | null>> {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, clientId: 'sessions-test' })
  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const remaining = new Map(offsets.filter(o => BigInt(o.high) > BigInt(o.low)).map(o => [o.partition, BigInt(o.high) - 1n]))
  const latest = new Map<string, Buffer | null>()
  if (remaining.size === 0) return latest
  const consumer = kafka.consumer({ groupId: `sessions-test-${randomUUID()}`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        latest.set(message.key?.toString() ?? '', message.value)
        if (BigInt(message.offset) >= (remaining.get(partition) ?? -1n)) {
          remaining.delete(partition)
          if (remaining.size === 0) resolve()
        }
      }
    })
  })
  await consumer.disconnect()
  return latest
}

/** Wait until the sessions topic holds a tombstone for `key` (its record was deleted). */
async function deleted (topic: string, key: string, what: string): Promise<void> {
  await untilAsync(async () => (await latestValues(testBrokers(), topic)).get(key) === null, 30000, what)
}

describe('durable sessions on three edges', () => {
  const topics = uniqueTopics('sessions')
  const id = randomUUID().slice(0, 6)
  const names = [1, 2, 3].map(i => `sess${i}-${id}`)
  const env = {
    WHARF_CLUSTER__NODE_TIMEOUT_MS: String(NODE_TIMEOUT_MS),
    WHARF_CLUSTER__HEARTBEAT_INTERVAL_MS: '500',
    WHARF_MQTT__SESSION_CHECKPOINT_INTERVAL_MS: '300'
  }
  // the third node gives the sessions it opens a 2 s expiry
  const envOf = (i: number): Record<string, string> => i === 2 ? { ...env, WHARF_MQTT__SESSION_EXPIRY_INTERVAL: '2' } : env
  let nodes: WharfProcess[] = []
  const node = (i: number): WharfProcess => nodes[i] as WharfProcess
  const startNode = (i: number): Promise<WharfProcess> => WharfProcess.start({ brokers: testBrokers(), topics, nodeName: names[i], env: envOf(i), keepLines: 3000 })

  before(async () => {
    const first = await startNode(0)
    nodes = [first, ...await Promise.all([startNode(1), startNode(2)])]
  })
  after(async () => {
    await Promise.all(nodes.map(n => n.stop()))
  })

  it('an offline persistent subscriber gets the 10,000 QoS 1 messages it missed on another node, in order, once', async (t) => {
    const clientId = `offline-${id}`
    const first = await session(node(0).url, clientId)
    assert.equal(first.sessionPresent, false)
    await first.client.subscribeAsync('offline/#', { qos: 1 })
    await first.client.endAsync()

    const pub = await session(node(1).url, `pub-${id}`, { clean: true })
    const sent = Array.from({ length: 10000 }, (_, i) => String(i))
    for (let i = 0; i < sent.length; i += 1000) {
      await Promise.all(sent.slice(i, i + 1000).map(p => pub.client.publishAsync('offline/a', p, { qos: 1 })))
    }
    await end(pub.client)

    const t0 = Date.now()
    const back = await session(node(2).url, clientId)
    assert.equal(back.sessionPresent, true, 'the session (its subscription) is there on another node')
    await until(() => back.got.length >= sent.length, 120000, '10,000 messages').catch(err => {
      throw new Error(`${(err as Error).message}: got ${back.got.length}`)
    })
    t.diagnostic(`caught up 10,000 messages in ${Date.now() - t0} ms`)

    // live delivery continues after the catch-up; on the same MQTT topic (so the same partition)
    // the live message is also the marker: a duplicate of any of the 10,000, replayed or resent,
    // would arrive before it
    const pub2 = await session(node(0).url, `pub2-${id}`, { clean: true })
    await pub2.client.publishAsync('offline/a', 'live', { qos: 1 })
    await until(() => back.got.some(m => m.payload === 'live'), 15000, 'a live message after the resume')
    assert.deepEqual(back.got.map(m => m.payload), [...sent, 'live'], 'in publish order, once, then the live one')
    assert.ok(back.got.every(m => m.qos === 1))
    await end(pub2.client, back.client)
  })

  it('an interrupted QoS 2 delivery completes exactly once after reconnecting to another node', async () => {
    const clientId = `qos2-${id}`
    const a = await RawMqtt.connect(node(0).mqttPort, clientId, false)
    a.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2/#', qos: 2 }] })
    await a.client.next(p => p.cmd === 'suback')
    const pub = await session(node(1).url, `q2pub-${id}`, { clean: true })
    await pub.client.publishAsync('q2/one', 'first', { qos: 2 })
    await pub.client.publishAsync('q2/two', 'second', { qos: 2 })

    // 'first': PUBLISH received, PUBREC sent, PUBREL received, then the connection drops before PUBCOMP
    const p1 = await a.client.next(p => p.cmd === 'publish' && p.topic === 'q2/one')
    assert.equal(p1.cmd === 'publish' && p1.qos, 2)
    const id1 = p1.messageId as number
    a.client.send({ cmd: 'pubrec', messageId: id1 })
    await a.client.next(p => p.cmd === 'pubrel' && p.messageId === id1)
    // 'second': PUBLISH received, the connection drops before PUBREC
    const p2 = await a.client.next(p => p.cmd === 'publish' && p.topic === 'q2/two')
    const id2 = p2.messageId as number
    // a checkpoint: the session record in Kafka lists 'first' waiting for PUBCOMP and 'second' unacknowledged
    await untilAsync(async () => {
      const value = (await latestValues(testBrokers(), topics.sessions)).get(clientId)
      const unacked = value === undefined || value === null ? [] : (JSON.parse(value.toString()) as SessionRecord).unacked
      return unacked.some(u => u.id === id1 && u.rel) && unacked.some(u => u.id === id2 && !u.rel)
    }, 30000, 'a session checkpoint that lists both deliveries')
    a.client.drop()

    const b = await RawMqtt.connect(node(2).mqttPort, clientId, false)
    assert.equal(b.sessionPresent, true)
    // the PUBREL of 'first' again (not its PUBLISH), and 'second' again with DUP and its packet id
    await b.client.next(p => p.cmd === 'pubrel' && p.messageId === id1)
    b.client.send({ cmd: 'pubcomp', messageId: id1 })
    const again = await b.client.next(p => p.cmd === 'publish' && p.topic === 'q2/two')
    assert.equal(again.cmd === 'publish' && again.dup, true, 'resent with DUP')
    assert.equal(again.messageId, id2, 'resent with its packet id')
    b.client.send({ cmd: 'pubrec', messageId: id2 })
    await b.client.next(p => p.cmd === 'pubrel' && p.messageId === id2)
    b.client.send({ cmd: 'pubcomp', messageId: id2 })
    // markers: live QoS 0 messages (nothing to complete, nothing left behind) on the MQTT topics of
    // 'first' and 'second', so in their partitions: a repeat of either, from the replay or the live
    // path, would arrive before its marker
    const marker = async (client: RawMqtt, payload: string): Promise<void> => {
      for (const topic of ['q2/one', 'q2/two']) await pub.client.publishAsync(topic, payload, { qos: 0 })
      for (const topic of ['q2/one', 'q2/two']) await client.next(p => p.cmd === 'publish' && p.topic === topic && p.payload.toString() === payload)
    }
    await marker(b.client, 'marker-b')
    assert.equal(b.client.packets.filter(p => p.cmd === 'publish' && p.topic === 'q2/one').length, 0, '"first" is not delivered a second time')
    assert.equal(b.client.packets.filter(p => p.cmd === 'publish' && p.topic === 'q2/two').length, 0, '"second" is not delivered a third time')
    b.client.disconnect()

    // a third connection: nothing left to complete (a PUBREL would come right after the CONNACK,
    // a resend in the replay, before the live markers)
    const c = await RawMqtt.connect(node(1).mqttPort, clientId, false)
    await marker(c.client, 'marker-c')
    assert.deepEqual(c.client.packets.filter(p => p.cmd === 'publish' || p.cmd === 'pubrel'), [])
    c.client.disconnect()
    await end(pub.client)
  })

  it('a clean session leaves nothing in the sessions topic; a clean DISCONNECT discards the will', async () => {
    const clean = `clean-${id}`
    const c = await session(node(0).url, clean, { clean: true })
    await c.client.subscribeAsync('clean/#', { qos: 1 })
    await c.client.publishAsync('clean/x', 'x', { qos: 1 })
    await end(c.client)

    const withWill = `will-clean-${id}`
    const watcher = await session(node(1).url, `watch-${id}`, { clean: true })
    await watcher.client.subscribeAsync(`lastwill/${withWill}`, { qos: 1 })
    const w = await session(node(0).url, withWill, { clean: true, will: { topic: `lastwill/${withWill}`, payload: Buffer.from('gone'), qos: 1, retain: false } })
    await w.client.endAsync() // DISCONNECT
    // a will is written to Kafka before its record is deleted: once the tombstone is there, a will
    // (on its MQTT topic, so its partition) comes before a marker published now
    await deleted(topics.sessions, willKey(withWill), 'the will record deleted after the DISCONNECT')
    await watcher.client.publishAsync(`lastwill/${withWill}`, 'marker', { qos: 1 })
    await until(() => watcher.got.some(m => m.payload === 'marker'), 15000, 'the marker on the will topic')
    assert.deepEqual(watcher.got.map(m => m.payload), ['marker'], 'no will after a clean DISCONNECT')
    await end(watcher.client)

    const latest = await latestValues(testBrokers(), topics.sessions)
    assert.equal(latest.has(clean), false, 'no session record of a clean session')
    assert.equal(latest.has(`${clean}#will`), false)
    assert.equal(latest.get(`${withWill}#will`), null, 'the will record of the clean DISCONNECT is deleted')
    assert.equal(latest.has(withWill), false)
  })

  it('deletes a session once it expired, by one node', async () => {
    const clientId = `expire-${id}`
    const s = await session(node(2).url, clientId)
    await s.client.subscribeAsync('expire/#', { qos: 1 })
    await s.client.endAsync()
    assert.ok((await latestValues(testBrokers(), topics.sessions)).get(clientId) instanceof Buffer, 'stored after the disconnect')
    await until(() => nodes.some(n => n.lines.some(l => l.includes('session expired and deleted') && l.includes(clientId))), 15000, 'the expiry')
    const latest = await latestValues(testBrokers(), topics.sessions)
    assert.equal(latest.get(clientId), null, 'a tombstone')
    assert.equal(nodes.filter(n => n.lines.some(l => l.includes('session expired and deleted') && l.includes(clientId))).length, 1, 'deleted by one node')
    const back = await session(node(0).url, clientId)
    assert.equal(back.sessionPresent, false)
    await end(back.client)
  })

  it('SIGKILL of a node: its persistent subscriber resumes elsewhere with every PUBACKed message; its clients\' wills are published once, by one survivor', async (t) => {
    const clientId = `victim-${id}`
    const sub = await session(node(0).url, clientId)
    await sub.client.subscribeAsync('stream/#', { qos: 1 })
    const willId = `willer-${id}`
    const watcher = await session(node(1).url, `willwatch-${id}`, { clean: true })
    await watcher.client.subscribeAsync('wills/#', { qos: 1 })
    const willer = await session(node(0).url, willId, { clean: true, will: { topic: `wills/${willId}`, payload: Buffer.from('lost'), qos: 1, retain: false } })
    willer.client.on('error', () => undefined)
    sub.client.on('error', () => undefined)

    const pub = await session(node(1).url, `streampub-${id}`, { clean: true })
    const stream = new Qos1Stream(pub.client, 'p', 'stream/a', 20, 4000)
    await until(() => sub.got.length >= 1000, 60000, '1,000 messages before the kill')
    const killedAt = Date.now()
    await node(0).kill()
    await stream.done
    await end(pub.client)

    const back = await session(node(2).url, clientId)
    const t1 = Date.now()
    assert.equal(back.sessionPresent, true)
    await until(() => lossReport(stream.acked, [...sub.got, ...back.got].map(m => m.payload)).lost.length === 0, 60000, 'every PUBACKed message').catch(err => {
      const r = lossReport(stream.acked, [...sub.got, ...back.got].map(m => m.payload))
      throw new Error(`${(err as Error).message}: acked ${r.acked}, lost ${r.lost.length}`)
    })
    const report = lossReport(stream.acked, [...sub.got, ...back.got].map(m => m.payload))
    t.diagnostic(`acked ${report.acked}, received ${report.received}, lost ${report.lost.length}, duplicates ${report.duplicates}; CONNACK on the survivor ${t1 - killedAt} ms after the kill`)
    assert.equal(report.lost.length, 0)

    await until(() => watcher.got.length >= 1, NODE_TIMEOUT_MS + 15000, 'the will of a client of the dead node')
    const willAfter = Date.now() - killedAt
    t.diagnostic(`will published ${willAfter} ms after the kill (node timeout ${NODE_TIMEOUT_MS} ms)`)
    // the survivor that won the claim publishes the will, then deletes its record; a survivor
    // publishes only wills still in its view, and a CONNECT on a node first brings its view up to
    // date. So once the tombstone is in Kafka and each survivor answered a CONNECT, no survivor can
    // start publishing the will again, and a marker on the will topic (its partition) follows any
    // will published before. (A publication a survivor had begun before reading the tombstone and
    // that is still in its producer is the one case this cannot order: only a claim winner
    // publishes, and the winner's publication was acknowledged before its deletion.)
    await deleted(topics.sessions, willKey(willId), 'the will record deleted by the survivor that published it')
    for (const [i, n] of nodes.slice(1).entries()) await end((await session(n.url, `sync${i}-${id}`, { clean: true })).client)
    await watcher.client.publishAsync(`wills/${willId}`, 'marker', { qos: 1 })
    await until(() => watcher.got.some(m => m.payload === 'marker'), 15000, 'the marker on the will topic')
    assert.deepEqual(watcher.got.map(m => m.payload), ['lost', 'marker'], 'published once')
    const publishers = nodes.slice(1).filter(n => n.lines.some(l => l.includes('published the will of a client of a dead node') && l.includes(willId)))
    assert.equal(publishers.length, 1, 'by one survivor')
    await end(back.client, watcher.client)
    nodes[0] = await startNode(0)
  })

  it('restarting every edge keeps sessions and their subscriptions', async () => {
    const clientId = `restart-${id}`
    const s = await session(node(1).url, clientId)
    await s.client.subscribeAsync('restart/#', { qos: 1 })
    await s.client.endAsync()
    await Promise.all(nodes.map(n => n.stop()))
    nodes = [await startNode(0), ...await Promise.all([startNode(1), startNode(2)])]
    const pub = await session(node(2).url, `rpub-${id}`, { clean: true })
    await pub.client.publishAsync('restart/x', 'while away', { qos: 1 })
    const back = await session(node(0).url, clientId)
    assert.equal(back.sessionPresent, true)
    await until(() => back.got.length >= 1, 20000, 'the message published while the client was away')
    assert.deepEqual(back.got.map(m => m.payload), ['while away'])
    await end(pub.client, back.client)
  })
})
