import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { CompressionTypes, Kafka, logLevel, type Admin, type Producer } from 'kafkajs'
import { createLogger } from '../../src/observability/logger.js'
import { PartitionFetcher, type FetchedRecord, type OffsetReset } from '../../src/kafka/partition-fetcher.js'
import { createTopicWithLeaders } from '../support/kafka-topics.js'
import { until } from '../support/mqtt-client.js'
import { testBrokers } from '../support/wharf-process.js'
import { wharfHeaders } from '../support/record-sets.js'

const logger = createLogger({ level: (process.env.WHARF_TEST_LOG_LEVEL as 'warn' | undefined) ?? 'warn' })

interface Got { partition: number, offset: bigint, key: string | undefined, value: string | undefined, headers: FetchedRecord['headers'] }

/** A fetcher that records what it is handed. */
function recordingFetcher (kafka: Kafka, purpose: string, resets: OffsetReset[] = []): { fetcher: PartitionFetcher, got: Map<string, Got[]> } {
  const got = new Map<string, Got[]>()
  const fetcher = new PartitionFetcher(kafka, {
    purpose,
    onBatch: async (topic, partition, records) => {
      let list = got.get(topic)
      if (list === undefined) got.set(topic, list = [])
      for (const r of records) list.push({ partition, offset: BigInt(r.offset), key: r.key?.toString(), value: r.value?.toString(), headers: r.headers })
    },
    onOffsetReset: (r) => { resets.push(r) }
  }, logger)
  return { fetcher, got }
}

/** Produces one record per entry to an explicit partition; returns the offsets Kafka gave them. */
async function produce (producer: Producer, topic: string, records: Array<{ partition: number, key: string, value: string }>, compression = CompressionTypes.None): Promise<bigint[]> {
  const byPartition = new Map<number, number[]>()
  records.forEach((r, i) => { const l = byPartition.get(r.partition) ?? []; l.push(i); byPartition.set(r.partition, l) })
  const offsets: bigint[] = new Array(records.length)
  const result = await producer.send({
    topic,
    acks: -1,
    compression,
    messages: records.map((r) => ({ partition: r.partition, key: r.key, value: r.value, headers: wharfHeaders(r.key, 1) }))
  })
  for (const meta of result) {
    const indexes = byPartition.get(meta.partition) ?? []
    indexes.forEach((index, k) => { offsets[index] = BigInt(meta.baseOffset as string) + BigInt(k) })
  }
  return offsets
}

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out waiting for ${what}`)) }, ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function keysOf (list: Got[] | undefined, partition?: number): string[] {
  return (list ?? []).filter((g) => partition === undefined || g.partition === partition).map((g) => g.key ?? '')
}

describe('PartitionFetcher against a real Kafka', () => {
  const id = randomUUID().slice(0, 8)
  const topic = `fetcher.six.${id}`
  const other = `fetcher.one.${id}`
  let kafka: Kafka
  let admin: Admin
  let producer: Producer
  const fetchers: PartitionFetcher[] = []

  before(async () => {
    kafka = new Kafka({ clientId: 'fetcher-test', brokers: testBrokers(), logLevel: logLevel.NOTHING })
    admin = kafka.admin()
    await admin.connect()
    await createTopicWithLeaders(admin, topic, 6)
    await createTopicWithLeaders(admin, other, 1)
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
  })
  after(async () => {
    await Promise.all(fetchers.map((f) => f.stop()))
    await producer.disconnect()
    await admin.deleteTopics({ topics: [topic, other] }).catch(() => undefined)
    await admin.disconnect()
  })

  it('reads only the assigned partitions, and picks up partitions assigned while records are produced: all of them, none twice', async () => {
    const { fetcher, got } = recordingFetcher(kafka, 'main')
    const idle = recordingFetcher(kafka, 'idle').fetcher
    fetchers.push(fetcher, idle)
    await fetcher.start()
    await idle.start()

    // records before any assignment, in every partition
    await produce(producer, topic, Array.from({ length: 60 }, (_v, i) => ({ partition: i % 6, key: `early-${i}`, value: `v${i}` })))
    fetcher.assign(topic, 0, 0n)
    await fetcher.waitForPosition(topic, 0, 10n)
    assert.deepEqual(keysOf(got.get(topic)), Array.from({ length: 10 }, (_v, k) => `early-${k * 6}`), 'only partition 0, in order')
    const first = got.get(topic)?.[0]
    assert.equal(first?.value, 'v0')
    assert.deepEqual(first?.headers, wharfHeaders('early-0', 1), 'headers as written')

    // a steady stream into all six partitions while partitions 1..5 are assigned one by one
    let producing = true
    const produced: Array<{ partition: number, offset: bigint, key: string }> = []
    const stream = (async () => {
      for (let n = 0; producing; n++) {
        const batch = Array.from({ length: 12 }, (_v, i) => ({ partition: i % 6, key: `s-${n}-${i}`, value: `stream ${n} ${i}` }))
        const offsets = await produce(producer, topic, batch)
        batch.forEach((r, i) => produced.push({ partition: r.partition, offset: offsets[i] as bigint, key: r.key }))
      }
    })()
    const startAt = new Map<number, bigint>()
    for (let partition = 1; partition < 6; partition++) {
      await until(() => produced.length >= 12 * 5 * partition, 30_000, 'the stream to go on')
      const ends = await fetcher.latestOffsets([{ topic, partition }])
      const end = ends.get(`${topic}:${partition}`) as bigint
      startAt.set(partition, end)
      fetcher.assign(topic, partition, end)
    }
    await until(() => produced.length >= 12 * 30, 30_000, 'more of the stream')
    producing = false
    await stream
    const finalEnds = await fetcher.latestOffsets(Array.from({ length: 6 }, (_v, partition) => ({ topic, partition })))
    await Promise.all([...finalEnds].map(([key, end]) => fetcher.waitForPosition(topic, Number(key.split(':').pop()), end)))

    const list = got.get(topic) ?? []
    for (let partition = 0; partition < 6; partition++) {
      const offsets = list.filter((g) => g.partition === partition).map((g) => g.offset)
      const from = startAt.get(partition) ?? 0n
      const end = finalEnds.get(`${topic}:${partition}`) as bigint
      const expected = Array.from({ length: Number(end - from) }, (_v, k) => from + BigInt(k))
      assert.deepEqual(offsets, expected, `partition ${partition}: every offset from ${from} to ${end}, once, in order`)
      const keys = new Map(list.filter((g) => g.partition === partition).map((g) => [g.offset, g.key]))
      for (const p of produced.filter((r) => r.partition === partition && r.offset >= from)) {
        assert.equal(keys.get(p.offset), p.key, `partition ${partition} offset ${p.offset}`)
      }
    }
    assert.ok([...startAt.values()].every((o) => o > 10n), 'the later partitions started mid-stream')
    const c = fetcher.topicCounters.get(topic)
    assert.ok(c !== undefined)
    assert.equal(c.recordsDelivered, list.length)
    assert.equal(c.recordsSkipped, 0)
    assert.ok(c.bytesFetched > 0 && c.fetchRequests > 0)
    assert.equal(idle.fetchRequests, 0, 'a fetcher with nothing assigned sends no Fetch')
  })

  it('unassigning stops that partition only; with nothing assigned no Fetch is sent', async () => {
    const { fetcher, got } = recordingFetcher(kafka, 'unassign')
    const marker = recordingFetcher(kafka, 'marker')
    fetchers.push(fetcher, marker.fetcher)
    await fetcher.start()
    await marker.fetcher.start()
    const ends = await fetcher.latestOffsets([{ topic: other, partition: 0 }, { topic, partition: 4 }, { topic, partition: 5 }])
    fetcher.assign(other, 0, ends.get(`${other}:0`) as bigint)
    fetcher.assign(topic, 4, ends.get(`${topic}:4`) as bigint)
    fetcher.assign(topic, 5, ends.get(`${topic}:5`) as bigint)
    marker.fetcher.assign(topic, 3, (await marker.fetcher.latestOffsets([{ topic, partition: 3 }])).get(`${topic}:3`) as bigint)

    await produce(producer, other, [{ partition: 0, key: 'o-1', value: 'x' }])
    await until(() => keysOf(got.get(other)).includes('o-1'), 30_000, 'the other topic to be read')

    fetcher.unassign(other, 0)
    assert.equal(fetcher.position(other, 0), undefined)
    const requestsOfOther = fetcher.topicCounters.get(other)?.fetchRequests
    const fetchedOfOther = fetcher.topicCounters.get(other)?.recordsFetched
    await produce(producer, other, [{ partition: 0, key: 'o-2', value: 'x' }])
    await produce(producer, topic, [{ partition: 4, key: 'after-unassign-4', value: 'x' }, { partition: 3, key: 'marker-1', value: 'x' }])
    await until(() => keysOf(marker.got.get(topic)).includes('marker-1') && keysOf(got.get(topic)).includes('after-unassign-4'), 30_000, 'the marker')
    assert.deepEqual(keysOf(got.get(other)), ['o-1'], 'nothing of the unassigned partition after it was unassigned')
    assert.equal(fetcher.topicCounters.get(other)?.fetchRequests, requestsOfOther, 'no Fetch for the unassigned topic')
    assert.equal(fetcher.topicCounters.get(other)?.recordsFetched, fetchedOfOther)

    fetcher.unassign(topic, 4)
    fetcher.unassign(topic, 5)
    assert.deepEqual(fetcher.assignments(), [])
    // the Fetch on the wire when the last partition went was counted when it was sent
    const requests = fetcher.fetchRequests
    await produce(producer, topic, [{ partition: 5, key: 'after-unassign-5', value: 'x' }, { partition: 3, key: 'marker-2', value: 'x' }])
    await until(() => keysOf(marker.got.get(topic)).includes('marker-2'), 30_000, 'the second marker')
    // and one more round of the marker's fetch, so that a Fetch sent after the unassignment would have been answered
    await produce(producer, topic, [{ partition: 3, key: 'marker-3', value: 'x' }])
    await until(() => keysOf(marker.got.get(topic)).includes('marker-3'), 30_000, 'the third marker')
    assert.equal(fetcher.fetchRequests, requests, 'no Fetch once nothing is assigned')
    assert.ok(!keysOf(got.get(topic)).includes('after-unassign-5'))
  })

  it('skips by key before decoding, also in gzip batches, and counts what it skipped', async () => {
    const { fetcher, got } = recordingFetcher(kafka, 'filter')
    fetchers.push(fetcher)
    await fetcher.start()
    const want = Buffer.from('wanted')
    let asked = 0
    fetcher.setFilter(topic, { wants: (key) => { asked++; return key !== null && key.equals(want) } })
    const from = (await fetcher.latestOffsets([{ topic, partition: 2 }])).get(`${topic}:2`) as bigint
    fetcher.assign(topic, 2, from)
    const records = Array.from({ length: 200 }, (_v, i) => ({ partition: 2, key: i % 40 === 7 ? 'wanted' : `other-${i}`, value: `value ${i}` }))
    await produce(producer, topic, records.slice(0, 100), CompressionTypes.GZIP)
    const offsets = await produce(producer, topic, records.slice(100))
    await fetcher.waitForPosition(topic, 2, (offsets[offsets.length - 1] as bigint) + 1n)
    const list = got.get(topic) ?? []
    assert.deepEqual(list.map((g) => g.value), records.filter((r) => r.key === 'wanted').map((r) => r.value))
    const c = fetcher.topicCounters.get(topic)
    assert.equal(c?.recordsFetched, 200)
    assert.equal(c?.recordsSkipped, 195)
    assert.equal(c?.recordsDelivered, 5)
    assert.equal(asked, 200)
  })

  it('OFFSET_OUT_OF_RANGE: a position past the end goes on from the end; one below the log start from it, reporting the loss', async () => {
    const resets: OffsetReset[] = []
    const { fetcher, got } = recordingFetcher(kafka, 'range', resets)
    fetchers.push(fetcher)
    await fetcher.start()
    const tp = { topic, partition: 1 }
    const end = (await fetcher.latestOffsets([tp])).get(`${topic}:1`) as bigint
    fetcher.assign(topic, 1, end + 1000n)
    await until(() => resets.length === 1, 30_000, 'the reset past the end')
    assert.deepEqual(resets[0], { topic, partition: 1, fetchOffset: end + 1000n, resumeAt: end, logStartOffset: 0n, endOffset: end, lostRecords: 0n })
    const [next] = await produce(producer, topic, [{ partition: 1, key: 'after-reset', value: 'x' }])
    await fetcher.waitForPosition(topic, 1, (next as bigint) + 1n)
    assert.deepEqual(keysOf(got.get(topic)), ['after-reset'])

    // delete the records below `end` + 1: reading from 0 has lost them
    fetcher.unassign(topic, 1)
    await admin.fetchTopicMetadata({ topics: [topic] }) // the admin finds leaders only of topics it has metadata of
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 1, offset: (end + 1n).toString() }] })
    fetcher.assign(topic, 1, 0n)
    await until(() => resets.length === 2, 30_000, 'the reset below the log start')
    assert.deepEqual(resets[1], { topic, partition: 1, fetchOffset: 0n, resumeAt: end + 1n, logStartOffset: end + 1n, endOffset: end + 1n, lostRecords: end + 1n })
    assert.equal(fetcher.topicCounters.get(topic)?.recordsLost, Number(end + 1n))
    const [last] = await produce(producer, topic, [{ partition: 1, key: 'after-delete', value: 'x' }])
    await fetcher.waitForPosition(topic, 1, (last as bigint) + 1n)
    assert.deepEqual(keysOf(got.get(topic)), ['after-reset', 'after-delete'])
  })

  it('a partition assigned again right after the last one was unassigned is read (its broker loop restarts)', async () => {
    const keys: string[] = []
    let block: Promise<void> | undefined
    let entered = false
    const fetcher = new PartitionFetcher(kafka, {
      purpose: 'again',
      onBatch: async (_t, _p, records) => {
        for (const r of records) keys.push(r.key?.toString() ?? '')
        entered = true
        await block
      }
    }, logger)
    fetchers.push(fetcher)
    await fetcher.start()
    // the only partition's batch is being handled, so its broker loop sleeps; unassigning it ends the
    // loop, and an assignment a few microtasks later must start a new one
    for (let yields = 0; yields < 8; yields++) {
      let release: () => void = () => undefined
      block = new Promise((resolve) => { release = resolve })
      entered = false
      const [first] = await produce(producer, topic, [{ partition: 5, key: `blocked-${yields}`, value: 'x' }])
      fetcher.assign(topic, 5, first as bigint)
      await until(() => entered, 30_000, 'the handler')
      fetcher.unassign(topic, 5)
      for (let y = 0; y < yields; y++) await Promise.resolve()
      fetcher.assign(topic, 5, (first as bigint) + 1n)
      release()
      block = undefined
      const [next] = await produce(producer, topic, [{ partition: 5, key: `again-${yields}`, value: 'x' }])
      await within(fetcher.waitForPosition(topic, 5, (next as bigint) + 1n), 30_000, `the record after ${yields} microtask(s)`)
      fetcher.unassign(topic, 5)
    }
    assert.deepEqual(keys, Array.from({ length: 8 }, (_v, i) => [`blocked-${i}`, `again-${i}`]).flat())
  })

  it('waitForPosition rejects when the partition is unassigned first', async () => {
    const { fetcher } = recordingFetcher(kafka, 'waiters')
    fetchers.push(fetcher)
    await fetcher.start()
    fetcher.assign(topic, 0, 0n)
    const waiting = fetcher.waitForPosition(topic, 0, 1n << 40n)
    fetcher.unassign(topic, 0)
    await assert.rejects(waiting, { name: 'PartitionUnassigned' })
    await assert.rejects(fetcher.waitForPosition(topic, 0, 0n), { name: 'PartitionUnassigned' })
  })
})
