import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/*
 * What bench/fuzz.ts found (issue 15), each over a raw socket against a real edge on a real Kafka:
 * the connection at fault is dealt with, and another client's QoS 1 round trip still completes.
 */

/** A raw TCP connection that collects the packets the server sends and notes when it closes. */
async function rawSocket (port: number): Promise<{ socket: Socket; got: Packet[]; closed: Promise<void> }> {
  const socket = tcpConnect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const got: Packet[] = []
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', (p: Packet) => got.push(p))
  socket.on('data', chunk => parser.parse(chunk))
  socket.on('error', () => undefined)
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
  return { socket, got, closed }
}

const bytes = (p: Packet): Buffer => mqttPacket.generate(p)

describe('what the fuzzing harness found', () => {
  let wharf: WharfProcess
  before(async () => { wharf = await WharfProcess.start({ brokers: testBrokers(), topics: uniqueTopics('fuzzfound') }) })
  after(async () => { await wharf.stop() })

  /** another client's QoS 1 round trip through Kafka completes */
  async function roundTrip (label: string): Promise<void> {
    const c = await connect(wharf.url)
    const got = collect(c)
    await c.subscribeAsync(`rt/${label}`, { qos: 1 })
    await c.publishAsync(`rt/${label}`, 'ok', { qos: 1 })
    await until(() => got.length === 1, 15000, `the round trip after ${label}`)
    await end(c)
  }

  it('a PUBLISH right behind the CONNECT, larger than one TCP read, waits for the CONNACK and is written with its client id', async () => {
    const sub = await connect(wharf.url)
    const received = collect(sub)
    await sub.subscribeAsync('big/#', { qos: 1 })
    const topic = 'big/'.padEnd(65535, 'x')
    const raw = await rawSocket(wharf.mqttPort)
    // one write: CONNECT, a QoS 0 PUBLISH with a 65,535-byte topic, PINGREQ (MQTT lets a client send before the CONNACK)
    raw.socket.write(Buffer.concat([
      bytes({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'fuzzfound-big', clean: true, keepalive: 60 }),
      bytes({ cmd: 'publish', topic, payload: Buffer.from('big'), qos: 0, retain: false, dup: false }),
      bytes({ cmd: 'pingreq' })
    ]))
    await until(() => raw.got.some(p => p.cmd === 'pingresp'), 15000, 'PINGRESP')
    assert.deepEqual(raw.got.map(p => p.cmd), ['connack', 'pingresp'])
    await until(() => received.length === 1, 15000, 'the big message')
    assert.equal(received[0]?.topic, topic)
    raw.socket.destroy()
    await end(sub)
    await roundTrip('big')
  })

  it('a CONNECT with will QoS 3 is closed without a CONNACK, and no will is ever written', async () => {
    const sub = await connect(wharf.url)
    const received = collect(sub)
    await sub.subscribeAsync('will3/#', { qos: 1 })
    const raw = await rawSocket(wharf.mqttPort)
    // mqtt-packet writes the will QoS bits as given: 3 (0x18) in the CONNECT flags
    const connectBytes = bytes({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'fuzzfound-will3', clean: true, keepalive: 60, will: { topic: 'will3/gone', payload: Buffer.from('bye'), qos: 2, retain: false } })
    connectBytes[9] = (connectBytes[9] as number) | 0x18
    raw.socket.write(connectBytes)
    await raw.closed
    assert.deepEqual(raw.got.map(p => p.cmd), [])
    // the marker: published after the connection closed, it arrives alone
    const pub = await connect(wharf.url)
    await pub.publishAsync('will3/marker', 'after', { qos: 1 })
    await until(() => received.some(m => m.topic === 'will3/marker'), 15000, 'the marker')
    assert.deepEqual(received.map(m => m.topic), ['will3/marker'])
    await end(sub, pub)
    await roundTrip('will3')
  })
})
