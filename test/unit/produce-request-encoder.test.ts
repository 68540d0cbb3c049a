import { afterEach, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { kafkajsProduceInternals } from '../../src/kafka/kafkajs-internals.js'
import { patchKafkajsProduce } from '../../src/kafka/kafkajs-produce.js'
import { encodeProduceRequest, type ProduceMessage, type ProduceRequestArgs } from '../../src/kafka/produce-request-encoder.js'

const require = createRequire(import.meta.url)
type RequestFactory = (args: object) => { apiVersion: number; encode: () => Promise<{ buffer: Buffer }> }
interface Long { fromNumber: (n: number) => unknown; fromString: (s: string) => unknown; fromInt: (n: number) => unknown }
const Lng = require('kafkajs/src/utils/long.js') as Long
const VERSIONS = [3, 4, 5, 6, 7]
const NOW = 1_733_000_000_123

/** kafkajs' own bytes for a Produce request of `version` (its request factory, unpatched: the patch wraps the definition, not these). */
async function kafkajsBytes (version: number, args: ProduceRequestArgs): Promise<Buffer> {
  const factory = require(`kafkajs/src/protocol/requests/produce/v${version}/request.js`) as RequestFactory
  const request = factory(args)
  assert.equal(request.apiVersion, version)
  return (await request.encode()).buffer
}

function deps (): Parameters<typeof encodeProduceRequest>[1] {
  const i = kafkajsProduceInternals()
  return { int64Bits: i.int64Bits }
}

/** Wharf-like records: MQTT headers, keys of MQTT topics, some null keys and values, sizes across varint boundaries. */
function wharfMessages (n: number, base: number): ProduceMessage[] {
  return Array.from({ length: n }, (_v, i) => ({
    key: i % 7 === 3 ? null : `devices/${base + i}/temp`,
    value: i % 5 === 0 ? null : Buffer.alloc((i * 37) % 1500, i),
    headers: {
      'mqtt.topic': `devices/${base + i}/temp`,
      'mqtt.qos': '1',
      'mqtt.retain': 'false',
      'mqtt.client_id': 'c-é😀',
      'mqtt.node': Buffer.from('node-1'),
      ...(i % 3 === 0 ? { 'mqtt.username': 'x'.repeat(i) } : {})
    }
  }))
}

function oddMessages (): ProduceMessage[] {
  return [
    { value: 'no key, string value' },
    { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: {} },
    { key: 'k', value: 'v'.repeat(70), headers: { multi: ['a', Buffer.from('b'), 'ü'.repeat(40)], empty: [], '': '' } },
    { key: '€'.repeat(30), value: Buffer.alloc(9000, 7), headers: { ['h'.repeat(200)]: 'x'.repeat(10_000) } },
    { key: 'lone \ud800 surrogate', value: null, headers: { 'lone\udc00': 'a\ud83d' } }
  ]
}

const CASES: Array<{ name: string; args: ProduceRequestArgs }> = [
  {
    name: 'idempotent, several topics and partitions, 200 records in one batch',
    args: {
      acks: -1,
      timeout: 30000,
      producerId: Lng.fromNumber(4242),
      producerEpoch: 3,
      topicData: [
        { topic: 'mqtt.messages', partitions: [{ partition: 0, firstSequence: 17, messages: wharfMessages(200, 0) }, { partition: 2, firstSequence: 0, messages: wharfMessages(1, 500) }] },
        { topic: 'wharf.retained-ü', partitions: [{ partition: 1, firstSequence: 2_000_000_000, messages: wharfMessages(3, 900) }] }
      ]
    }
  },
  { name: 'one record, no producer id (not idempotent)', args: { acks: 1, timeout: 5000, topicData: [{ topic: 't', partitions: [{ partition: 5, messages: wharfMessages(1, 1) }] }] } },
  { name: 'partition keys as kafkajs passes them (strings), odd values and headers', args: { acks: -1, timeout: 100, producerId: Lng.fromString('9223372036854775807'), producerEpoch: 32767, topicData: [{ topic: 'odd', partitions: [{ partition: '3' as unknown as number, firstSequence: 5, messages: oddMessages() }] }] } },
  { name: 'transactional', args: { acks: -1, timeout: 30000, transactionalId: 'tx-é', producerId: Lng.fromInt(7), producerEpoch: 1, topicData: [{ topic: 't', partitions: [{ partition: 0, firstSequence: 1, messages: wharfMessages(20, 0) }] }] } },
  { name: 'empty transactional id (not transactional for kafkajs)', args: { acks: 0, timeout: 1, transactionalId: '', producerId: -5, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: wharfMessages(2, 0) }] }] } },
  { name: 'no topics', args: { acks: -1, timeout: 30000, topicData: [] } }
]

describe('Produce request encoder', () => {
  const realNow = Date.now
  beforeEach(() => { Date.now = () => NOW })
  afterEach(() => { Date.now = realNow })

  for (const c of CASES) {
    it(`writes kafkajs' bytes for every Produce version: ${c.name}`, async () => {
      const ours = encodeProduceRequest(c.args, deps())
      assert.ok(ours !== undefined)
      for (const v of VERSIONS) assert.deepEqual(ours, await kafkajsBytes(v, c.args), `v${v}`)
    })
  }

  it('leaves to kafkajs what it does not write: compression, message timestamps, values kafkajs would refuse', () => {
    const one = (m: ProduceMessage, compression?: number): ProduceRequestArgs => ({ acks: -1, timeout: 1, ...(compression === undefined ? {} : { compression }), topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [m] }] }] })
    assert.equal(encodeProduceRequest(one({ value: 'v' }, 1), deps()), undefined)
    assert.equal(encodeProduceRequest(one({ value: 'v', timestamp: '1700000000000' }), deps()), undefined)
    assert.equal(encodeProduceRequest(one({ value: 5 as unknown as string }), deps()), undefined)
    assert.equal(encodeProduceRequest(one({ value: 'v', headers: { h: undefined } }), deps()), undefined)
    assert.equal(encodeProduceRequest(one({ value: 'v', headers: { h: [null] } }), deps()), undefined)
    assert.notEqual(encodeProduceRequest(one({ value: 'v' }, 0), deps()), undefined)
  })

  it('is what kafkajs brokers use once patched, with kafkajs encoding what the fast path leaves', async () => {
    assert.equal(patchKafkajsProduce(), true)
    assert.equal(patchKafkajsProduce(), true, 'patching twice is harmless')
    const { requests } = require('kafkajs/src/protocol/requests/index.js') as { requests: { Produce: { protocol: (o: { version: number }) => (a: object) => { request: { encode: () => Promise<{ buffer: Buffer }> } } } } }
    const gzip = { ...(CASES[1] as { args: ProduceRequestArgs }).args, compression: 1 }
    for (const v of VERSIONS) {
      for (const c of CASES) {
        const patched = await requests.Produce.protocol({ version: v })(c.args).request.encode()
        assert.deepEqual(patched.buffer, await kafkajsBytes(v, c.args), `${c.name} v${v}`)
      }
      const compressed = await requests.Produce.protocol({ version: v })(gzip).request.encode()
      assert.deepEqual(compressed.buffer, await kafkajsBytes(v, gzip), `gzip v${v}`)
    }
  })
})
