/**
 * Fetch v11 response, decoded down to each partition's record set and no further: the record sets
 * stay zero-copy slices of the response for kafka/record-batches.ts to walk, and nothing is decoded
 * for partitions that brought no data. (kafkajs' own v11 decoder turns every record of every batch
 * into objects before anyone can say whether they are wanted.)
 *
 * Fetch Response (Version: 11) => throttle_time_ms error_code session_id [responses]
 *   responses => topic [partitions]
 *     partitions => partition error_code high_watermark last_stable_offset log_start_offset
 *                   [aborted_transactions] preferred_read_replica records
 *       aborted_transactions => producer_id first_offset
 */

export interface AbortedTransaction {
  producerId: bigint
  firstOffset: bigint
}

export interface FetchedPartition {
  partition: number
  errorCode: number
  highWatermark: bigint
  lastStableOffset: bigint
  logStartOffset: bigint
  /** null unless the fetch was read_committed and the range held aborted transactions */
  abortedTransactions: AbortedTransaction[] | null
  /** the record set (record batches, the last one possibly cut off); null when empty */
  records: Buffer | null
}

export interface FetchResponse {
  /** what kafkajs' request queue reads to throttle the connection (KIP-219) */
  clientSideThrottleTime: number
  errorCode: number
  sessionId: number
  topics: Array<{ topic: string; partitions: FetchedPartition[] }>
}

/** The response was shorter than its own fields say. */
export class FetchResponseTruncated extends Error {
  constructor (at: number, length: number) {
    super(`Fetch response ends at byte ${length} while a field continues past byte ${at}`)
    this.name = 'FetchResponseTruncated'
  }
}

class Reader {
  pos = 0
  constructor (readonly buf: Buffer) {}

  need (n: number): void {
    if (this.pos + n > this.buf.length) throw new FetchResponseTruncated(this.pos + n, this.buf.length)
  }

  int16 (): number { this.need(2); const v = this.buf.readInt16BE(this.pos); this.pos += 2; return v }
  int32 (): number { this.need(4); const v = this.buf.readInt32BE(this.pos); this.pos += 4; return v }
  int64 (): bigint { this.need(8); const v = this.buf.readBigInt64BE(this.pos); this.pos += 8; return v }

  string (): string {
    const length = this.int16()
    if (length < 0) return ''
    this.need(length)
    const s = this.buf.toString('utf8', this.pos, this.pos + length)
    this.pos += length
    return s
  }

  bytes (): Buffer | null {
    const length = this.int32()
    if (length < 0) return null
    this.need(length)
    const b = this.buf.subarray(this.pos, this.pos + length)
    this.pos += length
    return b
  }
}

/** Decodes a Fetch v11 response payload (after the correlation id). */
export function decodeFetchResponseV11 (payload: Buffer): FetchResponse {
  const r = new Reader(payload)
  const clientSideThrottleTime = r.int32()
  const errorCode = r.int16()
  const sessionId = r.int32()
  const topics: FetchResponse['topics'] = []
  for (let t = r.int32(); t > 0; t--) {
    const topic = r.string()
    const partitions: FetchedPartition[] = []
    for (let p = r.int32(); p > 0; p--) {
      const partition = r.int32()
      const partitionError = r.int16()
      const highWatermark = r.int64()
      const lastStableOffset = r.int64()
      const logStartOffset = r.int64()
      let abortedTransactions: AbortedTransaction[] | null = null
      const aborted = r.int32()
      if (aborted >= 0) {
        abortedTransactions = []
        for (let a = 0; a < aborted; a++) abortedTransactions.push({ producerId: r.int64(), firstOffset: r.int64() })
      }
      r.int32() // preferred_read_replica: Wharf reads from leaders
      const records = r.bytes()
      partitions.push({
        partition,
        errorCode: partitionError,
        highWatermark,
        lastStableOffset,
        logStartOffset,
        abortedTransactions,
        records: records === null || records.length === 0 ? null : records
      })
    }
    topics.push({ topic, partitions })
  }
  return { clientSideThrottleTime, errorCode, sessionId, topics }
}
