import type { KafkaMessage } from 'kafkajs'
import { splitTpKey, type Watermarks } from '../../src/kafka/topic-partition.js'
import type { RangeReader, RangeRequest, Ranges } from '../../src/kafka/range-reader.js'
import type { RecordDecoder } from '../../src/mapping/mapping.js'
import type { MqttMessage, Qos } from '../../src/protocol/message.js'
import { PersistentSession } from '../../src/session/persistent-session.js'
import type { Owner, SessionRecord, UnackedDelivery } from '../../src/session/session-record.js'

/*
 * Fakes of the Kafka side of a session resume, for unit tests of pure logic (no Kafka): a data topic
 * as records per partition, the range reader over it, a decoder, and stored sessions as the sessions
 * topic holds them.
 */

/** The data topic the fakes use. */
export const DATA = 'mqtt.data'

/** "topic:partition" of partition `p` of the data topic. */
export const tp = (p: number): string => `${DATA}:${p}`

/** The MQTT message a record of the fake log decodes to. */
export function message (topic: string, payload: string, qos: Qos): MqttMessage {
  return { topic, payload: Buffer.from(payload), qos, retain: false }
}

/** The records of the data topic, per partition, from each partition's low watermark on. */
export class FakeLog {
  private readonly parts = new Map<string, { low: bigint; records: KafkaMessage[] }>()

  /** Partition `p` starts at offset `low` (what lies below has left Kafka). */
  partition (p: number, low = 0): this {
    this.parts.set(tp(p), { low: BigInt(low), records: [] })
    return this
  }

  /** Append a record (the MQTT topic as key, its QoS in a header; `qos` undefined: a record no decoder understands); returns its offset. */
  append (p: number, topic: string, qos: Qos | undefined, payload = topic): number {
    const part = this.parts.get(tp(p)) ?? { low: 0n, records: [] }
    this.parts.set(tp(p), part)
    const offset = part.low + BigInt(part.records.length)
    part.records.push({
      key: Buffer.from(topic),
      value: Buffer.from(payload),
      headers: qos === undefined ? {} : { 'mqtt.qos': String(qos) },
      offset: offset.toString(),
      timestamp: '0',
      attributes: 0
    })
    return Number(offset)
  }

  /** `count` records on `topic` at `qos`, payload "<partition>@<offset>". */
  fill (p: number, count: number, topic: string, qos: Qos): this {
    for (let i = 0; i < count; i++) {
      const part = this.parts.get(tp(p))
      const offset = (part?.low ?? 0n) + BigInt(part?.records.length ?? 0)
      this.append(p, topic, qos, `${p}@${offset}`)
    }
    return this
  }

  watermarks (): Watermarks {
    const marks: Watermarks = new Map()
    for (const [key, part] of this.parts) marks.set(key, { low: part.low, high: part.low + BigInt(part.records.length) })
    return marks
  }

  /** The records of partition `key` in [from, to). */
  recordsIn (key: string, from: bigint, to: bigint): KafkaMessage[] {
    return (this.parts.get(key)?.records ?? []).filter(r => BigInt(r.offset) >= from && BigInt(r.offset) < to)
  }
}

/**
 * Stands in for the shared RangeReader: partition after partition, `batchSize` records per
 * onRecords, each awaited (as the real one waits before reading that partition on). `beforeBatch`
 * runs before each batch (1, 2, ...): a test does what happens meanwhile there.
 */
export class FakeReader {
  readonly requests: Ranges[] = []
  batches = 0
  beforeBatch: ((n: number) => Promise<void>) | undefined

  constructor (private readonly log: FakeLog, private readonly batchSize = 2) {}

  /** This fake where a RangeReader is expected (its users call read() only). */
  get asRangeReader (): RangeReader {
    return this as unknown as RangeReader
  }

  async read (request: RangeRequest): Promise<void> {
    this.requests.push(new Map(request.ranges))
    for (const [key, { from, to }] of request.ranges) {
      const { topic, partition } = splitTpKey(key)
      const records = this.log.recordsIn(key, from, to)
      for (let i = 0; i < records.length; i += this.batchSize) {
        this.batches++
        await this.beforeBatch?.(this.batches)
        await request.onRecords(topic, partition, records.slice(i, i + this.batchSize))
      }
    }
  }
}

/** Decodes the fake log's records: MQTT topic from the key, QoS from the `mqtt.qos` header. */
export const headerDecoder: RecordDecoder = {
  async decodeEach (_kafkaTopic, _partition, records, each) {
    for (const record of records) {
      const qos = record.headers?.['mqtt.qos']
      if (record.key === null || qos === undefined) {
        each({ ok: false, reason: 'not an MQTT record' }, record)
        continue
      }
      each({ ok: true, message: { topic: record.key.toString(), payload: record.value ?? Buffer.alloc(0), qos: Number(String(qos)) as Qos, retain: false } }, record)
    }
  }
}

/** The owner a resuming node gives the sessions it opens. */
export const OWNER: Owner = { node: 'n1', inc: 'inc-1', conn: 'c-1' }

/**
 * A session as a resume builds it from its stored record (written by another node): subscriptions,
 * cursors per partition of the data topic, unacknowledged deliveries.
 */
export function storedSession (clientId: string, subs: Array<[string, Qos]>, cursors: Record<number, number>, unacked: UnackedDelivery[] = []): PersistentSession {
  const record: SessionRecord = {
    v: 1,
    clientId,
    owner: { node: 'n0', inc: 'inc-0', conn: 'c-0' },
    connected: false,
    at: 1000,
    disconnectedAt: 1000,
    expiryS: 0,
    subs,
    cursors: { [DATA]: Object.fromEntries(Object.entries(cursors).map(([p, o]) => [p, String(o)])) },
    unacked
  }
  return PersistentSession.fromRecord(record, OWNER, 0)
}

/** An unacknowledged delivery of partition `p`'s record at `offset` under packet id `id`. */
export function unackedAt (p: number, offset: number, id: number, qos: 1 | 2, rel = false): UnackedDelivery {
  return { t: DATA, p, o: String(offset), id, qos, rel }
}
