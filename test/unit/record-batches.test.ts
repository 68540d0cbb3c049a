import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IHeaders } from 'kafkajs'
import { decodeFetchResponseV11, FetchResponseTruncated } from '../../src/kafka/fetch-response.js'
import { CorruptRecordBatch, parseRecordSet, type RecordFilter } from '../../src/kafka/record-batches.js'
import { encodeBatch, encodeMessageSet, fetchResponse, GZIP, kafkajsDecodeMessageSet, kafkajsBatchMessages, kafkajsDecodeFetch, markerBatch, wharfHeaders, type TestPartition, type TestRecord } from '../support/record-sets.js'

function records (n: number, from = 0): TestRecord[] {
  return Array.from({ length: n }, (_v, k) => {
    const i = from + k
    const topic = `devices/d${i % 5}/temp`
    return {
      key: i % 11 === 3 ? null : i % 13 === 4 ? '' : topic,
      value: i % 9 === 2 ? null : i % 10 === 5 ? Buffer.alloc(0) : Buffer.alloc(64, i),
      headers: i % 6 === 1 ? {} : wharfHeaders(topic, i),
      timestampDelta: (i * 37) % 1000 - 200
    }
  })
}

/** Concatenated batches; `cut` drops that many bytes from the end. */
function recordSet (batches: Buffer[], cut = 0): Buffer {
  const all = Buffer.concat(batches)
  return all.subarray(0, all.length - cut)
}

/** Decodes `payload` both ways; asserts that every partition yields what kafkajs' consumer would hand out. */
async function compare (payload: Buffer, fetchOffsets: Record<string, string>, filter?: RecordFilter, expectFilter?: (m: { key: Buffer | null, headers: IHeaders }) => boolean): Promise<Array<{ records: number, nextOffset: bigint | undefined, skipped: number, fetched: number, aborted: number }>> {
  const theirs = await kafkajsDecodeFetch(payload)
  const ours = decodeFetchResponseV11(payload)
  assert.equal(ours.topics.length, theirs.responses.length)
  const results = []
  for (const [t, topic] of ours.topics.entries()) {
    const them = theirs.responses[t]
    assert.ok(them !== undefined)
    assert.equal(topic.topic, them.topicName)
    for (const [p, part] of topic.partitions.entries()) {
      const theirPart: (Record<string, unknown> & { partition: number, messages: unknown[] }) | undefined = them.partitions[p]
      assert.ok(theirPart !== undefined)
      assert.equal(part.partition, theirPart.partition)
      assert.equal(part.errorCode, theirPart.errorCode)
      assert.equal(part.highWatermark.toString(), theirPart.highWatermark)
      assert.equal(part.lastStableOffset.toString(), theirPart.lastStableOffset)
      assert.equal(part.logStartOffset.toString(), theirPart.lastStartOffset)
      const theirAborted = theirPart.abortedTransactions as Array<{ producerId: string, firstOffset: string }>
      assert.deepEqual((part.abortedTransactions ?? []).map(a => ({ producerId: a.producerId.toString(), firstOffset: a.firstOffset.toString() })), theirAborted)
      const fetchOffset = fetchOffsets[`${topic.topic}:${part.partition}`] ?? '0'
      let expected = kafkajsBatchMessages(topic.topic, fetchOffset, theirPart) as Array<{ key: Buffer | null, headers: IHeaders }>
      if (expectFilter !== undefined) expected = expected.filter(expectFilter)
      const parsed = part.records === null
        ? { records: [], nextOffset: undefined, skipped: 0, fetched: 0, aborted: 0 }
        : await parseRecordSet(part.records, BigInt(fetchOffset), filter, part.abortedTransactions)
      assert.deepStrictEqual(parsed.records, expected, `${topic.topic}:${part.partition}`)
      results.push({ records: parsed.records.length, nextOffset: parsed.nextOffset, skipped: parsed.skipped, fetched: parsed.fetched, aborted: parsed.aborted })
    }
  }
  return results
}

function lastHeader (headers: IHeaders, name: string): Buffer | null | undefined {
  const v = headers[name] as Buffer | null | undefined | Array<Buffer | null>
  return Array.isArray(v) ? v[v.length - 1] : v
}

describe('record batch walking, against kafkajs 2.2.4 decoding the same bytes', () => {
  it('uncompressed batches with and without keys, tombstones, empty values and headers, several topics and partitions', async () => {
    const a = await encodeBatch({ baseOffset: '0', records: records(40) })
    const b = await encodeBatch({ baseOffset: '40', records: records(25, 40), producerId: '4242', producerEpoch: 3, firstSequence: 17 })
    const c = await encodeBatch({ baseOffset: '1000', records: records(3, 7) })
    const payload = fetchResponse([
      { topic: 'mqtt.messages', partitions: [{ partition: 0, records: recordSet([a, b]), highWatermark: '65' }, { partition: 3, records: null }] },
      { topic: 'telemetry', partitions: [{ partition: 5, records: c, logStartOffset: '990', highWatermark: '1003', lastStableOffset: '1003' }] }
    ])
    const r = await compare(payload, { 'telemetry:5': '1000' })
    assert.deepEqual(r.map(x => [x.records, x.nextOffset]), [[65, 65n], [0, undefined], [3, 1003n]])
  })

  it('repeated header names become arrays and null header values stay null, as in kafkajs', async () => {
    const headers = { 'mqtt.topic': 'a/b', multi: [Buffer.from('1'), Buffer.from('2'), Buffer.from('3')], empty: Buffer.alloc(0), 'é-ü': 'x' } as IHeaders
    const batch = await encodeBatch({ baseOffset: '5', records: [{ key: 'a/b', value: 'v', headers }, { key: 'a/c', value: 'w', headers: { solo: 'x' } }] })
    await compare(fetchResponse([{ topic: 't', partitions: [{ partition: 0, records: batch }] }]), { 't:0': '5' })
  })

  it('gzip batches, alone and mixed with uncompressed ones', async () => {
    const a = await encodeBatch({ baseOffset: '100', records: records(30), compression: GZIP })
    const b = await encodeBatch({ baseOffset: '130', records: records(4, 30) })
    const c = await encodeBatch({ baseOffset: '134', records: records(50, 34), compression: GZIP })
    const r = await compare(fetchResponse([{ topic: 't', partitions: [{ partition: 1, records: recordSet([a, b, c]) }] }]), { 't:1': '100' })
    assert.deepEqual(r.map(x => [x.records, x.nextOffset]), [[84, 184n]])
  })

  it('drops the records below the fetch offset of a batch that starts before it (compressed or not)', async () => {
    for (const compression of [0, GZIP]) {
      const a = await encodeBatch({ baseOffset: '200', records: records(20), compression })
      const b = await encodeBatch({ baseOffset: '220', records: records(5, 20), compression })
      const r = await compare(fetchResponse([{ topic: 't', partitions: [{ partition: 0, records: recordSet([a, b]) }] }]), { 't:0': '213' })
      assert.deepEqual(r.map(x => [x.records, x.fetched, x.nextOffset]), [[12, 12, 225n]])
    }
  })

  it('ignores a batch cut off at the end of the response, wherever the cut falls', async () => {
    const a = await encodeBatch({ baseOffset: '0', records: records(6) })
    const b = await encodeBatch({ baseOffset: '6', records: records(9, 6), compression: GZIP })
    for (let cut = 1; cut < b.length; cut++) {
      const r = await compare(fetchResponse([{ topic: 't', partitions: [{ partition: 0, records: recordSet([a, b], cut) }] }]), {})
      assert.deepEqual(r.map(x => [x.records, x.nextOffset]), [[6, 6n]], `cut ${cut}`)
    }
    const onlyPartial = await compare(fetchResponse([{ topic: 't', partitions: [{ partition: 0, records: recordSet([b], 10) }] }]), { 't:0': '6' })
    assert.deepEqual(onlyPartial.map(x => [x.records, x.nextOffset]), [[0, undefined]])
  })

  it('leaves out control batches and the batches of aborted transactions (read_committed)', async () => {
    const pid = '9001'
    const other = '9002'
    const batches = [
      await encodeBatch({ baseOffset: '0', records: records(3) }),
      await encodeBatch({ baseOffset: '3', records: records(4, 3), transactional: true, producerId: pid }),
      await encodeBatch({ baseOffset: '7', records: records(2, 7), transactional: true, producerId: other }),
      await markerBatch('9', pid, 0), // pid aborts 3..6
      await markerBatch('10', other, 1), // other commits 7..8
      await encodeBatch({ baseOffset: '11', records: records(3, 11), transactional: true, producerId: pid }),
      await markerBatch('14', pid, 1), // pid commits 11..13
      await encodeBatch({ baseOffset: '15', records: records(2, 15), compression: GZIP })
    ]
    const payload = fetchResponse([{ topic: 't', partitions: [{ partition: 2, records: recordSet(batches), abortedTransactions: [{ producerId: pid, firstOffset: '3' }] }] }])
    const r = await compare(payload, {})
    assert.deepEqual(r.map(x => [x.records, x.aborted, x.nextOffset]), [[10, 4, 17n]])
    // without the aborted list (read_uncommitted) only the markers go
    const all = await parseRecordSet(recordSet(batches), 0n)
    assert.equal(all.records.length, 14)
  })

  it('log-append-time batches, negative and large timestamp deltas, offsets beyond 2^53', async () => {
    const big = await encodeBatch({ baseOffset: '9007199254740990', records: [...records(3), { key: 'k', value: 'v', offsetDelta: 9 }], firstTimestamp: '9007199254740000', maxTimestamp: '9007199254749999' })
    const huge = await encodeBatch({ baseOffset: '12', records: [{ key: 'k', value: 'v', timestampDelta: 2 ** 52 }, { key: 'k', value: 'w', timestampDelta: -(2 ** 55) }], firstTimestamp: '1700000000000' })
    const appended = await encodeBatch({ baseOffset: '14', records: records(5), logAppendTime: true, maxTimestamp: '1700000009999' })
    const r = await compare(fetchResponse([
      { topic: 't', partitions: [{ partition: 0, records: big }, { partition: 1, records: recordSet([huge, appended]) }] }
    ]), { 't:0': '9007199254740990', 't:1': '12' })
    assert.deepEqual(r.map(x => [x.records, x.nextOffset]), [[4, 9007199254741000n], [7, 19n]])
  })

  it('skips by key before decoding: only wanted records are built, the rest are counted', async () => {
    const a = await encodeBatch({ baseOffset: '0', records: records(60) })
    const b = await encodeBatch({ baseOffset: '60', records: records(60, 60), compression: GZIP })
    const want = Buffer.from('devices/d2/temp')
    let asked = 0
    const filter: RecordFilter = { wants: (key) => { asked++; return key !== null && key.equals(want) } }
    const r = await compare(fetchResponse([{ topic: 't', partitions: [{ partition: 0, records: recordSet([a, b]) }] }]), {}, filter, m => m.key !== null && m.key.equals(want))
    const [only] = r
    assert.ok(only !== undefined && only.records > 0)
    assert.equal(asked, 120)
    assert.equal(only.fetched, 120)
    assert.equal(only.skipped, 120 - only.records)
    assert.equal(only.nextOffset, 120n)
  })

  it('a filter naming a header gets its (last) value, or undefined when the record lacks it', async () => {
    const withMulti = { ...wharfHeaders('x', 1), 'mqtt.topic': [Buffer.from('first'), Buffer.from('devices/d1/temp')] } as IHeaders
    const batch = await encodeBatch({ baseOffset: '0', records: [...records(30), { key: 'k', value: 'v', headers: withMulti }, { key: 'k', value: 'v', headers: { 'mqtt.topic': Buffer.alloc(0) } }] })
    // kafkajs cannot write a null header value: turn the last record's empty one (varint 0) into null (varint -1)
    assert.equal(batch[batch.length - 1], 0)
    batch[batch.length - 1] = 1
    const seen: Array<Buffer | null | undefined> = []
    const filter: RecordFilter = {
      header: 'mqtt.topic',
      wants: (_key, header) => { seen.push(header); return header !== undefined && header !== null && header.toString().endsWith('d1/temp') }
    }
    const expect = (m: { headers: IHeaders }): boolean => { const h = lastHeader(m.headers, 'mqtt.topic'); return h !== undefined && h !== null && h.toString().endsWith('d1/temp') }
    const [r] = await compare(fetchResponse([{ topic: 't', partitions: [{ partition: 0, records: batch }] }]), {}, filter, expect)
    assert.ok(r !== undefined && r.records > 1)
    assert.equal(seen.length, 32)
    assert.equal(seen.filter(h => h === undefined).length, 5, 'records without headers')
    assert.equal(seen[31], null)
  })

  it('reports batches whose framing contradicts itself, and responses shorter than their fields', async () => {
    const batch = await encodeBatch({ baseOffset: '0', records: records(3) })
    const broken = Buffer.from(batch)
    broken[RECORD_LENGTH_AT] = 0x7e // first record claims 63 bytes: past the end of the batch
    await assert.rejects(parseRecordSet(broken, 0n), CorruptRecordBatch)
    const payload = fetchResponse([{ topic: 't', partitions: [{ partition: 0, records: batch }] }])
    assert.throws(() => decodeFetchResponseV11(payload.subarray(0, payload.length - 5)), FetchResponseTruncated)
  })

  it('hands every record to a filter that wants everything, the same as no filter', async () => {
    const batches = [await encodeBatch({ baseOffset: '0', records: records(20) }), await encodeBatch({ baseOffset: '20', records: records(20, 20), compression: GZIP })]
    const set = recordSet(batches)
    const all = await parseRecordSet(set, 0n)
    const viaFilter = await parseRecordSet(set, 0n, { wants: () => true })
    assert.deepStrictEqual(viaFilter.records, all.records)
    assert.equal(viaFilter.skipped, 0)
    assert.equal(all.bytes, set.length)
  })
})

describe('legacy message sets (magic 0 and 1)', () => {
  it('are decoded by kafkajs, then cut at the fetch offset and filtered by key', async () => {
    for (const version of [0, 1] as const) {
      const set = encodeMessageSet(version, 10, Array.from({ length: 5 }, (_v, i) => ({ key: i === 3 ? null : `k${i}`, value: `v${i}`, timestamp: 1700000000000 + i })))
      const theirs = await kafkajsDecodeMessageSet(set)
      const all = await parseRecordSet(set, 12n)
      assert.deepStrictEqual(all.records, theirs.slice(2))
      assert.equal(all.nextOffset, 15n)
      const some = await parseRecordSet(set, 10n, { wants: (key) => key?.toString() === 'k4' })
      assert.deepStrictEqual(some.records, theirs.slice(4))
      assert.equal(some.skipped, 4)
    }
  })
})

/** Where the first record's length varint sits in an uncompressed batch. */
const RECORD_LENGTH_AT = 61

describe('a partition list without records', () => {
  it('decodes partition errors and watermarks like kafkajs', async () => {
    const partitions: TestPartition[] = [
      { partition: 0, errorCode: 1, highWatermark: '-1', lastStableOffset: '-1', logStartOffset: '-1', records: null },
      { partition: 1, errorCode: 6, records: null, abortedTransactions: [] }
    ]
    await compare(fetchResponse([{ topic: 'x', partitions }]), {})
  })
})
