/**
 * Record batches and Fetch v11 responses encoded by kafkajs 2.2.4's own encoders, for comparing
 * Wharf's fetch decoding (kafka/fetch-response.ts, kafka/record-batches.ts) with kafkajs' decoder.
 */
import { createRequire } from 'node:module'
import type { IHeaders } from 'kafkajs'

const require = createRequire(import.meta.url)

interface Encoder {
  buffer: Buffer
  writeInt8: (v: number) => Encoder
  writeInt16: (v: number) => Encoder
  writeInt32: (v: number) => Encoder
  writeInt64: (v: unknown) => Encoder
  writeString: (v: string) => Encoder
  writeBytes: (v: Buffer | null) => Encoder
}
interface Long { fromString: (s: string) => unknown }

const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => Encoder
const Long = require('kafkajs/src/utils/long.js') as Long
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (args: object) => Promise<{ buffer: Buffer }>
}
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (args: object) => object

export const GZIP = 1

export interface TestRecord {
  key: Buffer | string | null
  value: Buffer | string | null
  headers?: IHeaders
  timestampDelta?: number
  /** defaults to the record's index in its batch */
  offsetDelta?: number
}

export interface TestBatch {
  baseOffset: string
  records: TestRecord[]
  compression?: number
  firstTimestamp?: string
  maxTimestamp?: string
  transactional?: boolean
  producerId?: string
  producerEpoch?: number
  firstSequence?: number
  partitionLeaderEpoch?: number
  /** sets the control bit (a transaction marker batch) */
  control?: boolean
  /** sets the log-append-time bit */
  logAppendTime?: boolean
}

/** One record batch, as kafkajs' producer encodes it (attributes patched for control/log-append-time). */
export async function encodeBatch (b: TestBatch): Promise<Buffer> {
  const records = b.records.map((r, i) => Record({
    offsetDelta: r.offsetDelta ?? i,
    timestampDelta: r.timestampDelta ?? 0,
    key: r.key,
    value: r.value,
    headers: r.headers ?? {}
  }))
  const lastOffsetDelta = b.records.reduce((max, r, i) => Math.max(max, r.offsetDelta ?? i), 0)
  const encoded = await RecordBatch({
    compression: b.compression ?? 0,
    firstOffset: Long.fromString(b.baseOffset),
    firstTimestamp: Long.fromString(b.firstTimestamp ?? '1700000000000'),
    maxTimestamp: Long.fromString(b.maxTimestamp ?? '1700000000500'),
    partitionLeaderEpoch: b.partitionLeaderEpoch ?? 7,
    lastOffsetDelta,
    transactional: b.transactional ?? false,
    producerId: Long.fromString(b.producerId ?? '-1'),
    producerEpoch: b.producerEpoch ?? 0,
    firstSequence: b.firstSequence ?? 0,
    records
  })
  const buf = Buffer.from(encoded.buffer)
  if (b.control === true || b.logAppendTime === true) {
    const attributes = buf.readInt16BE(21) | (b.control === true ? 0x20 : 0) | (b.logAppendTime === true ? 0x08 : 0)
    buf.writeInt16BE(attributes, 21)
  }
  return buf
}

/** A legacy (magic 0 or 1) message set as kafkajs encodes one, with offsets `firstOffset`, `firstOffset + 1`, … */
export function encodeMessageSet (version: 0 | 1, firstOffset: number, entries: Array<{ key: string | null, value: string | null, timestamp?: number }>): Buffer {
  const MessageSet = require('kafkajs/src/protocol/messageSet/index.js') as (args: object) => { buffer: Buffer }
  const buf = Buffer.from(MessageSet({ messageVersion: version, compression: 0, entries }).buffer)
  for (let at = 0, i = 0; at < buf.length; i++) {
    buf.writeBigInt64BE(BigInt(firstOffset + i), at)
    at += 12 + buf.readInt32BE(at + 8)
  }
  return buf
}

/** kafkajs' decoder of a legacy message set. */
export async function kafkajsDecodeMessageSet (set: Buffer): Promise<unknown[]> {
  const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown
  const decode = require('kafkajs/src/protocol/messageSet/decoder.js') as (d: unknown, size: number) => Promise<unknown[]>
  return await decode(new Decoder(set), set.length)
}

/** A control batch holding one transaction marker (0 abort, 1 commit). */
export async function markerBatch (baseOffset: string, producerId: string, type: 0 | 1): Promise<Buffer> {
  const key = Buffer.alloc(4)
  key.writeInt16BE(0, 0)
  key.writeInt16BE(type, 2)
  return await encodeBatch({ baseOffset, producerId, transactional: true, control: true, records: [{ key, value: Buffer.from([0, 0, 0, 0, 0, 0]) }] })
}

export interface TestPartition {
  partition: number
  errorCode?: number
  highWatermark?: string
  lastStableOffset?: string
  logStartOffset?: string
  abortedTransactions?: Array<{ producerId: string; firstOffset: string }> | null
  records: Buffer | null
}

/** A Fetch v11 response payload (after the correlation id). */
export function fetchResponse (topics: Array<{ topic: string; partitions: TestPartition[] }>): Buffer {
  const e = new Encoder().writeInt32(0).writeInt16(0).writeInt32(0).writeInt32(topics.length)
  for (const t of topics) {
    e.writeString(t.topic).writeInt32(t.partitions.length)
    for (const p of t.partitions) {
      e.writeInt32(p.partition).writeInt16(p.errorCode ?? 0)
        .writeInt64(Long.fromString(p.highWatermark ?? '100'))
        .writeInt64(Long.fromString(p.lastStableOffset ?? '100'))
        .writeInt64(Long.fromString(p.logStartOffset ?? '0'))
      const aborted = p.abortedTransactions ?? null
      if (aborted === null) {
        e.writeInt32(-1)
      } else {
        e.writeInt32(aborted.length)
        for (const a of aborted) e.writeInt64(Long.fromString(a.producerId)).writeInt64(Long.fromString(a.firstOffset))
      }
      e.writeInt32(-1).writeBytes(p.records)
    }
  }
  return Buffer.from(e.buffer)
}

interface KafkajsFetchResponse {
  responses: Array<{ topicName: string; partitions: Array<Record<string, unknown> & { partition: number; messages: unknown[] }> }>
}

/** kafkajs' own Fetch v11 response decoder. */
export async function kafkajsDecodeFetch (payload: Buffer): Promise<KafkajsFetchResponse> {
  const { decode } = require('kafkajs/src/protocol/requests/fetch/v11/response.js') as { decode: (b: Buffer) => Promise<KafkajsFetchResponse> }
  return await decode(payload)
}

/** What kafkajs' consumer hands to `eachBatch` for one partition of a fetch (offset, abort and control filtering). */
export function kafkajsBatchMessages (topic: string, fetchedOffset: string, partitionData: unknown): unknown[] {
  const Batch = require('kafkajs/src/consumer/batch.js') as new (topic: string, offset: string, data: unknown) => { messages: unknown[] }
  return new Batch(topic, fetchedOffset, partitionData).messages
}

const MQTT_HEADER_NAMES = ['mqtt.topic', 'mqtt.qos', 'mqtt.retain', 'mqtt.client_id', 'mqtt.username', 'mqtt.node'] as const

/** The MQTT metadata headers Wharf writes on a record (kafka/mapping codec.ts), as Buffers. */
export function wharfHeaders (topic: string, i: number): IHeaders {
  const values = [topic, String(i % 3), i % 7 === 0 ? 'true' : 'false', `device-${i % 50}`, 'user', 'node-a']
  const headers: IHeaders = {}
  MQTT_HEADER_NAMES.forEach((name, k) => { headers[name] = Buffer.from(values[k] as string) })
  return headers
}
