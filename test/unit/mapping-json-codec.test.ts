import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { KafkaMessage } from 'kafkajs'
import { jsonCodec } from '../../src/mapping/json-codec.js'
import type { MqttMessage } from '../../src/protocol/message.js'

const message: MqttMessage = { topic: 'devices/d1/telemetry', payload: Buffer.from('{"t":21.5}'), qos: 1, retain: true, clientId: 'd1', username: undefined, node: 'edge-1' }

function asRecord (value: Buffer | string | null, headers: Record<string, string> = {}): KafkaMessage {
  return { key: Buffer.from('d1'), value: typeof value === 'string' ? Buffer.from(value) : value, headers, timestamp: '0', attributes: 0, offset: '0' } as KafkaMessage
}

describe('json codec', () => {
  it('encodes an envelope with every field, UTF-8 payload as text, and the raw headers', () => {
    const before = Date.now()
    const out = jsonCodec.encode(message, { topic: 'k', key: 'd1' })
    assert.equal(out.topic, 'k')
    assert.equal(out.key, 'd1')
    const env = JSON.parse(String(out.value)) as Record<string, unknown>
    assert.deepEqual({ ...env, timestamp: 0 }, {
      topic: 'devices/d1/telemetry', payload: '{"t":21.5}', payload_encoding: 'utf8', qos: 1, retain: true, client_id: 'd1', username: null, node: 'edge-1', timestamp: 0, properties: {}
    })
    assert.ok(typeof env.timestamp === 'number' && env.timestamp >= before)
    assert.equal(out.headers?.['mqtt.topic'], 'devices/d1/telemetry')
    assert.equal(out.headers?.['mqtt.qos'], '1')
  })

  it('encodes a payload that is not UTF-8 as base64, and decodes it back', () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80])
    const out = jsonCodec.encode({ ...message, payload: bytes }, { topic: 'k', key: 'd1' })
    const env = JSON.parse(String(out.value)) as Record<string, unknown>
    assert.equal(env.payload_encoding, 'base64')
    assert.equal(env.payload, bytes.toString('base64'))
    const back = jsonCodec.decode(asRecord(out.value as Buffer))
    assert.ok(back.ok)
    assert.deepEqual(back.record.payload, bytes)
    assert.deepEqual([back.record.topic, back.record.qos, back.record.retain, back.record.clientId, back.record.node], ['devices/d1/telemetry', 1, true, 'd1', 'edge-1'])
  })

  it('decodes a minimal backend envelope: payload only, topic and QoS left to the rule', () => {
    const r = jsonCodec.decode(asRecord('{"payload":"reboot"}'))
    assert.ok(r.ok)
    assert.deepEqual([r.record.topic, r.record.qos, String(r.record.payload), r.record.retain], [undefined, undefined, 'reboot', false])
    const h = jsonCodec.decode(asRecord('{"payload":"x"}', { 'mqtt.topic': 't/1', 'mqtt.qos': '2' }))
    assert.ok(h.ok)
    assert.deepEqual([h.record.topic, h.record.qos], ['t/1', 2])
  })

  it('rejects what it cannot decode, with a reason', () => {
    const reason = (v: string | null): string | undefined => { const r = jsonCodec.decode(asRecord(v)); return r.ok ? undefined : r.reason }
    assert.equal(reason('not json'), 'invalid JSON envelope')
    assert.equal(reason(null), 'empty JSON envelope')
    assert.equal(reason('[1]'), 'JSON envelope is not an object')
    assert.equal(reason('{"payload":1}'), 'JSON envelope payload is not a string')
    assert.equal(reason('{"payload":"x","qos":3}'), 'invalid qos in JSON envelope')
    assert.equal(reason('{"payload":"x","payload_encoding":"hex"}'), 'invalid payload_encoding in JSON envelope')
    assert.equal(reason('{"payload":"x","topic":5}'), 'JSON envelope field of the wrong type')
  })
})

describe('json envelope: MQTT 5 properties', () => {
  const properties = { userProperties: { a: ['1', '2'], b: '3' }, contentType: 'text/plain', payloadFormatIndicator: true, responseTopic: 'r/1', correlationData: Buffer.from([0, 1, 255]), messageExpiryInterval: 60 }

  it('writes them in "properties": user properties as [name, value] pairs in order, correlation data in base64; reads them back', () => {
    const out = jsonCodec.encode({ ...message, properties }, { topic: 'k', key: 'd1' })
    const env = JSON.parse(String(out.value)) as Record<string, unknown>
    assert.deepEqual(env.properties, {
      user_properties: [['a', '1'], ['a', '2'], ['b', '3']], content_type: 'text/plain', payload_format_indicator: 1, response_topic: 'r/1', correlation_data: 'AAH/', message_expiry_interval: 60
    })
    const back = jsonCodec.decode(asRecord(out.value as Buffer))
    assert.ok(back.ok)
    assert.deepEqual(back.record.properties, properties)
  })

  it('refuses a backend envelope whose properties have the wrong shape', () => {
    for (const bad of [{ user_properties: { a: '1' } }, { user_properties: [['a']] }, { correlation_data: 5 }, { message_expiry_interval: -1 }, { payload_format_indicator: true }, 'x']) {
      const back = jsonCodec.decode(asRecord(JSON.stringify({ topic: 't', payload: 'p', properties: bad })))
      assert.deepEqual(back, { ok: false, reason: 'invalid properties in JSON envelope' }, JSON.stringify(bad))
    }
  })
})
