import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import mqttPacket, { type IPublishPacket } from 'mqtt-packet'
import { publishWireSize } from '../../src/edge/mqtt5-wire.js'
import { payloadFormatValid } from '../../src/edge/publish-hook.js'
import { kafkaRefusalReasonCode, REASON } from '../../src/protocol/reason-codes.js'

describe('publishWireSize: an MQTT 5 PUBLISH as mqtt-packet encodes it', () => {
  const cases: Array<{ topic: string; payload: Buffer | string; qos: 0 | 1 | 2; properties?: IPublishPacket['properties'] }> = [
    { topic: 'a', payload: Buffer.alloc(0), qos: 0 },
    { topic: 'a/b', payload: 'hello', qos: 1 },
    { topic: 'x'.repeat(60), payload: Buffer.alloc(60), qos: 2 },
    { topic: 't', payload: Buffer.alloc(120), qos: 1 }, // remaining length crosses 127
    { topic: 't', payload: Buffer.alloc(20_000), qos: 1, properties: { userProperties: { a: 'b', c: ['d', 'e'] }, contentType: 'text/plain', subscriptionIdentifier: 300 } },
    { topic: 'żółw/é', payload: 'ünïcödé', qos: 0, properties: { payloadFormatIndicator: true, messageExpiryInterval: 30, correlationData: Buffer.from([1, 2]) } }
  ]
  for (const c of cases) {
    it(`${c.topic.slice(0, 10)} qos ${c.qos}, ${typeof c.payload === 'string' ? c.payload.length : c.payload.length} bytes${c.properties === undefined ? '' : ', properties'}`, () => {
      const encoded = mqttPacket.generate({ cmd: 'publish', retain: false, dup: false, messageId: c.qos > 0 ? 7 : undefined, ...c } as IPublishPacket, { protocolVersion: 5 })
      assert.equal(publishWireSize(c), encoded.length)
    })
  }
})

describe('payloadFormatValid (Payload Format Indicator 1 means UTF-8)', () => {
  const packet = (payload: Buffer | string, pfi?: boolean): Parameters<typeof payloadFormatValid>[0] =>
    ({ cmd: 'publish', topic: 't', payload, qos: 0, retain: false, dup: false, properties: pfi === undefined ? undefined : { payloadFormatIndicator: pfi } }) as Parameters<typeof payloadFormatValid>[0]
  it('checks only payloads that claim to be UTF-8', () => {
    assert.equal(payloadFormatValid(packet(Buffer.from([0xff]))), true)
    assert.equal(payloadFormatValid(packet(Buffer.from([0xff]), false)), true)
    assert.equal(payloadFormatValid(packet(Buffer.from([0xff]), true)), false)
    assert.equal(payloadFormatValid(packet(Buffer.from([0xc3, 0x28]), true)), false, 'a broken two-byte sequence')
    assert.equal(payloadFormatValid(packet(Buffer.from('żółw'), true)), true)
    assert.equal(payloadFormatValid(packet(Buffer.alloc(0), true)), true)
  })
})

describe('kafkaRefusalReasonCode', () => {
  it('too large: quota exceeded; authorization: not authorized; anything else: unspecified', () => {
    assert.equal(kafkaRefusalReasonCode('MESSAGE_TOO_LARGE'), REASON.quotaExceeded)
    assert.equal(kafkaRefusalReasonCode('RECORD_LIST_TOO_LARGE'), REASON.quotaExceeded)
    assert.equal(kafkaRefusalReasonCode('TOPIC_AUTHORIZATION_FAILED'), REASON.notAuthorized)
    assert.equal(kafkaRefusalReasonCode('INVALID_RECORD'), REASON.unspecifiedError)
    assert.equal(kafkaRefusalReasonCode('POLICY_VIOLATION'), REASON.unspecifiedError)
  })
})
