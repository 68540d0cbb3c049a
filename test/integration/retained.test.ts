import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

describe('retained messages live in the compacted retained topic', () => {
  it('serves retained messages to new subscriptions, across an edge restart, and clears them on an empty payload', async () => {
    const topics = uniqueTopics('retained')
    const first = await WharfProcess.start({ brokers: testBrokers(), topics })
    const pub = await connect(first.url)
    await pub.publishAsync('status/a', 'online', { qos: 1, retain: true })
    await pub.publishAsync('status/b', 'offline', { qos: 0, retain: true })
    await pub.publishAsync('status/b', 'back', { qos: 1, retain: true })
    await pub.publishAsync('status/c', 'gone soon', { qos: 1, retain: true })
    await pub.publishAsync('status/c', '', { qos: 1, retain: true }) // clears status/c
    await pub.publishAsync('status/d', 'not retained', { qos: 1 })

    // same node, right after the PUBACKs
    const sub1 = await connect(first.url)
    const got1 = collect(sub1)
    await sub1.subscribeAsync('status/+', { qos: 1 })
    await until(() => got1.length >= 2)
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.deepEqual(got1.map(m => `${m.topic}=${m.payload}`).sort(), ['status/a=online', 'status/b=back'])
    assert.ok(got1.every(m => m.retain), 'retained messages arrive with the RETAIN flag')
    await end(pub, sub1)
    assert.equal((await first.stop()).code, 0)

    // a new process: the view is rebuilt from Kafka before the node is ready
    const second = await WharfProcess.start({ brokers: testBrokers(), topics })
    const sub2 = await connect(second.url)
    const got2 = collect(sub2)
    await sub2.subscribeAsync('status/#', { qos: 1 })
    await until(() => got2.length >= 2)
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.deepEqual(got2.map(m => `${m.topic}=${m.payload}`).sort(), ['status/a=online', 'status/b=back'])
    const exact = await connect(second.url)
    const gotExact = collect(exact)
    await exact.subscribeAsync('status/a', { qos: 0 })
    await until(() => gotExact.length === 1)
    assert.equal(gotExact[0]?.payload, 'online')
    assert.equal(gotExact[0]?.qos, 0, 'retained delivery honours the subscription QoS')
    await end(sub2, exact)
    await second.stop()
  })
})
