import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IHeaders, KafkaMessage } from 'kafkajs'
import type { OutgoingRecord } from '../../src/kafka/batching-producer.js'
import { HEADER } from '../../src/mapping/codec.js'
import { Mapping, type MapResult as DecodeResult } from '../../src/mapping/mapping.js'
import type { MqttMessage } from '../../src/protocol/message.js'

// The raw format as the data path uses it: a Mapping without rules (data topic, raw, key = MQTT topic)
const encodeRecord = (kafkaTopic: string, msg: MqttMessage) => new Mapping([], kafkaTopic).encode(msg)
const dataTopic = new Mapping([], 'wharf.data')
const decodeRecord = (record: Parameters<Mapping['decode']>[1]): DecodeResult => dataTopic.decode('wharf.data', record)

/** Headers as they come back from Kafka: every value a Buffer. */
function bufferHeaders (headers: IHeaders | undefined): IHeaders {
  const out: IHeaders = {}
  for (const [name, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue
    out[name] = Array.isArray(v) ? v.map(x => Buffer.from(x)) : Buffer.from(v)
  }
  return out
}

/** A kafkajs-like consumed record. (`size` is left out: kafkajs types forbid it next to `headers`.) */
function kafkaMessage (key: Buffer | null, value: Buffer | null, headers: IHeaders = {}): KafkaMessage {
  return { key, value, headers, offset: '0', timestamp: '0', attributes: 0 }
}

/** What a consumer would see for a record this node produced. */
function asConsumed (r: OutgoingRecord): KafkaMessage {
  const key = r.key === null ? null : Buffer.from(r.key)
  return kafkaMessage(key, r.value, bufferHeaders(r.headers))
}

function decoded (result: DecodeResult): MqttMessage {
  if (!result.ok) assert.fail(`expected ok, got: ${result.reason}`)
  return result.message
}

function notOk (result: DecodeResult): string {
  if (result.ok) assert.fail(`expected not ok, got ${JSON.stringify(result.message)}`)
  assert.equal(typeof result.reason, 'string')
  assert.ok(result.reason.length > 0)
  return result.reason
}

describe('encodeRecord', () => {
  it('puts the MQTT topic in the key and the metadata in headers', () => {
    const msg: MqttMessage = { topic: 'sport/tennis', payload: Buffer.from('hi'), qos: 1, retain: true, clientId: 'c1', username: 'u', node: 'n1' }
    const r = encodeRecord('wharf.data', msg)
    assert.equal(r.topic, 'wharf.data')
    assert.equal(r.key, 'sport/tennis')
    assert.ok(r.value !== null && r.value.equals(Buffer.from('hi')))
    assert.deepEqual(r.headers, {
      [HEADER.topic]: 'sport/tennis',
      [HEADER.qos]: '1',
      [HEADER.retain]: 'true',
      [HEADER.clientId]: 'c1',
      [HEADER.username]: 'u',
      [HEADER.node]: 'n1'
    })
  })

  it('leaves absent optional fields out of the headers', () => {
    const r = encodeRecord('t', { topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: false })
    assert.deepEqual(r.headers, { [HEADER.topic]: 'a', [HEADER.qos]: '0', [HEADER.retain]: 'false' })
  })

  it('uses the documented header names', () => {
    assert.deepEqual(HEADER, {
      topic: 'mqtt.topic',
      qos: 'mqtt.qos',
      retain: 'mqtt.retain',
      clientId: 'mqtt.client_id',
      username: 'mqtt.username',
      node: 'mqtt.node'
    })
  })
})

describe('encodeRecord then decodeRecord', () => {
  const cases: MqttMessage[] = [
    { topic: 'sport/tennis/player1', payload: Buffer.from('score 15-0'), qos: 0, retain: false },
    { topic: 'a', payload: Buffer.from([0, 1, 2, 255]), qos: 1, retain: true, clientId: 'client-1' },
    { topic: '$SYS/x', payload: Buffer.alloc(0), qos: 2, retain: false, clientId: 'c', username: 'alice', node: 'wharf@host' },
    { topic: 'ünïcode/€/topic', payload: Buffer.from('ü'), qos: 2, retain: true, username: 'bob' },
    { topic: 'a//b/', payload: Buffer.alloc(1000, 7), qos: 1, retain: false, node: 'n' }
  ]

  for (const msg of cases) {
    it(`round-trips ${JSON.stringify(msg.topic)} qos ${msg.qos}`, () => {
      const out = decoded(decodeRecord(asConsumed(encodeRecord('wharf.data', msg))))
      assert.equal(out.topic, msg.topic)
      assert.ok(out.payload.equals(msg.payload))
      assert.equal(out.qos, msg.qos)
      assert.equal(out.retain, msg.retain)
      assert.equal(out.clientId, msg.clientId)
      assert.equal(out.username, msg.username)
      assert.equal(out.node, msg.node)
    })
  }

  it('also decodes string header values', () => {
    const r = encodeRecord('t', { topic: 'x/y', payload: Buffer.from('p'), qos: 2, retain: true, clientId: 'c' })
    const out = decoded(decodeRecord(kafkaMessage(Buffer.from('x/y'), r.value, r.headers)))
    assert.equal(out.topic, 'x/y')
    assert.equal(out.qos, 2)
    assert.equal(out.retain, true)
    assert.equal(out.clientId, 'c')
  })
})

describe('decodeRecord', () => {
  it('uses the key as the topic when there is no mqtt.topic header', () => {
    const out = decoded(decodeRecord(kafkaMessage(Buffer.from('devices/42/cmd'), Buffer.from('on'))))
    assert.equal(out.topic, 'devices/42/cmd')
    assert.ok(out.payload.equals(Buffer.from('on')))
    assert.equal(out.qos, 0)
    assert.equal(out.retain, false)
    assert.equal(out.clientId, undefined)
    assert.equal(out.username, undefined)
    assert.equal(out.node, undefined)
  })

  it('also works for a record with no headers property at all', () => {
    const record = { key: Buffer.from('k'), value: Buffer.from('v'), offset: '0', timestamp: '0', attributes: 0, size: 0 } satisfies KafkaMessage
    assert.equal(decoded(decodeRecord(record)).topic, 'k')
  })

  it('prefers the mqtt.topic header over the key', () => {
    const out = decoded(decodeRecord(kafkaMessage(Buffer.from('key/topic'), Buffer.from('v'), { [HEADER.topic]: Buffer.from('header/topic') })))
    assert.equal(out.topic, 'header/topic')
  })

  it('takes the last value of a repeated header', () => {
    const out = decoded(decodeRecord(kafkaMessage(null, Buffer.from('v'), {
      [HEADER.topic]: [Buffer.from('first'), Buffer.from('last')],
      [HEADER.qos]: [Buffer.from('2'), Buffer.from('1')]
    })))
    assert.equal(out.topic, 'last')
    assert.equal(out.qos, 1)
  })

  it('is not ok without a topic header and without a key', () => {
    const reason = notOk(decodeRecord(kafkaMessage(null, Buffer.from('v'))))
    assert.match(reason, /topic|key/)
  })

  it('is not ok for an empty topic', () => {
    notOk(decodeRecord(kafkaMessage(Buffer.alloc(0), Buffer.from('v'))))
    notOk(decodeRecord(kafkaMessage(null, Buffer.from('v'), { [HEADER.topic]: Buffer.alloc(0) })))
  })

  for (const qos of ['3', '-1', 'x', '', '01', '1.0', ' 1', '/']) {
    it(`is not ok for mqtt.qos ${JSON.stringify(qos)}`, () => {
      const reason = notOk(decodeRecord(kafkaMessage(Buffer.from('a'), Buffer.from('v'), { [HEADER.qos]: Buffer.from(qos) })))
      assert.match(reason, /qos/)
    })
  }

  for (const topic of ['a/+', 'a/#', '#', '+', 'sport/+/x', 'nul\u0000here']) {
    it(`is not ok for the topic ${JSON.stringify(topic)}`, () => {
      notOk(decodeRecord(kafkaMessage(null, Buffer.from('v'), { [HEADER.topic]: Buffer.from(topic) })))
      notOk(decodeRecord(kafkaMessage(Buffer.from(topic), Buffer.from('v'))))
    })
  }

  it('gives an empty payload for a null value', () => {
    const out = decoded(decodeRecord(kafkaMessage(Buffer.from('a/b'), null)))
    assert.ok(Buffer.isBuffer(out.payload))
    assert.equal(out.payload.length, 0)
  })

  it('takes a header with a null value (Kafka allows one) for absent, instead of failing the batch', () => {
    const nulls = (names: string[]): IHeaders => Object.fromEntries(names.map(n => [n, null])) as unknown as IHeaders
    const out = decoded(decodeRecord(kafkaMessage(Buffer.from('a/b'), Buffer.from('v'),
      nulls([HEADER.topic, HEADER.qos, HEADER.retain, HEADER.clientId, HEADER.username, HEADER.node, 'mqtt.content_type', 'mqtt.user.k']))))
    assert.equal(out.topic, 'a/b', 'the key names the topic when the topic header is null')
    assert.equal(out.qos, 0)
    assert.equal(out.retain, false)
    assert.equal(out.clientId, undefined)
    assert.equal(out.node, undefined)
    assert.equal(out.properties, undefined)
    const repeated = decoded(decodeRecord(kafkaMessage(Buffer.from('a'), null, { [HEADER.node]: [Buffer.from('n1'), null] } as unknown as IHeaders)))
    assert.equal(repeated.node, undefined, 'the last of repeated values is null: absent')
  })

  it('reads the node name of records from several nodes, each its own', () => {
    const names = Array.from({ length: 12 }, (_v, i) => `wharf@node-${i}`)
    for (let round = 0; round < 3; round++) {
      for (const n of names) {
        const out = decoded(decodeRecord(kafkaMessage(Buffer.from('a'), null, { [HEADER.node]: Buffer.from(n) })))
        assert.equal(out.node, n)
      }
    }
    const text = decoded(decodeRecord(kafkaMessage(Buffer.from('a'), null, { [HEADER.node]: 'as-string' }))).node
    assert.equal(text, 'as-string')
  })

  it('reads retain only from the exact value true', () => {
    for (const [v, expected] of [['true', true], ['false', false], ['TRUE', false], ['1', false], ['truex', false], ['tru', false], ['', false]] as const) {
      const out = decoded(decodeRecord(kafkaMessage(Buffer.from('a'), null, { [HEADER.retain]: Buffer.from(v) })))
      assert.equal(out.retain, expected, v)
    }
  })
})

describe('decodeEach', () => {
  it('refuses a record whose decoding throws and goes on with the next ones (a throw would fail the whole fetched batch)', async () => {
    const throwing = { key: Buffer.from('a/b'), value: Buffer.from('v'), offset: '1', timestamp: '0', attributes: 0, get headers (): IHeaders { throw new Error('broken record') } } as unknown as KafkaMessage
    const records = [kafkaMessage(Buffer.from('a/1'), Buffer.from('x')), throwing, kafkaMessage(Buffer.from('a/2'), Buffer.from('y'))]
    const seen: string[] = []
    await dataTopic.decodeEach('wharf.data', 0, records, (result) => { seen.push(result.ok ? result.message.topic : `refused: ${result.reason}`) })
    assert.deepEqual(seen, ['a/1', 'refused: record cannot be decoded', 'a/2'])
  })
})
