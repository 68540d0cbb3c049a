import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect } from 'node:net'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/** Write bytes on a fresh TCP connection and resolve when the server closes it. */
function sendRaw (port: number, bytes: Buffer): Promise<'closed' | 'open'> {
  return new Promise(resolve => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(bytes))
    const timer = setTimeout(() => { socket.destroy(); resolve('open') }, 10000)
    socket.on('error', () => undefined)
    socket.on('close', () => { clearTimeout(timer); resolve('closed') })
  })
}

describe('malformed input closes that one connection only', () => {
  let wharf: WharfProcess
  before(async () => { wharf = await WharfProcess.start({ brokers: testBrokers(), topics: uniqueTopics('malformed') }) })
  after(async () => { await wharf.stop() })

  it('keeps other clients working while garbage connections are closed', async () => {
    const sub = await connect(wharf.url)
    const pub = await connect(wharf.url)
    const got = collect(sub)
    await sub.subscribeAsync('ok/#', { qos: 1 })

    // not MQTT at all
    assert.equal(await sendRaw(wharf.mqttPort, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), 'closed')
    // a CONNECT with a bad protocol name
    assert.equal(await sendRaw(wharf.mqttPort, Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x58, 0x58, 0x58, 0x58, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00])), 'closed')
    // a reserved packet type (0) with random bytes
    assert.equal(await sendRaw(wharf.mqttPort, Buffer.from([0x00, 0x03, 0xde, 0xad, 0xbe])), 'closed')

    await pub.publishAsync('ok/still', 'working', { qos: 1 })
    await until(() => got.length === 1)
    assert.equal(got[0]?.payload, 'working')
    assert.ok(sub.connected && pub.connected)
    await end(sub, pub)
  })

  it('closes a connected client that then sends a malformed packet', async () => {
    const other = await connect(wharf.url)
    const bad = await connect(wharf.url)
    const closed = new Promise<void>(resolve => bad.stream.once('close', () => resolve()))
    bad.stream.write(Buffer.from([0x30, 0x02, 0xff, 0xff])) // PUBLISH whose topic length runs past the packet
    await closed
    const got = collect(other)
    await other.subscribeAsync('after/bad', { qos: 1 })
    await other.publishAsync('after/bad', 'fine', { qos: 1 })
    await until(() => got.length === 1)
    await end(other, bad)
  })
})
