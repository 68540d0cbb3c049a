import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import type { Packet } from 'mqtt-packet'
import { encodeHot, writeWholePackets } from '../../src/edge/packet-writer.js'

const require = createRequire(import.meta.url)
const mqttPacket = require('mqtt-packet') as { generate: (p: Packet, o?: { protocolVersion?: number }) => Buffer, writeToStream: (p: Packet, s: PassThrough, o?: { protocolVersion?: number }) => boolean }

const topics = ['a', 'bench/1234abcd/7', 'ü/€/𝄞', 'x'.repeat(200)]
const payloads: Array<Buffer | string> = [Buffer.alloc(0), Buffer.from('0123456789abcdef'), Buffer.alloc(1024, 7), Buffer.alloc(16500, 1), 'text ü', '']

test('PUBLISH and PUBACK encoded straight are byte-identical to mqtt-packet', () => {
  let n = 0
  for (const version of [3, 4, 5]) {
    for (const topic of topics) {
      for (const payload of payloads) {
        for (const qos of [0, 1, 2] as const) {
          for (const dup of [false, true]) {
            for (const retain of [false, true]) {
              for (const messageId of [1, 300, 65535]) {
                const packet = { cmd: 'publish', topic, payload, qos, dup, retain, ...(qos > 0 ? { messageId } : {}) } as Packet
                const fast = encodeHot(packet, version)
                assert.ok(fast !== undefined)
                assert.deepEqual(fast, mqttPacket.generate(packet, { protocolVersion: version }), JSON.stringify({ version, topic, qos, dup, retain, messageId, len: payload.length }))
                n++
              }
            }
          }
        }
      }
    }
    for (const messageId of [1, 255, 256, 65535]) {
      const packet = { cmd: 'puback', messageId } as Packet
      const fast = encodeHot(packet, version)
      if (version === 5) { assert.equal(fast, undefined); continue }
      assert.deepEqual(fast, mqttPacket.generate(packet, { protocolVersion: version }))
    }
  }
  // MQTT 5 with an empty properties object: the same single zero byte of property length
  const empty = { cmd: 'publish', topic: 't', payload: Buffer.from('p'), qos: 1, dup: false, retain: false, messageId: 9, properties: {} } as Packet
  assert.deepEqual(encodeHot(empty, 5), mqttPacket.generate(empty, { protocolVersion: 5 }))
  assert.ok(n > 1000)
})

test('what is not a hot packet is left to mqtt-packet', () => {
  const withProps = { cmd: 'publish', topic: 't', payload: Buffer.alloc(1), qos: 0, dup: false, retain: false, properties: { contentType: 'x' } } as Packet
  assert.equal(encodeHot(withProps, 5), undefined)
  assert.equal(encodeHot({ cmd: 'publish', topic: '', payload: Buffer.alloc(1), qos: 0, dup: false, retain: false } as Packet, 5), undefined)
  assert.equal(encodeHot({ cmd: 'publish', topic: 't', payload: Buffer.alloc(1), qos: 1, dup: false, retain: false } as Packet, 4), undefined)
  assert.equal(encodeHot({ cmd: 'pingresp' }, 4), undefined)
})

test('whole-packet writes put the same bytes on the stream, in order, as mqtt-packet', async () => {
  const packets: Packet[] = [
    { cmd: 'publish', topic: 'a/b', payload: Buffer.from('one'), qos: 1, dup: false, retain: false, messageId: 1 },
    { cmd: 'puback', messageId: 7 },
    { cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(20000, 3), qos: 0, dup: false, retain: true },
    { cmd: 'publish', topic: 'c', payload: Buffer.from('v5'), qos: 0, dup: false, retain: false, properties: { userProperties: { k: 'v' } } },
    { cmd: 'pingresp' }
  ]
  const expected = Buffer.concat(packets.map((p, i) => mqttPacket.generate(p, { protocolVersion: i === 3 ? 5 : 4 })))
  assert.ok(writeWholePackets())
  const stream = new PassThrough()
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  packets.forEach((p, i) => mqttPacket.writeToStream(p, stream, { protocolVersion: i === 3 ? 5 : 4 }))
  assert.equal(chunks.length, 0) // corked until the end of the turn
  await new Promise(resolve => setImmediate(resolve))
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(Buffer.concat(chunks), expected)
})
