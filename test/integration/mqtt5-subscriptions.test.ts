import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import mqtt, { type IClientSubscribeOptions, type MqttClient } from 'mqtt'
import type { IPublishPacket } from 'mqtt-packet'
import { collect, until } from '../support/mqtt-client.js'
import { RawMqtt } from '../support/raw-mqtt.js'
import { groupSettled } from '../support/shared-group.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'
import { v5 } from '../support/mqtt5-client.js'

/*
 * MQTT 5 subscription options (No Local, Retain As Published, Retain Handling) and subscription
 * identifiers across two edges (A, B) on one Kafka (issue 17): kept in the session record, restored
 * on a resume on the other node, applied to the replay from the log, to live deliveries after it
 * and to shared-subscription deliveries; a 3.1.1 subscriber beside them sees no change. "Nothing
 * arrived" is shown by a marker published after the action (on the same topic, so in the same
 * partition: Kafka's order) arriving while the other did not.
 */

const text = (p: IPublishPacket): string => p.payload.toString()
const ids = (p: IPublishPacket | undefined): number[] => {
  const si = p?.properties?.subscriptionIdentifier
  return si === undefined ? [] : (Array.isArray(si) ? [...si] : [si]).sort((x, y) => x - y)
}
const find = (got: IPublishPacket[], payload: string): IPublishPacket | undefined => got.find(p => text(p) === payload)
const sub = (qos: 0 | 1 | 2, options: Omit<IClientSubscribeOptions, 'qos'> = {}): IClientSubscribeOptions => ({ qos, ...options })

describe('MQTT 5 subscription options and identifiers across nodes', () => {
  const topics = uniqueTopics('v5subs')
  const id = randomUUID().slice(0, 6)
  let a: WharfProcess
  let b: WharfProcess
  const clients: MqttClient[] = []
  const keep = <T extends { client: MqttClient }>(x: T): T => { clients.push(x.client); return x }
  const kafka = new Kafka({ clientId: `v5subs-${id}`, brokers: testBrokers(), logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })

  before(async () => {
    const env = { WHARF_MQTT__SESSION_EXPIRY_INTERVAL: '600' }
    ;[a, b] = await Promise.all([
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `a-${id}`, env }),
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `b-${id}`, env })
    ])
    await producer.connect()
  })

  after(async () => {
    await producer.disconnect()
    await Promise.all(clients.map(cl => cl.endAsync(true)))
    await Promise.all([a, b].filter(n => n !== undefined).map(n => n.stop()))
  })

  /** A record as a backend (or the session's own client, by its header) would have written it. */
  const record = (topic: string, payload: string, clientId: string, retain: boolean) =>
    producer.send({ topic: topics.messages, messages: [{ key: topic, value: payload, headers: { 'mqtt.topic': topic, 'mqtt.qos': '1', 'mqtt.retain': String(retain), 'mqtt.client_id': clientId } }] })

  it('a persistent session subscribed with options on A and resumed on B: replay and live deliveries apply them; a 3.1.1 subscriber is unaffected', async () => {
    const me = `me-${id}`
    const base = `opt/${id}`
    const session = { clientId: me, clean: false, properties: { sessionExpiryInterval: 300 } }
    const first = keep(await v5(a.mqttPort, session))
    await first.client.subscribeAsync(`${base}/keep/#`, sub(1, { nl: true, rap: true, properties: { subscriptionIdentifier: 7 } }))
    await first.client.subscribeAsync(`${base}/clear/#`, sub(1, { properties: { subscriptionIdentifier: 8 } }))
    await first.client.subscribeAsync(`${base}/+/both`, sub(1, { properties: { subscriptionIdentifier: 9 } }))
    await first.client.endAsync()

    const v4 = await mqtt.connectAsync(b.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `v4-${id}` })
    clients.push(v4)
    const got4 = collect(v4)
    await v4.subscribeAsync(`${base}/#`, { qos: 1 })
    const other = keep(await v5(a.mqttPort, { clientId: `other-${id}` }))
    // while the session is away: its own messages (the record's mqtt.client_id) and others'
    await record(`${base}/keep/1`, 'own-offline', me, true)
    await other.client.publishAsync(`${base}/keep/1`, 'kept-offline', { qos: 1, retain: true })
    await other.client.publishAsync(`${base}/clear/1`, 'cleared-offline', { qos: 1, retain: true })
    await other.client.publishAsync(`${base}/keep/both`, 'both-offline', { qos: 1 })
    await record(`${base}/keep/both`, 'own-both-offline', me, true)
    await other.client.publishAsync(`${base}/keep/1`, 'marker-offline', { qos: 1 })

    const back = keep(await v5(b.mqttPort, session))
    // the replay reads partitions independently: wait for every message it owes (the marker is the
    // last on own-offline's topic, so in its partition after it)
    const owed = ['marker-offline', 'kept-offline', 'cleared-offline', 'both-offline', 'own-both-offline']
    await until(() => owed.every(p => find(back.got, p) !== undefined), 30000, 'the replay')
    assert.equal(find(back.got, 'own-offline'), undefined, 'No Local: its own message is not replayed')
    const kept = find(back.got, 'kept-offline')
    assert.deepEqual(ids(kept), [7], 'the identifier, restored from the session record')
    assert.equal(kept?.retain, true, 'Retain As Published: the publisher\'s RETAIN flag')
    const cleared = find(back.got, 'cleared-offline')
    assert.deepEqual(ids(cleared), [8])
    assert.equal(cleared?.retain, false, 'Retain As Published 0: RETAIN cleared')
    assert.deepEqual(ids(find(back.got, 'both-offline')), [7, 9], 'two matching subscriptions: both identifiers in one copy')
    assert.deepEqual(ids(find(back.got, 'own-both-offline')), [9], 'its own message only through the subscription without No Local')
    assert.equal(back.got.filter(p => text(p) === 'both-offline').length, 1, 'one copy')

    // live, after the resume on B: its own PUBLISH, then another client's, on the same topic
    await back.client.publishAsync(`${base}/keep/2`, 'own-live', { qos: 1 })
    await other.client.publishAsync(`${base}/keep/2`, 'kept-live', { qos: 1, retain: true })
    await until(() => find(back.got, 'kept-live') !== undefined, 20000, 'the live message')
    assert.equal(find(back.got, 'own-live'), undefined, 'No Local, live on the other node')
    assert.deepEqual(ids(find(back.got, 'kept-live')), [7])
    assert.equal(find(back.got, 'kept-live')?.retain, true)
    await back.client.publishAsync(`${base}/clear/2`, 'own-cleared-live', { qos: 1, retain: true })
    await until(() => find(back.got, 'own-cleared-live') !== undefined, 20000, 'its own message through a subscription without No Local')
    assert.deepEqual(ids(find(back.got, 'own-cleared-live')), [8])
    assert.equal(find(back.got, 'own-cleared-live')?.retain, false)

    // the 3.1.1 subscriber: every message, RETAIN 0 on normal deliveries, no properties
    const all = ['own-offline', 'kept-offline', 'cleared-offline', 'own-both-offline', 'own-live', 'kept-live', 'own-cleared-live']
    await until(() => all.every(p => got4.some(m => m.payload === p)), 20000, 'every message at the 3.1.1 subscriber, its own ones included')
    assert.ok(got4.every(m => !m.retain), 'RETAIN 0 for a 3.1.1 subscription')
    await back.client.endAsync()
  })

  it('Retain Handling with Wharf\'s retained messages: 0 sends, 1 only for a new subscription (also one restored on the other node), 2 never', async () => {
    const topic = `rh/${id}/t`
    const pub = keep(await v5(a.mqttPort, { clientId: `rh-pub-${id}` }))
    await pub.client.publishAsync(topic, 'retained', { qos: 1, retain: true })
    // both nodes' views of the retained topic have it: a probe subscribes until it gets it
    for (const node of [a, b]) {
      const probe = keep(await v5(node.mqttPort, { clientId: `rh-probe-${node.mqttPort}-${id}` }))
      for (let attempt = 0; probe.got.length === 0; attempt++) {
        if (attempt === 40) throw new Error('the retained message never reached the node\'s view')
        await probe.client.subscribeAsync(topic, { qos: 0 })
        await until(() => probe.got.length > 0, 500, 'the retained message').catch(() => undefined)
        await probe.client.unsubscribeAsync(topic)
      }
    }
    // rh 0: the retained message on subscribe, with the SUBSCRIBE's identifier
    const zero = keep(await v5(b.mqttPort, { clientId: `rh0-${id}` }))
    await zero.client.subscribeAsync(topic, sub(1, { rh: 0, properties: { subscriptionIdentifier: 3 } }))
    await until(() => find(zero.got, 'retained') !== undefined, 20000, 'the retained message (Retain Handling 0)')
    assert.equal(find(zero.got, 'retained')?.retain, true)
    assert.deepEqual(ids(find(zero.got, 'retained')), [3], 'the identifier on a retained message too')

    const two = keep(await v5(b.mqttPort, { clientId: `rh2-${id}` }))
    await two.client.subscribeAsync(topic, sub(1, { rh: 2 }))
    const one = keep(await v5(a.mqttPort, { clientId: `rh1-${id}`, clean: false, properties: { sessionExpiryInterval: 300 } }))
    await one.client.subscribeAsync(topic, sub(1, { rh: 1 }))
    await until(() => find(one.got, 'retained') !== undefined, 20000, 'Retain Handling 1, new subscription')
    await one.client.subscribeAsync(topic, sub(1, { rh: 1 }))
    await one.client.endAsync()
    const resumed = keep(await v5(b.mqttPort, { clientId: `rh1-${id}`, clean: false, properties: { sessionExpiryInterval: 300 } }))
    await resumed.client.subscribeAsync(topic, sub(1, { rh: 1 }))
    await pub.client.publishAsync(topic, 'marker', { qos: 1 })
    await until(() => find(two.got, 'marker') !== undefined && find(one.got, 'marker') === undefined && find(resumed.got, 'marker') !== undefined, 20000, 'the markers')
    assert.equal(find(two.got, 'retained'), undefined, 'Retain Handling 2: never')
    assert.equal(one.got.filter(p => text(p) === 'retained').length, 1, 'Retain Handling 1 again on an existing subscription: nothing')
    assert.equal(find(resumed.got, 'retained'), undefined, 'Retain Handling 1 on B: the subscription existed (restored from the session record)')
  })

  it('shared subscriptions: each member\'s identifier on its deliveries; No Local on a shared subscription is DISCONNECT 0x82', async () => {
    const group = `g-${id}`
    const topic = `jobs/${id}`
    const m1 = keep(await v5(a.mqttPort, { clientId: `sh1-${id}` }))
    const m2 = keep(await v5(b.mqttPort, { clientId: `sh2-${id}` }))
    await m1.client.subscribeAsync(`$share/${group}/${topic}/#`, sub(1, { properties: { subscriptionIdentifier: 33 } }))
    await m2.client.subscribeAsync(`$share/${group}/${topic}/#`, sub(1, { properties: { subscriptionIdentifier: 44 } }))
    await groupSettled([a, b], group)
    const pub = keep(await v5(b.mqttPort, { clientId: `sh-pub-${id}` }))
    const n = 20
    for (let i = 0; i < n; i++) await pub.client.publishAsync(`${topic}/${i}`, `m${i}`, { qos: 1 })
    await until(() => m1.got.length + m2.got.length >= n, 30000, 'every shared message')
    assert.ok(m1.got.every(p => ids(p).join() === '33'), `member 1: ${m1.got.map(p => ids(p).join()).join(' ')}`)
    assert.ok(m2.got.every(p => ids(p).join() === '44'), `member 2: ${m2.got.map(p => ids(p).join()).join(' ')}`)

    // mqtt.js would not show the DISCONNECT's reason code: a raw MQTT 5 client
    const raw = await RawMqtt.open(a.mqttPort, 5)
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `sh-nl-${id}`, clean: true, keepalive: 60 })
    await raw.next(p => p.cmd === 'connack')
    raw.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: `$share/${group}/${topic}/#`, qos: 1, nl: true, rap: false, rh: 0 }] })
    const answer = await raw.next(p => p.cmd === 'disconnect' || p.cmd === 'suback')
    assert.equal(answer.cmd, 'disconnect')
    assert.equal(answer.cmd === 'disconnect' && answer.reasonCode, 0x82, 'Protocol Error [MQTT-3.8.3-4]')
    await raw.closed
    assert.ok(!raw.packets.some(p => p.cmd === 'suback'), 'no SUBACK after the DISCONNECT')
  })

  it('a shared member\'s PUBREC >= 0x80 ends the QoS 2 delivery: the message goes to no other member [MQTT-4.8.2-6]', async () => {
    const group = `q2-${id}`
    const topic = `q2/${id}`
    const refuser = await RawMqtt.open(a.mqttPort, 5)
    refuser.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `q2-raw-${id}`, clean: true, keepalive: 60 })
    await refuser.next(p => p.cmd === 'connack')
    refuser.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$share/${group}/${topic}`, qos: 2, nl: false, rap: false, rh: 0 }] })
    await refuser.next(p => p.cmd === 'suback')
    await groupSettled([a], group)
    const pub = keep(await v5(b.mqttPort, { clientId: `q2-pub-${id}` }))
    await pub.client.publishAsync(topic, 'refused', { qos: 2 })
    const delivery = await refuser.next(p => p.cmd === 'publish')
    refuser.send({ cmd: 'pubrec', messageId: delivery.messageId as number, reasonCode: 0x80 })
    // packets of one connection are handled in order: the PINGRESP comes after the PUBREC was taken
    refuser.send({ cmd: 'pingreq' })
    await refuser.next(p => p.cmd === 'pingresp')
    const other = keep(await v5(a.mqttPort, { clientId: `q2-other-${id}` }))
    await other.client.subscribeAsync(`$share/${group}/${topic}`, { qos: 2 })
    refuser.drop()
    await refuser.closed
    await pub.client.publishAsync(topic, 'marker', { qos: 2 })
    await until(() => find(other.got, 'marker') !== undefined, 20000, 'the marker at the other member')
    assert.equal(find(other.got, 'refused'), undefined, 'the refused message is not handed to another member')
    assert.ok(!refuser.packets.some(p => p.cmd === 'pubrel'), 'no PUBREL after a PUBREC >= 0x80')
  })

  it('a shared member that PUBRECs a QoS 2 delivery and leaves before PUBCOMP: the message goes to no other member (3.1.1 member)', async () => {
    const group = `q2ok-${id}`
    const topic = `q2ok/${id}`
    const taker = await RawMqtt.open(a.mqttPort, 4)
    taker.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `q2ok-raw-${id}`, clean: true, keepalive: 60 })
    await taker.next(p => p.cmd === 'connack')
    taker.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$share/${group}/${topic}`, qos: 2 }] })
    await taker.next(p => p.cmd === 'suback')
    await groupSettled([a], group)
    const pub = keep(await v5(b.mqttPort, { clientId: `q2ok-pub-${id}` }))
    await pub.client.publishAsync(topic, 'taken', { qos: 2 })
    const delivery = await taker.next(p => p.cmd === 'publish')
    taker.send({ cmd: 'pubrec', messageId: delivery.messageId as number })
    // the PUBREL shows the PUBREC was handled; the member leaves without PUBCOMP
    await taker.next(p => p.cmd === 'pubrel')
    const other = keep(await v5(a.mqttPort, { clientId: `q2ok-other-${id}` }))
    await other.client.subscribeAsync(`$share/${group}/${topic}`, { qos: 2 })
    taker.drop()
    await taker.closed
    await pub.client.publishAsync(topic, 'marker', { qos: 2 })
    await until(() => find(other.got, 'marker') !== undefined, 20000, 'the marker at the other member')
    assert.equal(find(other.got, 'taken'), undefined, 'a message the member PUBRECed is not handed to another member')
  })
})
