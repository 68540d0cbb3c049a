/**
 * The body of a Kafka Produce request (versions 3 to 7: one layout) written in one pass into one
 * Buffer, byte for byte what kafkajs 2.2.4's own request encoder writes for the same arguments.
 * kafkajs builds every record, every record header, every record batch and every partition of a
 * Produce request as an `Encoder` of its own and copies each into the next (five copies of every
 * byte on the way), with a spread copy of every message, a header array per record and 64-bit
 * arithmetic on BigInts; at Wharf's rates (one record per MQTT PUBLISH, six headers each) that was a
 * fifth of the edge's busy time. Sizes are counted first, then everything is written once.
 *
 * Only the common case is written here: no compression, no per-message timestamps, keys, values and
 * header values that are strings, Buffers or null (keys and values) — everything Wharf produces.
 * For anything else `encodeProduceRequest` returns undefined and the caller lets kafkajs encode the
 * request itself. Sequence numbers, producer id and epoch are kafkajs' (sendMessages and its
 * eosManager assign them before the request is encoded); this only writes them.
 * test/unit/produce-request-encoder.test.ts compares the bytes with kafkajs' for every version.
 */

import { utf8Length, writeUtf8 } from '../util/short-utf8.js'
import { crc32c } from './crc32c.js'

/** What kafkajs' Produce request factory (v3..v7) is called with. */
export interface ProduceRequestArgs {
  acks: number
  timeout: number
  transactionalId?: string | null
  producerId?: unknown
  producerEpoch?: number
  compression?: number
  topicData: Array<{ topic: string; partitions: Array<{ partition: number; firstSequence?: number; messages: ProduceMessage[] }> }>
}

/** A message as handed to kafkajs' `send`/`sendBatch`. */
export interface ProduceMessage {
  key?: Buffer | string | null
  value: Buffer | string | null
  headers?: Record<string, unknown>
  timestamp?: unknown
}

/** What the encoder needs from kafkajs: its 64-bit integer split (producer ids are its Longs). */
export interface ProduceEncoderDeps {
  int64Bits: (value: unknown) => { high: number; low: number }
}

const MAGIC = 2
const TRANSACTIONAL = 16
/** attributes..record count: int16 + int32 + int64 * 3 + int16 + int32 + int32 */
const BATCH_BODY_HEADER = 40
/** partition + size + firstOffset + length + partitionLeaderEpoch + magic + crc */
const PARTITION_OVERHEAD = 4 + 4 + 8 + 4 + 4 + 1 + 4
const FALLBACK = -1

/** Bytes of the zigzag varint of a signed 32-bit value. */
function varIntSize (value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0
  let n = 1
  while (v >= 0x80) { v >>>= 7; n++ }
  return n
}

function writeVarInt (buf: Buffer, offset: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0
  while (v >= 0x80) {
    buf[offset++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[offset++] = v
  return offset
}

/** Bytes of a varint-prefixed string/Buffer/null field; FALLBACK for anything kafkajs would write otherwise. */
function bytesFieldSize (value: unknown): number {
  if (value === null || value === undefined) return 1
  if (typeof value === 'string') {
    const n = utf8Length(value)
    return varIntSize(n) + n
  }
  if (Buffer.isBuffer(value)) return varIntSize(value.length) + value.length
  return FALLBACK
}

/**
 * Writes a varint-prefixed field at `offset`; returns the offset after it. A string is written
 * first one byte in (its length is only known once written) and moved when its prefix is longer.
 */
function writeBytesField (buf: Buffer, offset: number, value: string | Buffer | null | undefined): number {
  if (value === null || value === undefined) { buf[offset] = 1; return offset + 1 }
  if (typeof value === 'string') {
    const n = writeUtf8(buf, value, offset + 1)
    const prefix = varIntSize(n)
    if (prefix > 1) buf.copyWithin(offset + prefix, offset + 1, offset + 1 + n)
    writeVarInt(buf, offset, n)
    return offset + prefix + n
  }
  offset = writeVarInt(buf, offset, value.length)
  return offset + value.copy(buf, offset)
}

/** Header count and bytes of one record's headers (kafkajs: one header per array element); FALLBACK when not writable here. */
function headersSize (headers: Record<string, unknown> | undefined, out: { count: number }): number {
  out.count = 0
  if (headers === undefined) return 0
  if (headers === null || typeof headers !== 'object') return FALLBACK
  let size = 0
  for (const key of Object.keys(headers)) {
    const v = headers[key]
    const keySize = utf8Length(key)
    const keyField = varIntSize(keySize) + keySize
    if (Array.isArray(v)) {
      for (const item of v as unknown[]) {
        const s = item === null || item === undefined ? FALLBACK : bytesFieldSize(item)
        if (s === FALLBACK) return FALLBACK
        size += keyField + s
        out.count++
      }
    } else {
      const s = v === null || v === undefined ? FALLBACK : bytesFieldSize(v)
      if (s === FALLBACK) return FALLBACK
      size += keyField + s
      out.count++
    }
  }
  return size
}

function writeHeaders (buf: Buffer, offset: number, headers: Record<string, unknown>): number {
  for (const key of Object.keys(headers)) {
    const v = headers[key]
    if (Array.isArray(v)) {
      for (const item of v as Array<string | Buffer>) {
        offset = writeBytesField(buf, offset, key)
        offset = writeBytesField(buf, offset, item)
      }
    } else {
      offset = writeBytesField(buf, offset, key)
      offset = writeBytesField(buf, offset, v as string | Buffer)
    }
  }
  return offset
}

const scratch = { count: 0 }

/**
 * The request body kafkajs' Produce v3..v7 `encode()` would write for `args`, or undefined when the
 * request is not one this writes (compression, timestamps, other value types): then kafkajs encodes it.
 * `now` is kafkajs' `Date.now()` per partition (the batch's first and max timestamp).
 */
export function encodeProduceRequest (args: ProduceRequestArgs, deps: ProduceEncoderDeps, now: () => number = Date.now): Buffer | undefined {
  if (args.compression !== undefined && args.compression !== 0) return undefined
  const transactionalId = args.transactionalId ?? null
  if (transactionalId !== null && typeof transactionalId !== 'string') return undefined
  // record body sizes (without their varint prefix) and header counts, in message order
  const recordSizes: number[] = []
  const headerCounts: number[] = []
  let size = 2 + (transactionalId === null ? 0 : Buffer.byteLength(transactionalId)) + 2 + 4 + 4
  for (const topic of args.topicData) {
    if (typeof topic.topic !== 'string') return undefined
    size += 2 + Buffer.byteLength(topic.topic) + 4
    for (const p of topic.partitions) {
      size += PARTITION_OVERHEAD + BATCH_BODY_HEADER
      const messages = p.messages
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as ProduceMessage
        if (m.timestamp !== undefined && m.timestamp !== null) return undefined
        const key = bytesFieldSize(m.key)
        const value = bytesFieldSize(m.value)
        const headers = headersSize(m.headers, scratch)
        if (key === FALLBACK || value === FALLBACK || headers === FALLBACK) return undefined
        // attributes, timestamp delta 0, offset delta, key, value, header count, headers
        const body = 1 + 1 + varIntSize(i) + key + value + varIntSize(scratch.count) + headers
        recordSizes.push(body)
        headerCounts.push(scratch.count)
        size += varIntSize(body) + body
      }
    }
  }

  const buf = Buffer.allocUnsafe(size)
  let o = 0
  if (transactionalId === null) {
    o = buf.writeInt16BE(-1, o)
  } else {
    o = buf.writeInt16BE(Buffer.byteLength(transactionalId), o)
    o += buf.write(transactionalId, o)
  }
  o = buf.writeInt16BE(args.acks, o)
  o = buf.writeInt32BE(args.timeout, o)
  o = buf.writeInt32BE(args.topicData.length, o)
  const producerId = deps.int64Bits(args.producerId === undefined ? -1 : args.producerId)
  const producerEpoch = args.producerEpoch ?? 0
  const attributes = transactionalId === null || transactionalId === '' ? 0 : TRANSACTIONAL
  let record = 0
  for (const topic of args.topicData) {
    o = buf.writeInt16BE(Buffer.byteLength(topic.topic), o)
    o += buf.write(topic.topic, o)
    o = buf.writeInt32BE(topic.partitions.length, o)
    for (const p of topic.partitions) {
      const messages = p.messages
      const timestamp = now()
      const start = o
      o = buf.writeInt32BE(p.partition, o)
      o += 4 // size of what follows, once known
      o = buf.writeInt32BE(0, o) // firstOffset, int64 0
      o = buf.writeInt32BE(0, o)
      o += 4 // batch length, once known
      o = buf.writeInt32BE(0, o) // partitionLeaderEpoch
      o = buf.writeInt8(MAGIC, o)
      const crcAt = o
      o += 4
      const bodyAt = o
      o = buf.writeInt16BE(attributes, o)
      o = buf.writeInt32BE(messages.length - 1, o) // lastOffsetDelta
      const hi = Math.floor(timestamp / 0x100000000)
      const lo = timestamp - hi * 0x100000000
      o = buf.writeInt32BE(hi, o) // firstTimestamp
      o = buf.writeUInt32BE(lo, o)
      o = buf.writeInt32BE(hi, o) // maxTimestamp
      o = buf.writeUInt32BE(lo, o)
      o = buf.writeInt32BE(producerId.high, o)
      o = buf.writeInt32BE(producerId.low, o)
      o = buf.writeInt16BE(producerEpoch, o)
      o = buf.writeInt32BE(p.firstSequence ?? 0, o)
      o = buf.writeInt32BE(messages.length, o)
      for (let i = 0; i < messages.length; i++, record++) {
        const m = messages[i] as ProduceMessage
        const body = recordSizes[record] as number
        o = writeVarInt(buf, o, body)
        const end = o + body
        buf[o++] = 0 // attributes
        buf[o++] = 0 // timestamp delta: no message timestamps, all at the batch's
        o = writeVarInt(buf, o, i)
        o = writeBytesField(buf, o, m.key)
        o = writeBytesField(buf, o, m.value)
        o = writeVarInt(buf, o, headerCounts[record] as number)
        if (m.headers !== undefined) o = writeHeaders(buf, o, m.headers)
        if (o !== end) throw new Error(`produce encoder: record ${i} took ${body + o - end} bytes, counted ${body}`)
      }
      buf.writeInt32BE(o - start - 8, start + 4)
      buf.writeInt32BE(o - start - 20, start + 16)
      buf.writeUInt32BE(crc32c(buf.subarray(bodyAt, o)), crcAt)
    }
  }
  if (o !== size) throw new Error(`produce encoder: wrote ${o} bytes, counted ${size}`)
  return buf
}
