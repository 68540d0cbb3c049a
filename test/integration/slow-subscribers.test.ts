import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { IPublishPacket } from 'mqtt-packet'
import { collect, connect, end, until, untilAsync } from '../support/mqtt-client.js'
import { RawMqtt } from '../support/raw-mqtt.js'
import { groupSettled } from '../support/shared-group.js'
import { deliveredAtLeast, flood, memoryOf, metric, MiB, payloadsOf, resetPeak, stuckSubscriber } from '../support/slow-subscribers.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/*
 * Slow and stuck subscribers (issue 15): what a node holds for a subscriber that does not read is
 * bounded by mqtt.max_inflight / max_mqueue_len / max_client_buffer_bytes, whatever publishers send;
 * QoS 0 messages it has no room for are dropped and counted, a persistent session's QoS 1/2 ones stay
 * in Kafka and reach it when it reads again; other subscribers of the node are not held up; a client
 * over its bounds for mqtt.slow_client_timeout is disconnected. Real Kafka, real edges, mqtt.js
 * publishers and bare TCP subscribers (test/support/raw-mqtt.ts) that stop reading their sockets.
 */

/** The flood: 100 MiB of QoS 0 messages of 1 KiB. */
const FLOOD_MESSAGES = 102_400
const FLOOD_SIZE = 1024
/**
 * The bound on the subscriber edge's peak RSS growth during the 100 MiB flood, one stuck subscriber,
 * default bounds: 150 MiB. Why: without the bounds the edge holds the flood for the stuck client (the
 * issue measured +236 MB); with them, what the stuck client may hold is its
 * `max_client_buffer_bytes` (1 MiB), and the rest of the growth is the edge delivering a flood at full
 * speed (kafkajs and fetch buffers, per-record objects, V8's heap slack). Measured: +38 to +57 MiB on
 * a machine at load 4-9, +84 to +113 MiB at load 9-12 (docs/benchmarks.md, "Slow subscribers"); the
 * bound leaves room for that spread. That the flood was not held is asserted exactly below: what
 * reached the client after it read again plus the dropped count is the flood, and most was dropped.
 */
const RSS_GROWTH_BOUND = 150 * MiB

describe('slow and stuck subscribers', () => {
  const topics = uniqueTopics('slow')
  const id = randomUUID().slice(0, 6)
  /** the publishers' edge; the stall test's subscribers are here too */
  let pub: WharfProcess

  before(async () => {
    // the stall test's bystander is a clean-session QoS 1 subscriber taking 2,000 messages as fast as
    // it acknowledges them: past its window (32) and queue (mqtt.max_mqueue_len, 1,000 by default) a
    // burst would be dropped, as in EMQX, when the machine is slow to acknowledge; here it must not be
    pub = await WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `slowpub-${id}`, keepLines: 2000, env: { WHARF_MQTT__MAX_MQUEUE_LEN: '100000' } })
  })
  after(async () => {
    await pub.stop()
  })

  it('a subscriber that never reads: a 100 MiB QoS 0 flood grows its edge by a bounded amount; every message reached it or was counted as dropped', async (t) => {
    // its own edge, so that its memory is the subscriber side's alone; no slow-client disconnect during the measurement
    const sub = await WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `slowsub-${id}`, keepLines: 2000, env: { WHARF_MQTT__SLOW_CLIENT_TIMEOUT: '30m' } })
    try {
      const topic = `flood/${id}/x`
      const stuck = await stuckSubscriber(sub.mqttPort, `stuck-${id}`, `flood/${id}/#`, 0)
      const before = memoryOf(sub.pid)
      resetPeak(sub.pid)
      const delivered = await metric(sub, 'wharf_delivered_records_total')
      await flood(pub.url, topic, FLOOD_MESSAGES, FLOOD_SIZE)
      await deliveredAtLeast(sub, delivered + FLOOD_MESSAGES)
      const after = memoryOf(sub.pid)
      const dropped = await metric(sub, 'wharf_limit_events_total', 'reason="queue_full"')
      const growth = after.peak - before.rss
      t.diagnostic(`edge RSS before ${(before.rss / MiB).toFixed(1)} MiB, peak during the flood ${(after.peak / MiB).toFixed(1)} MiB (+${(growth / MiB).toFixed(1)} MiB), after ${(after.rss / MiB).toFixed(1)} MiB; QoS 0 dropped: ${dropped} of ${FLOOD_MESSAGES}`)
      assert.ok(growth < RSS_GROWTH_BOUND, `peak RSS growth ${(growth / MiB).toFixed(1)} MiB < ${RSS_GROWTH_BOUND / MiB} MiB`)
      assert.ok(dropped > FLOOD_MESSAGES / 2, `most of the flood was dropped and counted (${dropped})`)

      // it reads again: what it gets and what was dropped make up the flood exactly
      stuck.resume()
      await untilAsync(async () => payloadsOf(stuck).length + dropped >= FLOOD_MESSAGES, 120_000, 'the stuck subscriber to read what it was sent')
      const marker = await connect(pub.url)
      await marker.publishAsync(topic, 'marker', { qos: 0 })
      await until(() => payloadsOf(stuck).includes('marker'), 30_000, 'the marker')
      await end(marker)
      const got = payloadsOf(stuck).filter(p => p !== 'marker')
      t.diagnostic(`received after reading again: ${got.length}`)
      assert.equal(got.length + dropped, FLOOD_MESSAGES, 'received + dropped = published')
      const seqs = got.map(p => Number(p.slice(0, 8)))
      assert.ok(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number)), 'what arrived is in publish order')
      stuck.drop()
    } finally {
      await sub.stop()
    }
  })

  it('a persistent QoS 1 subscriber that stalls gets every message from Kafka once it reads again, in order; another subscriber of the node is not held up', async (t) => {
    const N = 2000
    const filter = `stall/${id}/#`
    const topic = `stall/${id}/t`
    // the stalling subscriber: a bare client that acknowledges every QoS 1 PUBLISH it reads
    const { client: stalled } = await RawMqtt.connect(pub.mqttPort, `stall-${id}`, false)
    stalled.onPacket(p => { if (p.cmd === 'publish' && p.qos === 1) stalled.send({ cmd: 'puback', messageId: p.messageId as number }) })
    stalled.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] })
    await stalled.next(p => p.cmd === 'suback')
    const bystander = await connect(pub.url, { clean: true })
    const seen = collect(bystander)
    await bystander.subscribeAsync(filter, { qos: 1 })
    const publisher = await connect(pub.url, { clean: true })
    const fellBehind = await metric(pub, 'wharf_limit_events_total', 'reason="inflight_full"')
    const replayed = await metric(pub, 'wharf_session_replayed_messages_total')

    stalled.pause()
    for (let i = 0; i < N; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, N - i) }, (_, k) => publisher.publishAsync(topic, String(i + k), { qos: 1 })))
    }
    await publisher.publishAsync(topic, 'end', { qos: 1 })
    await until(() => seen.some(m => m.payload === 'end'), 60_000, 'the bystander to get everything while the other one is stuck')
    assert.deepEqual(seen.map(m => m.payload), [...Array.from({ length: N }, (_, i) => String(i)), 'end'], 'the bystander got every message, in order')
    const deferred = await metric(pub, 'wharf_limit_events_total', 'reason="inflight_full"') - fellBehind
    assert.ok(deferred > 0, 'the stalled session fell behind: its messages were left in Kafka')

    const resumedAt = Date.now()
    stalled.resume()
    await until(() => payloadsOf(stalled).includes('end'), 120_000, 'the stalled subscriber to get everything')
    const ms = Date.now() - resumedAt
    const got = payloadsOf(stalled)
    const dups = stalled.packets.filter((p): p is IPublishPacket => p.cmd === 'publish' && p.dup).length
    const distinct = [...new Set(got)]
    const fromKafka = await metric(pub, 'wharf_session_replayed_messages_total') - replayed
    t.diagnostic(`stalled subscriber: ${got.length} PUBLISHes (${distinct.length} distinct, ${dups} with DUP) ${ms} ms after it read again; ${deferred} left in Kafka while it was stuck, ${fromKafka} replayed from Kafka`)
    assert.deepEqual(distinct, [...Array.from({ length: N }, (_, i) => String(i)), 'end'], 'every message, in order')
    assert.equal(got.length, distinct.length, 'no duplicate')
    assert.ok(fromKafka >= deferred, `what it missed live came from Kafka (${fromKafka} replayed)`)
    stalled.disconnect()
    await end(bystander, publisher)
  })

  it('mqtt.slow_client_timeout disconnects a client stuck on its window (QoS 1) or on its bytes (QoS 0), and nobody else', async () => {
    const edge = await WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `slowt-${id}`, keepLines: 5000, env: { WHARF_MQTT__SLOW_CLIENT_TIMEOUT: '2s' } })
    try {
      const onWindow = await stuckSubscriber(edge.mqttPort, `window-${id}`, `win/${id}/#`, 1)
      const onBytes = await stuckSubscriber(edge.mqttPort, `bytes-${id}`, `bytes/${id}/#`, 0)
      const reader = await connect(edge.url, { clean: true })
      const seen = collect(reader)
      await reader.subscribeAsync(`other/${id}/#`, { qos: 0 })
      const publisher = await connect(edge.url, { clean: true })
      await Promise.all(Array.from({ length: 40 }, (_, i) => publisher.publishAsync(`win/${id}/t`, String(i), { qos: 1 })))
      // more than the kernel's socket buffers and the 1 MiB bound hold
      await flood(edge.url, `bytes/${id}/t`, 24 * 1024, FLOOD_SIZE)
      const disconnected = (clientId: string) => async (): Promise<boolean> => edge.lines.some(l => l.includes('slow client disconnected') && l.includes(`"clientId":"${clientId}"`))
      await untilAsync(disconnected(`window-${id}`), 60_000, 'the window-bound client disconnected')
      await untilAsync(disconnected(`bytes-${id}`), 60_000, 'the byte-bound client disconnected')
      assert.equal(await metric(edge, 'wharf_limit_events_total', 'reason="slow_client"'), 2)
      onWindow.resume()
      onBytes.resume()
      await Promise.all([onWindow.closed, onBytes.closed])
      // the reading client is still connected and served
      await publisher.publishAsync(`other/${id}/t`, 'marker', { qos: 0 })
      await until(() => seen.some(m => m.payload === 'marker'), 30_000, 'the marker to the client that reads')
      assert.equal(reader.connected, true)
      await end(reader, publisher)
    } finally {
      await edge.stop()
    }
  })

  it('a shared-subscription member that never acknowledges is disconnected after mqtt.slow_client_timeout; the group goes on through the other member, which is not', async () => {
    // the group's records are committed in order: an unacknowledged delivery holds its partition on
    // the node for every member, so a member that keeps its connection and never acknowledges
    // would stall the group there for ever
    const edge = await WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `slowshare-${id}`, keepLines: 5000, env: { WHARF_MQTT__SLOW_CLIENT_TIMEOUT: '3s' } })
    try {
      const group = `stall${id}`
      const { client: lazy } = await RawMqtt.connect(edge.mqttPort, `lazy-share-${id}`, true)
      lazy.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$share/${group}/jobs/${id}/#`, qos: 1 }] })
      await lazy.next(p => p.cmd === 'suback')
      const worker = await connect(edge.url, { clean: true })
      const got = collect(worker)
      await worker.subscribeAsync(`$share/${group}/jobs/${id}/#`, { qos: 1 })
      await groupSettled([edge], group)
      const publisher = await connect(edge.url, { clean: true })
      const sent: string[] = []
      const lazyHolds = (): number => lazy.packets.filter(p => p.cmd === 'publish').length
      // rounds until the lazy member holds one (round robin gives it every other message)
      while (lazyHolds() === 0) {
        assert.ok(sent.length < 600, 'the lazy member got no message')
        const round = Array.from({ length: 20 }, (_, i) => String(sent.length + i))
        sent.push(...round)
        await Promise.all(round.map(p => publisher.publishAsync(`jobs/${id}/${Number(p) % 10}`, p, { qos: 1 })))
        await until(() => lazyHolds() > 0 || new Set(got.map(m => m.payload)).size >= sent.length, 10_000, 'the round handed out').catch(() => undefined)
      }
      // disconnected as a slow client; what it held reaches the worker
      await untilAsync(async () => edge.lines.some(l => l.includes('slow client disconnected') && l.includes(`"clientId":"lazy-share-${id}"`)), 60_000, 'the lazy member disconnected')
      await lazy.closed
      await until(() => new Set(got.map(m => m.payload)).size >= sent.length, 60_000, 'every message at the worker').catch(err => {
        throw new Error(`${(err as Error).message}: ${new Set(got.map(m => m.payload)).size} of ${sent.length}`)
      })
      assert.equal(await metric(edge, 'wharf_limit_events_total', 'reason="slow_client"'), 1)
      // the group goes on: a marker published now reaches the worker, which stayed connected
      await publisher.publishAsync(`jobs/${id}/0`, 'marker', { qos: 1 })
      await until(() => got.some(m => m.payload === 'marker'), 30_000, 'the marker at the worker')
      assert.equal(worker.connected, true)
      await end(worker, publisher)
    } finally {
      await edge.stop()
    }
  })
})
