// Longer than ~300 lines on purpose: Kafka's record-batch format (v2, and v0/v1 message sets), walked
// byte by byte in one place so that its checks against kafkajs' own decoder cover all of it.
import type { IHeaders, KafkaMessage } from 'kafkajs'
import type { AbortedTransaction } from './fetch-response.js'
import { FewTexts, sameBytes } from '../util/few-texts.js'
import { kafkajsInternals } from './kafkajs-internals.js'

/**
 * Skip before decode (issue 20): walks the record batches of a fetched record set (record format v2,
 * magic 2) through their varint framing, and asks a filter about each record's key (and, when the
 * filter names one, one header's value) before anything else of the record is decoded. Only wanted
 * records get their value, headers and record object; a skipped record costs a few varints and one
 * zero-copy key slice. Compressed batches are decompressed with kafkajs' codecs, then walked.
 *
 * Wanted records come out exactly as kafkajs 2.2.4's record batch decoder makes them (`KafkaMessage`
 * plus its `magicByte`, `isControlRecord` and `batchContext`; test/unit/record-batches.test.ts
 * compares them field for field), so the codecs in src/mapping read them unchanged. As kafkajs does,
 * a batch cut off at the end of the record set is ignored (the next fetch starts at it), records
 * below the fetch offset are dropped (a compressed batch comes whole), control batches are never
 * handed out, and with read_committed the batches of aborted transactions are dropped.
 */

/** Decides, from the key alone (and one header), whether a record is decoded and delivered. */
export interface RecordFilter {
  /** a header whose value `wants` gets too (its last occurrence): for rules that carry the MQTT topic in a header */
  readonly header?: string | undefined
  /**
   * True to decode and deliver the record. `key` is null for a record without a key; `header` is
   * undefined when the record lacks the header (or none was asked for), null when its value is null.
   * Both are slices of the fetched bytes, valid only during the call unless the record is wanted.
   */
  wants (key: Buffer | null, header: Buffer | null | undefined): boolean
}

/** kafkajs' per-batch context, shared by the records of one batch. */
export interface BatchContext {
  firstOffset: string
  firstTimestamp: string
  partitionLeaderEpoch: number
  inTransaction: boolean
  isControlBatch: boolean
  lastOffsetDelta: number
  producerId: string
  producerEpoch: number
  firstSequence: number
  maxTimestamp: string
  timestampType: 0 | 1
  magicByte: number
}

/** A record as kafkajs' record batch decoder makes it. */
export type FetchedRecord = KafkaMessage & {
  magicByte: number
  isControlRecord: boolean
  batchContext: BatchContext
}

export interface ParsedRecordSet {
  /** the wanted records at or above the fetch offset, in offset order */
  records: FetchedRecord[]
  /** the offset after the last complete batch; undefined when the set held no complete batch */
  nextOffset: bigint | undefined
  /** data records at or above the fetch offset in the complete batches (wanted, skipped, aborted) */
  fetched: number
  /** records the filter did not want */
  skipped: number
  /** records of aborted transactions */
  aborted: number
  /** bytes of the complete batches */
  bytes: number
}

/** A record batch whose framing contradicts itself. */
export class CorruptRecordBatch extends Error {
  constructor (baseOffset: bigint, why: string) {
    super(`record batch at offset ${baseOffset} is corrupt: ${why}`)
    this.name = 'CorruptRecordBatch'
  }
}

const LOG_OVERHEAD = 12 // base offset + batch length
const RECORDS_AT = 61 // first record, after the batch header and the record count
const MAGIC_AT = 16
const COMPRESSION_MASK = 0x07
const TIMESTAMP_TYPE_MASK = 0x08
const TRANSACTIONAL_MASK = 0x10
const CONTROL_MASK = 0x20
const CONTROL_ABORT = 0
const SAFE = BigInt(Number.MAX_SAFE_INTEGER)

// results of the varint readers below (parsing is synchronous between awaits, so one slot is enough)
let varintValue = 0
let varlongValue: number | bigint = 0

/** Reads a zigzag varint (32 bit) at `p` into `varintValue`; returns the position after it. */
function readVarint (d: Buffer, p: number): number {
  let b = d[p++] as number
  let raw = b & 0x7f
  if (b > 0x7f) {
    b = d[p++] as number
    raw |= (b & 0x7f) << 7
    if (b > 0x7f) {
      b = d[p++] as number
      raw |= (b & 0x7f) << 14
      if (b > 0x7f) {
        b = d[p++] as number
        raw |= (b & 0x7f) << 21
        if (b > 0x7f) {
          b = d[p++] as number
          raw |= (b & 0x0f) << 28
          if (b > 0x7f) throw new RangeError('varint longer than 5 bytes')
        }
      }
    }
  }
  varintValue = (raw >>> 1) ^ -(raw & 1)
  return p
}

/** Reads a zigzag varlong at `p` into `varlongValue` (a number when exact, else a bigint). */
function readVarlong (d: Buffer, p: number): number {
  const start = p
  let raw = 0
  let mul = 1
  let b: number
  do {
    b = d[p++] as number
    raw += (b & 0x7f) * mul
    mul *= 128
  } while (b > 0x7f && mul < 2 ** 49)
  if (b <= 0x7f) {
    varlongValue = raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2
    return p
  }
  // more than 49 bits: exact arithmetic
  let big = 0n
  let shift = 0n
  p = start
  do {
    b = d[p++] as number
    big |= BigInt(b & 0x7f) << shift
    shift += 7n
  } while (b > 0x7f && shift < 70n)
  varlongValue = (big & 1n) === 0n ? big >> 1n : -((big + 1n) >> 1n)
  return p
}

/** Skips a varint or varlong. */
function skipVarint (d: Buffer, p: number): number {
  while ((d[p++] as number) > 0x7f) { /* continuation bytes */ }
  return p
}

/**
 * The last value of header `name` in the record whose value length is at `p`; undefined when absent.
 */
function findHeader (d: Buffer, p: number, name: Buffer): Buffer | null | undefined {
  p = readVarint(d, p)
  if (varintValue > 0) p += varintValue
  p = readVarint(d, p)
  let found: Buffer | null | undefined
  for (let n = varintValue; n > 0; n--) {
    p = readVarint(d, p)
    const keyLength = varintValue
    const keyAt = p
    if (keyLength > 0) p += keyLength
    p = readVarint(d, p)
    const valueLength = varintValue
    const valueAt = p
    if (valueLength > 0) p += valueLength
    if (keyLength === name.length && sameBytes(d, keyAt, name)) found = valueLength < 0 ? null : d.subarray(valueAt, valueAt + valueLength)
  }
  return found
}


function setHeader (headers: IHeaders, key: string, value: Buffer | null): void {
  const had = headers[key]
  // kafkajs: one value as is, repeated keys as an array of every value in order
  const next = (had === undefined ? value : Array.isArray(had) ? had.concat([value as Buffer]) : [had, value]) as IHeaders[string]
  if (key === '__proto__') Object.defineProperty(headers, key, { value: next, enumerable: true, writable: true, configurable: true })
  else headers[key] = next
}

/** Per-batch facts the records of a batch are built from. */
interface Batch {
  set: Buffer
  at: number
  baseOffset: bigint
  attributes: number
  lastOffsetDelta: number
  context: BatchContext | undefined
}

function batchContext (b: Batch): BatchContext {
  const s = b.set
  const at = b.at
  b.context ??= {
    firstOffset: b.baseOffset.toString(),
    firstTimestamp: s.readBigInt64BE(at + 27).toString(),
    partitionLeaderEpoch: s.readInt32BE(at + 12),
    inTransaction: (b.attributes & TRANSACTIONAL_MASK) > 0,
    isControlBatch: (b.attributes & CONTROL_MASK) > 0,
    lastOffsetDelta: b.lastOffsetDelta,
    producerId: s.readBigInt64BE(at + 43).toString(),
    producerEpoch: s.readInt16BE(at + 51),
    firstSequence: s.readInt32BE(at + 53),
    maxTimestamp: s.readBigInt64BE(at + 35).toString(),
    timestampType: (b.attributes & TIMESTAMP_TYPE_MASK) > 0 ? 1 : 0,
    magicByte: s.readInt8(at + MAGIC_AT)
  }
  return b.context
}

/**
 * Walks `count` records from `p` to `limit` in `d` (the batch's own bytes, or its decompressed
 * records), appending the wanted ones at or above the fetch offset to `out`.
 */
function walkRecords (d: Buffer, p: number, limit: number, count: number, b: Batch, fetchOffset: bigint, filter: RecordFilter | undefined, headerName: Buffer | undefined, names: FewTexts, out: ParsedRecordSet): void {
  const below = fetchOffset - b.baseOffset
  const minDelta = below <= 0n ? 0 : below > 0x7fffffffn ? 0x7fffffff : Number(below)
  const exactOffsets = b.baseOffset + BigInt(b.lastOffsetDelta) <= SAFE && b.baseOffset >= 0n
  const baseOffset = Number(b.baseOffset)
  const firstTimestampBig = b.set.readBigInt64BE(b.at + 27)
  const exactTimestamps = firstTimestampBig <= SAFE && firstTimestampBig >= -SAFE
  const firstTimestamp = Number(firstTimestampBig)
  const logAppendTime = (b.attributes & TIMESTAMP_TYPE_MASK) > 0
  const isControl = (b.attributes & CONTROL_MASK) > 0
  for (let i = 0; i < count; i++) {
    p = readVarint(d, p)
    const recordAt = p
    const recordEnd = p + varintValue
    if (varintValue < 0 || recordEnd > limit) throw new CorruptRecordBatch(b.baseOffset, `record ${i} of ${count} runs past the batch`)
    p = skipVarint(d, recordAt + 1) // attributes, timestamp delta
    p = readVarint(d, p)
    const offsetDelta = varintValue
    if (offsetDelta < minDelta) { p = recordEnd; continue }
    out.fetched++
    p = readVarint(d, p)
    const keyLength = varintValue
    const keyAt = p
    if (keyLength > 0) p += keyLength
    let key: Buffer | null | undefined
    if (filter !== undefined) {
      key = keyLength < 0 ? null : d.subarray(keyAt, keyAt + keyLength)
      const header = headerName === undefined ? undefined : findHeader(d, p, headerName)
      if (!filter.wants(key, header)) {
        out.skipped++
        p = recordEnd
        continue
      }
    }
    key ??= keyLength < 0 ? null : d.subarray(keyAt, keyAt + keyLength)
    p = readVarint(d, p)
    const valueLength = varintValue
    const value = valueLength < 0 ? null : d.subarray(p, p + valueLength)
    if (valueLength > 0) p += valueLength
    p = readVarint(d, p)
    const headers: IHeaders = {}
    for (let n = varintValue, h = 0; h < n; h++) {
      p = readVarint(d, p)
      const nameLength = varintValue
      const name = nameLength < 0 ? 'null' : names.text(d, p, nameLength, h)
      if (nameLength > 0) p += nameLength
      p = readVarint(d, p)
      const headerLength = varintValue
      setHeader(headers, name, headerLength < 0 ? null : d.subarray(p, p + headerLength))
      if (headerLength > 0) p += headerLength
    }
    if (p > recordEnd) throw new CorruptRecordBatch(b.baseOffset, `record ${i} of ${count} is longer than its length`)
    const context = batchContext(b)
    let timestamp: string
    if (logAppendTime) {
      timestamp = context.maxTimestamp
    } else {
      readVarlong(d, recordAt + 1)
      const delta = varlongValue
      timestamp = typeof delta === 'number' && exactTimestamps && Math.abs(firstTimestamp + delta) <= Number.MAX_SAFE_INTEGER
        ? String(firstTimestamp + delta)
        : BigInt.asIntN(64, firstTimestampBig + BigInt(delta)).toString()
    }
    out.records.push({
      magicByte: context.magicByte,
      attributes: (d[recordAt] as number) << 24 >> 24,
      timestamp,
      offset: exactOffsets ? String(baseOffset + offsetDelta) : (b.baseOffset + BigInt(offsetDelta)).toString(),
      key,
      value,
      headers,
      isControlRecord: isControl,
      batchContext: context
    })
    p = recordEnd
  }
}

/** The marker type of a control batch (0 abort, 1 commit), from its first record's key. */
function controlType (set: Buffer, at: number, end: number): number | undefined {
  if (set.readInt32BE(at + RECORDS_AT - 4) < 1) return undefined
  let p = readVarint(set, at + RECORDS_AT)
  p = skipVarint(set, p + 1)
  p = skipVarint(set, p)
  p = readVarint(set, p)
  if (varintValue < 4 || p + 4 > end) return undefined
  return set.readInt16BE(p + 2)
}

/** Legacy (magic 0 and 1) message sets, which have no headers: kafkajs decodes them, then the filter sees their keys. */
async function parseMessageSet (set: Buffer, fetchOffset: bigint, filter: RecordFilter | undefined): Promise<ParsedRecordSet> {
  const out: ParsedRecordSet = { records: [], nextOffset: undefined, fetched: 0, skipped: 0, aborted: 0, bytes: set.length }
  for (const m of await kafkajsInternals().decodeMessageSet(set)) {
    const offset = BigInt(m.offset)
    out.nextOffset = offset + 1n
    if (offset < fetchOffset) continue
    out.fetched++
    if (filter !== undefined && !filter.wants(m.key ?? null, undefined)) { out.skipped++; continue }
    out.records.push(m as FetchedRecord)
  }
  return out
}

/**
 * Walks one partition's record set from a Fetch response. `fetchOffset` is the offset the fetch
 * asked for; `aborted` the response's aborted transactions (read_committed). Without a filter every
 * record is wanted.
 */
export async function parseRecordSet (set: Buffer, fetchOffset: bigint, filter?: RecordFilter, aborted?: readonly AbortedTransaction[] | null): Promise<ParsedRecordSet> {
  if (set.length > MAGIC_AT && set.readInt8(MAGIC_AT) < 2) return await parseMessageSet(set, fetchOffset, filter)
  const out: ParsedRecordSet = { records: [], nextOffset: undefined, fetched: 0, skipped: 0, aborted: 0, bytes: 0 }
  const headerName = filter?.header === undefined ? undefined : Buffer.from(filter.header)
  // header names seen in this set: the same few, record after record, not decoded from UTF-8 each time
  const names = new FewTexts(32)
  const abortedList = aborted === undefined || aborted === null || aborted.length === 0
    ? undefined
    : [...aborted].sort((a, b) => a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0)
  let abortedAt = 0
  let abortedProducers: Set<bigint> | undefined
  let at = 0
  while (at + LOG_OVERHEAD <= set.length) {
    const length = set.readInt32BE(at + 8)
    const end = at + LOG_OVERHEAD + length
    if (end > set.length) break // cut off by the fetch size: the next fetch starts at this batch
    const baseOffset = set.readBigInt64BE(at)
    if (length < RECORDS_AT - LOG_OVERHEAD) throw new CorruptRecordBatch(baseOffset, `length ${length} is shorter than a batch header`)
    if (set.readInt8(at + MAGIC_AT) !== 2) break // a message set after record batches: fetched again on its own
    const attributes = set.readInt16BE(at + 21)
    const lastOffsetDelta = set.readInt32BE(at + 23)
    const nextOffset = baseOffset + BigInt(lastOffsetDelta) + 1n
    const count = set.readInt32BE(at + RECORDS_AT - 4)
    out.bytes += end - at
    if (abortedList !== undefined) {
      while (abortedAt < abortedList.length && (abortedList[abortedAt] as AbortedTransaction).firstOffset < nextOffset) {
        (abortedProducers ??= new Set()).add((abortedList[abortedAt++] as AbortedTransaction).producerId)
      }
    }
    const transactional = (attributes & TRANSACTIONAL_MASK) !== 0
    if ((attributes & CONTROL_MASK) !== 0) {
      if (abortedProducers !== undefined && controlType(set, at, end) === CONTROL_ABORT) abortedProducers.delete(set.readBigInt64BE(at + 43))
    } else if (transactional && abortedProducers?.has(set.readBigInt64BE(at + 43)) === true) {
      if (nextOffset > fetchOffset) out.aborted += Math.max(0, count)
    } else if (nextOffset > fetchOffset && count > 0) {
      const batch: Batch = { set, at, baseOffset, attributes, lastOffsetDelta, context: undefined }
      if ((attributes & COMPRESSION_MASK) === 0) {
        walkRecords(set, at + RECORDS_AT, end, count, batch, fetchOffset, filter, headerName, names, out)
      } else {
        const codec = kafkajsInternals().codecFor(attributes)
        if (codec === null) throw new CorruptRecordBatch(baseOffset, `unknown compression ${attributes & COMPRESSION_MASK}`)
        const records = await codec.decompress(set.subarray(at + RECORDS_AT, end))
        walkRecords(records, 0, records.length, count, batch, fetchOffset, filter, headerName, names, out)
      }
    }
    if (out.nextOffset === undefined || nextOffset > out.nextOffset) out.nextOffset = nextOffset
    at = end
  }
  return out
}
