import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { kafkajsEncoder, patchKafkajsEncoder } from '../../src/kafka/kafkajs-encoder.js'

const require = createRequire(import.meta.url)

interface Encoder {
  buffer: Buffer
  writeVarInt: (v: number) => Encoder
  writeUVarInt: (v: number) => Encoder
  writeVarLong: (v: unknown) => Encoder
  writeInt64: (v: unknown) => Encoder
  writeVarIntString: (v: string | null) => Encoder
  writeVarIntBytes: (v: Buffer | string | null) => Encoder
  writeString: (v: string | null) => Encoder
  writeBytes: (v: Buffer | null) => Encoder
}
type EncoderCtor = new () => Encoder
interface Long { fromString: (s: string) => unknown; fromNumber: (n: number) => unknown }

const VARINTS = [0, 1, -1, 63, -64, 64, 127, 128, 300, -300, 8191, 8192, 16383, 16384, 2 ** 20, -(2 ** 20), 2 ** 28, 2 ** 30 - 1, -(2 ** 30), 2 ** 31 - 1, -(2 ** 31)]
const VARLONGS: unknown[] = [...VARINTS, 2 ** 30, -(2 ** 30) - 1, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER, 1.5e12, '12345', '-9007199254740993']

/** Everything the patch touches, written with whatever Encoder is installed right now. */
function sample (Enc: EncoderCtor, Lng: Long): Buffer[] {
  const out: Buffer[] = []
  for (const v of VARINTS) out.push(new Enc().writeVarInt(v).buffer)
  for (const v of VARINTS) out.push(new Enc().writeUVarInt(v).buffer)
  for (const v of VARLONGS) out.push(new Enc().writeVarLong(v).buffer)
  out.push(new Enc().writeVarLong(Lng.fromString('-9223372036854775808')).buffer)
  out.push(new Enc().writeVarLong(Lng.fromNumber(5)).buffer)
  out.push(new Enc().writeInt64(Lng.fromString('1234567890123')).buffer)
  // growth across the first allocation and across powers of two
  const big = new Enc()
  for (let i = 0; i < 3000; i++) big.writeVarIntString(`k${i}`).writeVarIntBytes(Buffer.alloc(i % 70, i % 251)).writeString('s').writeBytes(null)
  out.push(big.buffer)
  out.push(new Enc().writeVarIntBytes(null).writeVarIntString(null).writeVarIntString('é€😀').buffer)
  return out
}

/** A whole Produce request (v7, the one kafkajs uses with Kafka 3.x) with headers and several partitions. */
async function produceRequest (): Promise<Buffer> {
  const request = require('kafkajs/src/protocol/requests/produce/v7/request.js') as (args: object) => { encode: () => Promise<{ buffer: Buffer }> }
  const Lng = require('kafkajs/src/utils/long.js') as Long
  const messages = (n: number, base: number): object[] => Array.from({ length: n }, (_v, i) => ({
    key: `devices/${base + i}/temp`,
    value: i % 5 === 0 ? null : Buffer.alloc((i * 37) % 1500, i),
    timestamp: String(1_700_000_000_000 + i * 3),
    headers: { 'mqtt.topic': `devices/${base + i}/temp`, 'mqtt.qos': '1', 'mqtt.retain': 'false', 'mqtt.client_id': 'c-é', 'mqtt.node': Buffer.from('node-1'), multi: ['a', 'b'] }
  }))
  const req = request({
    acks: -1,
    timeout: 30000,
    producerId: Lng.fromNumber(4242),
    producerEpoch: 3,
    topicData: [
      { topic: 'mqtt.messages', partitions: [{ partition: 0, firstSequence: 17, messages: messages(200, 0) }, { partition: 2, firstSequence: 0, messages: messages(1, 500) }] },
      { topic: 'wharf.retained', partitions: [{ partition: 1, firstSequence: 2_000_000_000, messages: messages(3, 900) }] }
    ]
  })
  return (await req.encode()).buffer
}

describe('kafkajs encoder patch', () => {
  it('writes the same bytes as kafkajs 2.2.4 itself', async () => {
    const Enc = kafkajsEncoder() as unknown as EncoderCtor
    const Lng = require('kafkajs/src/utils/long.js') as Long
    const before = sample(Enc, Lng)
    const requestBefore = await produceRequest()

    assert.equal(patchKafkajsEncoder(), true)
    assert.equal(patchKafkajsEncoder(), true, 'patching twice is harmless')

    const after = sample(Enc, Lng)
    assert.equal(after.length, before.length)
    for (let i = 0; i < before.length; i++) assert.deepEqual(after[i], before[i], `sample ${i}`)
    assert.deepEqual(await produceRequest(), requestBefore)
  })
})
