import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import type { MqttClient } from 'mqtt'
import { collect, connect, end, until, untilAsync } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'
import { partitionOf } from '../../src/kafka/partitioner.js'

/*
 * Issue 20: each edge reads only what its own clients can receive. Three edges on one Kafka; the
 * data topic has 6 partitions and a rule sends `cmd/<device>` records keyed by device. What an edge
 * fetches is read from its own counters in /metrics (`reader="data"`).
 */

const PARTITIONS = 6

async function metrics (node: WharfProcess): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text()
}

/** The sum of a counter over the label sets that contain every `labels` fragment. */
function sum (text: string, name: string, ...labels: string[]): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') || !labels.every(l => line.includes(l))) continue
    total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

async function livePartitions (node: WharfProcess): Promise<number> {
  const ready = await (await fetch(`http://127.0.0.1:${node.httpPort}/ready`)).json() as { livePartitions: number }
  return ready.livePartitions
}

describe('scale out: an edge reads only what its clients can receive', () => {
  const topics = uniqueTopics('scale')
  const commands = `devices.commands.${randomUUID().slice(0, 8)}`
  const config = `mapping:\n  rules:\n    - { filter: "cmd/+", kafka_topic: "${commands}", key: "{2}", qos: 1, mqtt_topic: "cmd/\${key}" }\n`
  let nodes: WharfProcess[] = []
  const node = (i: number): WharfProcess => nodes[i] as WharfProcess
  const dataTopic = `kafka_topic="${topics.messages}"`
  const dataReader = 'reader="messages"'

  before(async () => {
    const { writeFile, mkdtemp } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const file = join(await mkdtemp(join(tmpdir(), 'wharf-scale-')), 'wharf.yaml')
    await writeFile(file, config)
    // the steady subscriber of the churn test takes a stream of QoS 1 with a clean session: a queue
    // that never drops (mqtt.max_mqueue_len, 1,000 by default) however slowly it acknowledges
    const env = { WHARF_TOPICS__MESSAGES__PARTITIONS: String(PARTITIONS), WHARF_MQTT__MAX_MQUEUE_LEN: '100000' }
    const first = await WharfProcess.start({ brokers: testBrokers(), topics, env, args: ['--config', file] })
    const rest = await Promise.all([1, 2].map(() => WharfProcess.start({ brokers: testBrokers(), topics, env, args: ['--config', file] })))
    nodes = [first, ...rest]
  })
  after(async () => { await Promise.all(nodes.map(n => n.stop())) })

  it('an edge without subscriptions fetches no record of the data topics while a stream runs', async () => {
    const idle = node(2)
    const before = sum(await metrics(idle), 'wharf_kafka_fetched_records_total', dataReader)
    const pub = await connect(node(0).url)
    const sub = await connect(node(1).url)
    const got = collect(sub)
    await sub.subscribeAsync('stream/marker', { qos: 1 })
    await Promise.all(Array.from({ length: 300 }, (_, i) => pub.publishAsync(`stream/${i % 50}`, String(i), { qos: 1 })))
    // the marker is published after the stream and arrives at node 1: the stream is in Kafka by then
    await pub.publishAsync('stream/marker', 'end', { qos: 1 })
    await until(() => got.length === 1, 15000, 'the marker')
    const after = sum(await metrics(idle), 'wharf_kafka_fetched_records_total', dataReader)
    assert.equal(after - before, 0, 'no record fetched by the edge without clients')
    assert.ok(sum(await metrics(node(1)), 'wharf_kafka_fetched_records_total', dataReader, dataTopic) > 0, 'the subscriber\'s edge did fetch (the counter read is the right one)')
    assert.equal(await livePartitions(idle), 0)
    assert.equal(sum(await metrics(idle), 'wharf_kafka_fetch_requests_total', dataReader, dataTopic), 0, 'not even a Fetch request for the data topic')
    await end(pub, sub)
  })

  it('an exact subscription reads one partition of the data topic, a wildcard all of them', async () => {
    const edge = node(2)
    const c = await connect(edge.url)
    await c.subscribeAsync('exact/topic', { qos: 1 })
    assert.equal(await livePartitions(edge), 1, 'one partition for the exact topic (the rule topic is not needed)')
    await c.subscribeAsync('wild/#', { qos: 1 })
    assert.equal(await livePartitions(edge), PARTITIONS, 'every partition of the data topic for the wildcard')
    await c.unsubscribeAsync('wild/#')
    assert.equal(await livePartitions(edge), 1, 'the wildcard gone, the exact topic keeps its partition')
    await end(c)
    await untilAsync(async () => await livePartitions(edge) === 0, 10000, 'every partition released at disconnect')
  })

  it('a subscriber on edge B gets every message a publisher on edge A sends right after the SUBACK, round after round', async () => {
    const pub = await connect(node(0).url)
    const rounds = 40
    let missing = 0
    for (let r = 0; r < rounds; r++) {
      // a new topic each round: the partition is not read by edge B until this SUBSCRIBE
      const topic = `race/${randomUUID().slice(0, 8)}`
      const sub = await connect(node(1).url)
      const got = collect(sub)
      await sub.subscribeAsync(topic, { qos: 1 })
      await pub.publishAsync(topic, 'first', { qos: 1 })
      await pub.publishAsync(topic, 'marker', { qos: 1 })
      await until(() => got.some(m => m.payload === 'marker'), 15000, `round ${r}: the marker`)
      if (!got.some(m => m.payload === 'first')) missing++
      assert.deepEqual(got.map(m => m.payload), ['first', 'marker'], `round ${r}`)
      await end(sub)
    }
    assert.equal(missing, 0)
    await end(pub)
  })

  it('subscribers joining and leaving under a steady stream: nothing lost, nothing twice', async () => {
    const pub = await connect(node(0).url)
    const steady = await connect(node(1).url)
    const steadyGot = collect(steady)
    await steady.subscribeAsync('flow/+', { qos: 1 })
    let sent = 0
    let streaming = true
    const stream = (async () => {
      while (streaming) {
        const batch = Array.from({ length: 20 }, () => pub.publishAsync(`flow/${sent % 7}`, String(sent++), { qos: 1 }))
        await Promise.all(batch)
      }
    })()
    // clients come and go on edge B and C, each on a partition subset of its own
    const churn: Array<{ client: MqttClient; got: ReturnType<typeof collect>; topic: string }> = []
    for (let i = 0; i < 12; i++) {
      const n = node(1 + (i % 2))
      const topic = `flow/${i % 7}`
      const client = await connect(n.url)
      const got = collect(client)
      await client.subscribeAsync(topic, { qos: 1 })
      churn.push({ client, got, topic })
      if (churn.length > 3) await end((churn.shift() as typeof churn[number]).client)
    }
    streaming = false
    await stream
    // one marker per topic: Kafka orders a partition, not the topic's partitions among themselves
    for (let t = 0; t < 7; t++) await pub.publishAsync(`flow/${t}`, 'end', { qos: 1 })
    await until(() => steadyGot.filter(m => m.payload === 'end').length === 7, 30000, 'the end of the stream on every topic')
    const payloads = steadyGot.filter(m => m.payload !== 'end').map(m => Number(m.payload))
    assert.equal(payloads.length, sent, `every one of ${sent} messages once to the steady subscriber`)
    assert.equal(new Set(payloads).size, sent, 'no duplicate')
    for (const { got, topic } of churn) {
      // per topic, one partition: what a churning subscriber got is in order and without a duplicate
      const seq = got.filter(m => m.payload !== 'end').map(m => Number(m.payload))
      assert.deepEqual(seq, [...seq].sort((a, b) => a - b), `${topic} in order`)
      assert.equal(new Set(seq).size, seq.length, `${topic} without duplicates`)
    }
    await end(pub, steady, ...churn.map(c => c.client))
  })

  it('a persistent session resumed on an edge that read none of its partitions gets its backlog, then the live stream', async () => {
    const clientId = `resume-${randomUUID().slice(0, 6)}`
    const topic = `sess/${randomUUID().slice(0, 6)}`
    const first = await connect(node(0).url, { clientId, clean: false })
    await first.subscribeAsync(topic, { qos: 1 })
    await end(first)
    const pub = await connect(node(0).url)
    for (let i = 0; i < 50; i++) await pub.publishAsync(topic, `offline ${i}`, { qos: 1 })
    // edge C has no client on that partition before the resume (the last test's clients' partitions
    // are released as their disconnects are handled)
    await untilAsync(async () => await livePartitions(node(2)) === 0, 10000, 'edge C reads no partition')
    const back = await connect(node(2).url, { clientId, clean: false })
    const got = collect(back)
    for (let i = 0; i < 50; i++) await pub.publishAsync(topic, `live ${i}`, { qos: 1 })
    await until(() => got.length >= 100, 30000, 'backlog and live stream')
    await pub.publishAsync(topic, 'marker', { qos: 1 })
    await until(() => got.some(m => m.payload === 'marker'), 15000, 'the marker')
    const expected = [...Array.from({ length: 50 }, (_, i) => `offline ${i}`), ...Array.from({ length: 50 }, (_, i) => `live ${i}`), 'marker']
    assert.deepEqual(got.map(m => m.payload), expected, 'no gap, no duplicate, in order')
    await end(back, pub)
  })

  it('commands a backend produces, keyed by device, reach the device through its partition alone', async () => {
    const device = `dev-${randomUUID().slice(0, 6)}`
    const edge = node(1)
    const c = await connect(edge.url)
    const got = collect(c)
    await c.subscribeAsync(`cmd/${device}`, { qos: 1 })
    const kafka = new Kafka({ brokers: testBrokers(), clientId: 'scale-test', logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    const admin = kafka.admin()
    await admin.connect()
    const partitions = (await admin.fetchTopicMetadata({ topics: [commands] })).topics[0]?.partitions.length ?? 0
    await admin.disconnect()
    assert.ok(partitions > 0)
    const before = sum(await metrics(edge), 'wharf_kafka_fetched_records_total', dataReader, `kafka_topic="${commands}"`)
    // records for other devices (other keys) and then the command for this one
    const others = Array.from({ length: 30 }, (_, i) => `other-${i}`).filter(k => partitionOf(commands, k, partitions) !== partitionOf(commands, device, partitions))
    await producer.send({ topic: commands, messages: others.map(k => ({ key: k, value: 'not yours' })) })
    await producer.send({ topic: commands, messages: [{ key: device, value: 'reboot' }] })
    await until(() => got.length === 1, 15000, 'the command')
    assert.deepEqual(got.map(m => [m.topic, m.payload]), [[`cmd/${device}`, 'reboot']])
    const fetched = sum(await metrics(edge), 'wharf_kafka_fetched_records_total', dataReader, `kafka_topic="${commands}"`) - before
    assert.equal(fetched, 1, 'only the device\'s partition is fetched: the commands for the others are not')
    await producer.disconnect()
    await end(c)
  })
})
