import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { MqttClient } from 'mqtt'
import { collect, connect, end, until, type Received } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/**
 * Publishes a live (not retained) marker on a topic the subscription matches, after its SUBACK, and
 * returns what the subscriber got before the marker. aedes takes the retained snapshot in the same
 * tick in which it writes the SUBACK and starts writing it right away, from memory; the marker is
 * published only after the SUBACK was back at the client and reaches the subscriber only through a
 * PUBLISH -> Kafka -> log tail round trip. So a retained message that should not be there (one
 * cleared, one never retained, an older value) is written before the marker. This is not an order
 * the log guarantees (retained messages do not come through the log), but the strongest there is:
 * the snapshot is the only source of retained messages, and it is fixed before the marker exists.
 */
async function retainedBeforeMarker (pub: MqttClient, got: Received[]): Promise<Received[]> {
  await pub.publishAsync('status/zz-marker', 'marker', { qos: 1 })
  await until(() => got.some(m => m.payload === 'marker'), 15000, 'the live marker')
  const at = got.findIndex(m => m.payload === 'marker')
  assert.equal(got[at]?.retain, false, 'the marker is live, not retained')
  return got.slice(0, at)
}

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
    const retained1 = await retainedBeforeMarker(pub, got1)
    assert.deepEqual(retained1.map(m => `${m.topic}=${m.payload}`).sort(), ['status/a=online', 'status/b=back'])
    assert.ok(retained1.every(m => m.retain), 'retained messages arrive with the RETAIN flag')
    await end(pub, sub1)
    assert.equal((await first.stop()).code, 0)

    // a new process: the view is rebuilt from Kafka before the node is ready
    const second = await WharfProcess.start({ brokers: testBrokers(), topics })
    const sub2 = await connect(second.url)
    const got2 = collect(sub2)
    await sub2.subscribeAsync('status/#', { qos: 1 })
    const pub2 = await connect(second.url)
    const retained2 = await retainedBeforeMarker(pub2, got2)
    assert.deepEqual(retained2.map(m => `${m.topic}=${m.payload}`).sort(), ['status/a=online', 'status/b=back'])
    assert.ok(retained2.every(m => m.retain))
    await end(pub2)
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
