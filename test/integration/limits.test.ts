import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect as tcpConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import mqttPacket, { type Packet } from 'mqtt-packet'
import type { MqttClient } from 'mqtt'
import { collect, connect, end, until, untilAsync } from '../support/mqtt-client.js'
import { loginCode } from '../support/mqtt-login.js'
import { limitEvents, metricValue, ready } from '../support/node-http.js'
import { startPrivateLocalKafka } from '../support/kafka.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/*
 * Issue 15, the input side: what one client sends can never stall, bloat or crash a node. Real
 * Kafka, real clients (mqtt.js, raw sockets for what clients refuse to send).
 */

/** A fixed header: packet type byte and remaining length (varint). */
function fixedHeader (first: number, remaining: number): Buffer {
  const bytes = [first]
  let x = remaining
  do { let b = x % 128; x = Math.floor(x / 128); if (x > 0) b |= 0x80; bytes.push(b) } while (x > 0)
  return Buffer.from(bytes)
}

/** A TCP connection speaking raw MQTT: packets in, every packet out parsed, and its close. */
class Raw {
  readonly packets: Packet[] = []
  readonly closed: Promise<void>
  private constructor (readonly socket: Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', p => this.packets.push(p))
    socket.on('data', d => parser.parse(d))
    socket.on('error', () => undefined)
    this.closed = new Promise(resolve => socket.once('close', () => resolve()))
  }

  static async open (port: number): Promise<Raw> {
    const socket = tcpConnect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    return new Raw(socket)
  }

  /** Opens and CONNECTs; resolves once CONNACK 0 came. */
  static async connected (port: number, clientId: string): Promise<Raw> {
    const raw = await Raw.open(port)
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 60 })
    await until(() => raw.packets.some(p => p.cmd === 'connack'), 15000, 'CONNACK')
    return raw
  }

  send (packet: Packet): void { this.socket.write(mqttPacket.generate(packet)) }
  count (cmd: string): number { return this.packets.filter(p => p.cmd === cmd).length }
  get isClosed (): boolean { return this.socket.destroyed || this.socket.readyState === 'closed' }
}

/** Resolves when the promise settles within `ms`, else fails the test with `what`. */
async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

const dir = mkdtempSync(join(tmpdir(), 'wharf-limits-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** `--config <file>` with these mapping rules (JSON is YAML). */
function rulesConfig (name: string, rules: unknown[]): string[] {
  const file = join(dir, `${name}.yaml`)
  writeFileSync(file, JSON.stringify({ mapping: { rules } }))
  return ['--config', file]
}

/** kafkajs' ConfigResourceTypes.TOPIC (a TypeScript enum that its CommonJS build does not export by name). */
const TOPIC = 2

/** The QoS granted per filter, 0x80 included (mqtt.js calls a SUBACK with a 0x80 an error). */
async function granted (c: MqttClient, filters: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  try {
    return (await c.subscribeAsync(filters)).map(g => g.qos)
  } catch (err) {
    const suback = (err as { packet?: { granted?: number[] } }).packet
    if (suback?.granted === undefined) throw err
    return suback.granted
  }
}

const closedOf = (c: MqttClient): Promise<void> => new Promise(resolve => c.stream.once('close', () => resolve()))

describe('limits on what one client sends', () => {
  let wharf: WharfProcess
  before(async () => {
    wharf = await WharfProcess.start({
      brokers: testBrokers(),
      topics: uniqueTopics('limits'),
      env: {
        WHARF_MQTT__MAX_CLIENTID_LEN: '32',
        WHARF_MQTT__MAX_TOPIC_LEVELS: '5',
        WHARF_MQTT__MAX_SUBSCRIPTIONS: '3',
        WHARF_MQTT__MAX_AWAITING_REL: '2',
        WHARF_MQTT__AWAIT_REL_TIMEOUT: '1s',
        WHARF_MQTT__IDLE_TIMEOUT: '1s',
        WHARF_LISTENERS__TCP__SMALL__BIND: '127.0.0.1:0',
        WHARF_LISTENERS__TCP__SMALL__MAX_CONNECTIONS: '3',
        WHARF_LISTENERS__TCP__SLOW__BIND: '127.0.0.1:0',
        WHARF_LISTENERS__TCP__SLOW__MESSAGES_RATE: '50/s',
        WHARF_LISTENERS__TCP__THIN__BIND: '127.0.0.1:0',
        WHARF_LISTENERS__TCP__THIN__BYTES_RATE: '20KB/s'
      }
    })
  })
  after(async () => { await wharf.stop() })

  it('a 60 MB PUBLISH closes its connection while another client\'s QoS 1 round trip goes on; nothing of it reaches Kafka', async () => {
    const sub = await connect(wharf.url)
    const got = collect(sub)
    await sub.subscribeAsync('big/#', { qos: 1 })
    const other = await connect(wharf.url)
    const big = await connect(wharf.url)
    const bigClosed = closedOf(big)
    big.on('error', () => undefined)
    big.publish('big/one', Buffer.alloc(60 * 1024 * 1024, 1), { qos: 1 })
    const t0 = Date.now()
    await other.publishAsync('big/round-trip', 'small', { qos: 1 })
    await until(() => got.some(m => m.topic === 'big/round-trip'), 5000, 'the other client\'s QoS 1 round trip')
    const roundTripMs = Date.now() - t0
    await within(bigClosed, 10000, 'the 60 MB publisher closed')
    // a marker published after: the subscriber got the round trip and the marker, never the big message
    await other.publishAsync('big/marker', 'after', { qos: 1 })
    await until(() => got.some(m => m.topic === 'big/marker'), 10000, 'the marker')
    assert.deepEqual(got.map(m => m.topic), ['big/round-trip', 'big/marker'])
    assert.ok(await limitEvents(wharf, 'packet_too_large') >= 1, 'counted as packet_too_large')
    console.log(`# 60 MB PUBLISH: another client's QoS 1 round trip took ${roundTripMs} ms`)
    await end(sub, other, big)
  })

  it('a PUBLISH header announcing 200 MB closes the connection before any of its body is sent', async () => {
    const raw = await Raw.connected(wharf.mqttPort, 'huge-header')
    const before = await limitEvents(wharf, 'packet_too_large')
    raw.socket.write(fixedHeader(0x30, 200 * 1024 * 1024))
    await within(raw.closed, 10000, 'the connection closed')
    assert.equal(raw.socket.bytesWritten < 100, true, 'only the CONNECT and the 5-byte header were ever sent')
    await untilAsync(async () => await limitEvents(wharf, 'packet_too_large') > before, 10000, 'packet_too_large counted')
  })

  it('max_connections: the connection over the limit is closed, the others are served', async () => {
    const port = wharf.port('tcp:small')
    const url = `mqtt://127.0.0.1:${port}`
    const clients = [await connect(url), await connect(url), await connect(url)]
    const refused = await Raw.open(port)
    await within(refused.closed, 10000, 'the fourth connection closed')
    const got = collect(clients[0] as MqttClient)
    await clients[0]?.subscribeAsync('small/#', { qos: 1 })
    for (const [i, c] of clients.entries()) await c.publishAsync(`small/${i}`, 'x', { qos: 1 })
    await until(() => got.length === 3, 10000, 'three messages through the small listener')
    assert.ok(await limitEvents(wharf, 'max_connections') >= 1)
    await end(...clients)
  })

  it('messages_rate: a client publishing as fast as it can is held near its rate and loses nothing', async () => {
    const sub = await connect(wharf.url)
    const got = collect(sub)
    await sub.subscribeAsync('rate/#', { qos: 1 })
    const pub = await connect(`mqtt://127.0.0.1:${wharf.port('tcp:slow')}`)
    const n = 200
    const t0 = Date.now()
    const acked = Array.from({ length: n }, (_v, i) => pub.publishAsync('rate/x', String(i), { qos: 1 }))
    await Promise.all(acked)
    await until(() => got.length === n, 30000, `${n} messages`)
    const seconds = (Date.now() - t0) / 1000
    assert.deepEqual(got.map(m => m.payload), Array.from({ length: n }, (_v, i) => String(i)), 'every message, in order')
    // 50/s with a burst of 5: 200 messages cannot take less than (200 - 5) / 50 = 3.9 s
    assert.ok(seconds >= 3.5, `held to its rate (took ${seconds} s)`)
    assert.ok(await limitEvents(wharf, 'rate_limited') >= 1)
    console.log(`# messages_rate 50/s: ${n} QoS 1 messages in ${seconds.toFixed(2)} s = ${(n / seconds).toFixed(1)} msg/s, ${got.length} delivered`)
    await end(sub, pub)
  })

  it('bytes_rate: a client publishing 100 KB at once is held near 20 KB/s and loses nothing', async () => {
    const sub = await connect(wharf.url)
    const got = collect(sub)
    await sub.subscribeAsync('bytes/#', { qos: 1 })
    const pub = await connect(`mqtt://127.0.0.1:${wharf.port('tcp:thin')}`)
    const t0 = Date.now()
    await Promise.all(Array.from({ length: 20 }, (_v, i) => pub.publishAsync('bytes/x', Buffer.alloc(5000, i), { qos: 1 })))
    await until(() => got.length === 20, 30000, '20 messages')
    const seconds = (Date.now() - t0) / 1000
    // 100 KB at 20 KiB/s with a burst of 2 KiB: not less than ~4.8 s
    assert.ok(seconds >= 3.5, `held to its rate (took ${seconds} s)`)
    console.log(`# bytes_rate 20KB/s: 100 KB in ${seconds.toFixed(2)} s = ${(100000 / 1024 / seconds).toFixed(1)} KiB/s`)
    await end(sub, pub)
  })

  it('idle_timeout: a connection that sends no CONNECT is closed', async () => {
    const before = await limitEvents(wharf, 'idle_timeout')
    const raw = await Raw.open(wharf.mqttPort)
    await within(raw.closed, 10000, 'the idle connection closed')
    await untilAsync(async () => await limitEvents(wharf, 'idle_timeout') > before, 10000, 'idle_timeout counted')
  })

  it('max_clientid_len: a longer client id is refused with CONNACK 0x02 and the connection closed', async () => {
    assert.equal(await loginCode(wharf.mqttPort, { clientId: 'x'.repeat(33) }), 2)
    assert.equal(await loginCode(wharf.mqttPort, { clientId: 'y'.repeat(32) }), 0, 'an id of the maximum length is accepted')
    assert.ok(await limitEvents(wharf, 'client_id_too_long') >= 1)
    // the refused connection is closed by the node: a raw CONNECT sees its CONNACK and then the close
    const raw = await Raw.open(wharf.mqttPort)
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'z'.repeat(40), clean: true, keepalive: 60 })
    await within(raw.closed, 10000, 'the refused connection closed')
    assert.deepEqual(raw.packets.map(p => [p.cmd, (p as { returnCode?: number }).returnCode]), [['connack', 2]])
  })

  it('max_topic_levels: a deeper SUBSCRIBE filter is refused (0x80), a deeper PUBLISH closes the connection', async () => {
    const c = await connect(wharf.url)
    assert.deepEqual(await granted(c, { 'a/b/c/d/e/f': { qos: 1 }, 'a/b/c/d/e': { qos: 1 } }), [128, 1])
    const closed = closedOf(c)
    c.on('error', () => undefined)
    c.publish('a/b/c/d/e/f', 'deep', { qos: 1 })
    await within(closed, 10000, 'the publisher closed')
    assert.ok(await limitEvents(wharf, 'topic_levels') >= 2)
    await end(c)
  })

  it('max_subscriptions: filters beyond it are refused (0x80); unsubscribing makes room', async () => {
    const c = await connect(wharf.url)
    assert.deepEqual(await granted(c, { 's/1': { qos: 0 }, 's/2': { qos: 0 }, 's/3': { qos: 0 }, 's/4': { qos: 0 } }), [0, 0, 0, 128])
    assert.deepEqual((await c.subscribeAsync('s/1', { qos: 1 })).map(g => g.qos), [1], 'a filter held may be subscribed again')
    await c.unsubscribeAsync('s/2')
    assert.deepEqual((await c.subscribeAsync('s/4', { qos: 0 })).map(g => g.qos), [0])
    assert.ok(await limitEvents(wharf, 'max_subscriptions') >= 1)
    await end(c)
  })

  it('max_awaiting_rel closes a client with too many QoS 2 PUBLISHes awaiting PUBREL; await_rel_timeout frees their slots', async () => {
    const raw = await Raw.connected(wharf.mqttPort, 'qos2-no-pubrel')
    raw.send({ cmd: 'publish', topic: 'q2/a', payload: Buffer.from('1'), qos: 2, messageId: 1, retain: false, dup: false })
    raw.send({ cmd: 'publish', topic: 'q2/a', payload: Buffer.from('2'), qos: 2, messageId: 2, retain: false, dup: false })
    await until(() => raw.count('pubrec') === 2, 10000, 'two PUBRECs')
    // no PUBREL: after await_rel_timeout (1 s) both are forgotten
    await untilAsync(async () => await limitEvents(wharf, 'await_rel_timeout') >= 2, 15000, 'await_rel_timeout counted twice')
    raw.send({ cmd: 'publish', topic: 'q2/a', payload: Buffer.from('3'), qos: 2, messageId: 3, retain: false, dup: false })
    raw.send({ cmd: 'publish', topic: 'q2/a', payload: Buffer.from('4'), qos: 2, messageId: 4, retain: false, dup: false })
    await until(() => raw.count('pubrec') === 4, 10000, 'two more PUBRECs: the slots were free again')
    assert.equal(raw.isClosed, false)
    raw.send({ cmd: 'publish', topic: 'q2/a', payload: Buffer.from('5'), qos: 2, messageId: 5, retain: false, dup: false })
    await within(raw.closed, 10000, 'the third PUBLISH awaiting PUBREL closed the connection')
    await untilAsync(async () => await limitEvents(wharf, 'awaiting_rel_full') >= 1, 10000, 'awaiting_rel_full counted')
  })
})

describe('mqtt.max_qos_allowed', () => {
  let wharf: WharfProcess
  before(async () => { wharf = await WharfProcess.start({ brokers: testBrokers(), topics: uniqueTopics('maxqos'), env: { WHARF_MQTT__MAX_QOS_ALLOWED: '1' } }) })
  after(async () => { await wharf.stop() })

  it('grants a QoS 2 SUBSCRIBE at QoS 1 and closes a QoS 2 publisher', async () => {
    const c = await connect(wharf.url)
    assert.deepEqual((await c.subscribeAsync('q/#', { qos: 2 })).map(g => g.qos), [1], 'the SUBACK says QoS 1')
    const got = collect(c)
    await c.publishAsync('q/one', 'x', { qos: 1 })
    await until(() => got.length === 1, 10000, 'the QoS 1 message')
    assert.equal(got[0]?.qos, 1)
    const closed = closedOf(c)
    c.on('error', () => undefined)
    c.publish('q/two', 'y', { qos: 2 })
    await within(closed, 10000, 'the QoS 2 publisher closed')
    assert.ok(await limitEvents(wharf, 'qos_not_allowed') >= 1)
    await end(c)
  })
})

describe('a record Kafka refuses fails alone', () => {
  const topics = uniqueTopics('refuse')
  const kafkaTopic = `lim.refuse.${topics.messages.slice(-8)}`
  const kafka = new Kafka({ clientId: 'limits-test', brokers: testBrokers(), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  let wharf: WharfProcess
  before(async () => {
    wharf = await WharfProcess.start({
      brokers: testBrokers(),
      topics,
      env: {
        // long enough that the refused record and the small ones after it share one batch
        WHARF_KAFKA__PRODUCER__LINGER_MS: '200'
      },
      args: rulesConfig('refuse', [{ filter: 'refuse/#', kafka_topic: kafkaTopic }])
    })
    await admin.connect()
    // the topic Wharf created holds a 1 MB PUBLISH; an operator makes it smaller while the node runs
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: TOPIC, name: kafkaTopic, configEntries: [{ name: 'max.message.bytes', value: '2000' }] }] })
    await untilAsync(async () => {
      const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC, name: kafkaTopic, configNames: ['max.message.bytes'] }] })
      return resources[0]?.configEntries[0]?.configValue === '2000'
    }, 10000, 'the topic\'s max.message.bytes changed')
  })
  after(async () => {
    await admin.disconnect()
    await wharf.stop()
  })

  it('the too-large PUBLISH gets no PUBACK and its client is closed; the records after it get through', async () => {
    const sub = await connect(wharf.url)
    const got = collect(sub)
    await sub.subscribeAsync('refuse/#', { qos: 1 })
    const big = await connect(wharf.url)
    const small = await connect(wharf.url)
    const zero = await connect(wharf.url)
    const bigClosed = closedOf(big)
    big.on('error', () => undefined)
    let bigAcked = false
    // the refused record and the small ones after it share one batch (linger 200 ms)
    big.publish('refuse/big', Buffer.alloc(5000, 7), { qos: 1 }, err => { if (err === undefined || err === null) bigAcked = true })
    const smallAcks = Array.from({ length: 5 }, (_v, i) => small.publishAsync(`refuse/small/${i}`, String(i), { qos: 1 }))
    zero.publish('refuse/zero', Buffer.alloc(5000, 9), { qos: 0 })
    await within(Promise.all(smallAcks), 20000, 'the small PUBLISHes acknowledged')
    await within(bigClosed, 20000, 'the client of the refused PUBLISH closed')
    assert.equal(bigAcked, false, 'no PUBACK for the refused PUBLISH')
    // the refused client connects again: its next PUBLISH is acknowledged
    const again = await connect(wharf.url)
    await again.publishAsync('refuse/again', 'small', { qos: 1 })
    await small.publishAsync('refuse/marker', 'after', { qos: 1 })
    await until(() => got.some(m => m.topic === 'refuse/marker') && got.some(m => m.topic === 'refuse/again'), 15000, 'the marker')
    // each MQTT topic is its own key (partition): order holds per topic, not across them; nothing twice, the big one never
    assert.deepEqual(got.map(m => m.topic).sort(), ['refuse/again', 'refuse/marker', 'refuse/small/0', 'refuse/small/1', 'refuse/small/2', 'refuse/small/3', 'refuse/small/4'])
    assert.equal(zero.connected, true, 'the QoS 0 publisher stays connected (its message is dropped and counted)')
    assert.ok(await metricValue(wharf, 'wharf_kafka_refused_records_total', { error: 'MESSAGE_TOO_LARGE' }) >= 2)
    assert.ok(await limitEvents(wharf, 'kafka_rejected') >= 2)
    await wharf.waitForLog('Kafka refused a record for good')
    await end(sub, big, small, zero, again)
  })
})

describe('mqtt.max_packet_size against the topics\' max.message.bytes at start', () => {
  it('a data topic too small for the largest packet stops the start (exit 2, naming the key and the fix); a max_packet_size whose worst-case record fits (topic in key and header: about twice the packet) starts', async () => {
    const topics = uniqueTopics('fit')
    const admin = new Kafka({ clientId: 'limits-test', brokers: testBrokers(), logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: topics.messages, numPartitions: 3, configEntries: [{ name: 'max.message.bytes', value: '100000' }] }] })
    } finally {
      await admin.disconnect()
    }
    const refused = await WharfProcess.start({ brokers: testBrokers(), topics, waitReady: false })
    const { code } = await within(refused.exited, 60000, 'wharf start exited')
    assert.equal(code, 2)
    // the last lines may come after the exit
    await until(() => refused.lines.some(l => l.includes('kafka-configs.sh')), 5000, 'the error line')
    const said = refused.lines.join('\n')
    assert.match(said, /mqtt\.max_packet_size/)
    assert.match(said, new RegExp(`kafka-configs.sh --alter --entity-type topics --entity-name ${topics.messages.replace(/\./g, '\\.')} --add-config max\\.message\\.bytes=\\d+`))
    const fits = await WharfProcess.start({ brokers: testBrokers(), topics, env: { WHARF_MQTT__MAX_PACKET_SIZE: '40KB', WHARF_KAFKA__PRODUCER__BATCH_MAX_BYTES: '65536' } })
    try {
      const c = await connect(fits.url)
      await c.publishAsync('fit/x', Buffer.alloc(30 * 1024, 1), { qos: 1 })
      await end(c)
    } finally {
      await fits.stop()
    }
  })
})

describe('overload protection', () => {
  it('a tiny RSS watermark: new CONNECTs get 0x03, /ready stays 200 and says overloaded', async () => {
    const wharf = await WharfProcess.start({
      brokers: testBrokers(),
      topics: uniqueTopics('overload-rss'),
      env: { WHARF_OVERLOAD_PROTECTION__RSS_HIGH_WATERMARK: '1MB', WHARF_OVERLOAD_PROTECTION__RSS_LOW_WATERMARK: '1MB' }
    })
    try {
      assert.equal(await loginCode(wharf.mqttPort, { clientId: 'refused-when-overloaded' }), 3)
      const r = await ready(wharf)
      assert.equal(r.status, 200)
      assert.equal(r.body.overloaded, true)
      assert.deepEqual(r.body.reasons, ['rss'])
      assert.equal(await metricValue(wharf, 'wharf_overloaded'), 1)
      assert.ok(await limitEvents(wharf, 'overloaded') >= 1)
    } finally {
      await wharf.stop()
    }
  })

  // stops and restarts Kafka, so it runs a Kafka of its own whatever KAFKA_BROKERS says
  it('Kafka acknowledging nothing makes the node overloaded; it recovers by itself when Kafka does again', async () => {
    const kafka = await startPrivateLocalKafka({ nodes: 1 })
    let wharf: WharfProcess | undefined
    try {
      wharf = await WharfProcess.start({
        brokers: kafka.brokers,
        topics: uniqueTopics('overload-kafka'),
        env: { WHARF_OVERLOAD_PROTECTION__KAFKA_ACK_TIMEOUT: '1s', WHARF_OVERLOAD_PROTECTION__CHECK_INTERVAL: '100ms' }
      })
      const node = wharf
      const pub = await connect(node.url)
      await pub.publishAsync('stall/before', 'acknowledged', { qos: 1 })
      await kafka.stopNode(1, 'SIGTERM')
      let acked = false
      const ack = pub.publishAsync('stall/x', 'waits', { qos: 1 }).then(() => { acked = true })
      await untilAsync(async () => (await ready(node)).body.overloaded === true, 30000, '/ready overloaded')
      const r = await ready(node)
      assert.equal(r.status, 200)
      assert.deepEqual(r.body.reasons, ['kafka_ack_stalled'])
      assert.equal(acked, false)
      assert.equal(await loginCode(node.mqttPort, { clientId: 'while-stalled' }), 3)
      assert.ok(await limitEvents(node, 'overloaded') >= 1)
      // Kafka is back: the PUBACK goes out and the node recovers by itself
      await kafka.startNode(1)
      await within(ack, 60000, 'the held PUBACK')
      await untilAsync(async () => (await ready(node)).body.overloaded === false, 15000, '/ready not overloaded')
      assert.equal(await loginCode(node.mqttPort, { clientId: 'after-recovery' }), 0)
      assert.equal(await metricValue(node, 'wharf_overloaded'), 0)
      await end(pub)
    } finally {
      await wharf?.stop()
      await kafka.cleanup()
    }
  })
})
