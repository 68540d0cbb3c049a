import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs'
import { createLogger } from '../../src/observability/logger.js'
import { PartitionFetcher } from '../../src/kafka/partition-fetcher.js'
import { RangeReader } from '../../src/kafka/range-reader.js'
import { LogTail } from '../../src/kafka/log-tail.js'
import type { Ranges } from '../../src/kafka/range-reader.js'
import { createTopicWithLeaders } from '../support/kafka-topics.js'
import { until } from '../support/mqtt-client.js'
import { testBrokers } from '../support/wharf-process.js'

const logger = createLogger({ level: (process.env.WHARF_TEST_LOG_LEVEL as 'warn' | undefined) ?? 'warn' })

/** `count` records into one partition, `perSend` per request; returns their offsets. */
async function produce (producer: Producer, topic: string, partition: number, count: number, label: string, perSend = 50): Promise<bigint[]> {
  const offsets: bigint[] = []
  for (let i = 0; i < count; i += perSend) {
    const n = Math.min(perSend, count - i)
    const [meta] = await producer.send({ topic, acks: -1, messages: Array.from({ length: n }, (_v, k) => ({ partition, key: `${label}-${i + k}`, value: 'x' })) })
    for (let k = 0; k < n; k++) offsets.push(BigInt(meta?.baseOffset as string) + BigInt(k))
  }
  return offsets
}

const range = (from: bigint, to: bigint): bigint[] => Array.from({ length: Number(to - from) }, (_v, k) => from + BigInt(k))

describe('LogTail and RangeReader contracts on the PartitionFetcher', () => {
  const id = randomUUID().slice(0, 8)
  const views = `readers.views.${id}`
  const live = `readers.live.${id}`
  const data = `readers.data.${id}`
  let kafka: Kafka
  let admin: Admin
  let producer: Producer
  const fetchers: PartitionFetcher[] = []

  before(async () => {
    kafka = new Kafka({ clientId: 'readers-test', brokers: testBrokers(), logLevel: logLevel.NOTHING })
    admin = kafka.admin()
    await admin.connect()
    await createTopicWithLeaders(admin, views, 3)
    await createTopicWithLeaders(admin, live, 2)
    await createTopicWithLeaders(admin, data, 2)
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
  })
  after(async () => {
    await Promise.all(fetchers.map((f) => f.stop()))
    await producer.disconnect()
    await admin.deleteTopics({ topics: [views, live, data] }).catch(() => undefined)
    await admin.disconnect()
  })

  it('PartitionTail: an earliest tail catches up, then reaches every later write; a latest tail on the same fetcher gets only what comes after its start', async () => {
    for (let p = 0; p < 3; p++) await produce(producer, views, p, 40 + p, `before-${p}`)
    await produce(producer, live, 0, 10, 'old')
    const fetcher = new PartitionFetcher(kafka, { purpose: 'tails' }, logger)
    fetchers.push(fetcher)
    await fetcher.start()
    const seen: Record<string, string[]> = { [views]: [], [live]: [] }
    const handler = async (topic: string, _p: number, records: Array<{ key: Buffer | null }>): Promise<void> => { for (const r of records) seen[topic]?.push(r.key?.toString() ?? '') }
    const view = new LogTail(fetcher, { topics: [views], from: 'earliest', onBatch: handler })
    const tail = new LogTail(fetcher, { topics: [live], from: 'latest', onBatch: handler })
    await view.start()
    await tail.start()
    await view.caughtUp()
    assert.equal(seen[views]?.length, 40 + 41 + 42, 'every record that was there at start')
    assert.deepEqual(Object.fromEntries(view.positions()), { [`${views}:0`]: 40n, [`${views}:1`]: 41n, [`${views}:2`]: 42n })
    await tail.caughtUp()

    await produce(producer, views, 1, 5, 'later')
    await produce(producer, live, 1, 3, 'new')
    await view.reachEnd()
    assert.deepEqual(seen[views]?.slice(-5), ['later-0', 'later-1', 'later-2', 'later-3', 'later-4'], 'read-your-writes')
    await tail.reachEnd()
    assert.deepEqual(seen[live], ['new-0', 'new-1', 'new-2'], 'the latest tail starts at the head')
    const marks = await view.watermarks()
    assert.deepEqual(marks.get(`${views}:1`), { low: 0n, high: 46n })

    await view.stop()
    await tail.stop()
    assert.deepEqual(fetcher.assignments(), [])
  })

  it('PartitionRangeReader: overlapping and late-joining ranges each get exactly their records, once; finished partitions are unassigned', async () => {
    const offsets = await produce(producer, data, 0, 1000, 'd', 100)
    const other = await produce(producer, data, 1, 30, 'e')
    const fetcher = new PartitionFetcher(kafka, { purpose: 'replay', partitionMaxBytes: 4096 }, logger)
    fetchers.push(fetcher)
    await fetcher.start()
    const reader = new RangeReader(fetcher, [data])
    const base = offsets[0] as bigint
    const tp0 = `${data}:0`
    const tp1 = `${data}:1`
    const got = new Map<string, string[]>()
    const request = (name: string, ranges: Ranges, slow = false): Promise<void> => reader.read({
      ranges,
      onRecords: async (topic, partition, records) => {
        assert.equal(topic, data)
        const list = got.get(name) ?? []
        for (const r of records) list.push(`${partition}:${r.offset}`)
        got.set(name, list)
        if (slow) await new Promise((resolve) => setTimeout(resolve, 5))
      }
    })
    const at = (partition: number, offsets: bigint[]): string[] => offsets.map((o) => `${partition}:${o}`)
    const whole = request('whole', new Map([[tp0, { from: base, to: base + 1000n }]]), true)
    await until(() => (got.get('whole')?.length ?? 0) >= 300, 30_000, 'the first request to be under way')
    // one joining ahead of the position, one below it (the partition is read again from there) and on another partition
    const ahead = request('ahead', new Map([[tp0, { from: base + 700n, to: base + 900n }]]))
    const o1 = other[0] as bigint
    const below = request('below', new Map([[tp0, { from: base + 50n, to: base + 120n }], [tp1, { from: o1, to: o1 + 30n }]]))
    const empty = request('empty', new Map([[tp0, { from: base + 5n, to: base + 5n }]]))
    await Promise.all([whole, ahead, below, empty])
    assert.deepEqual(got.get('whole'), at(0, range(base, base + 1000n)), 'each record once, in order, across the re-read')
    assert.deepEqual(got.get('ahead'), at(0, range(base + 700n, base + 900n)))
    const belowGot = got.get('below') ?? []
    assert.deepEqual(belowGot.filter((k) => k.startsWith('0:')), at(0, range(base + 50n, base + 120n)))
    assert.deepEqual(belowGot.filter((k) => k.startsWith('1:')), at(1, range(o1, o1 + 30n)))
    assert.equal(got.get('empty'), undefined)
    assert.equal(reader.recordsRead, 1000 + 200 + 100)
    assert.deepEqual(fetcher.assignments(), [], 'nothing is read once every range is done')
  })

  it('PartitionRangeReader: a range over records that left Kafka finishes; a failing requester is rejected alone', async () => {
    const offsets = await produce(producer, data, 1, 60, 'f')
    const fetcher = new PartitionFetcher(kafka, { purpose: 'replay-2' }, logger)
    fetchers.push(fetcher)
    await fetcher.start()
    const reader = new RangeReader(fetcher, [data])
    const tp1 = `${data}:1`
    const first = offsets[0] as bigint
    await admin.fetchTopicMetadata({ topics: [data] })
    await admin.deleteTopicRecords({ topic: data, partitions: [{ partition: 1, offset: (first + 20n).toString() }] })
    const got: bigint[] = []
    await reader.read({ ranges: new Map([[tp1, { from: first, to: first + 30n }]]), onRecords: async (_t, _p, records) => { for (const r of records) got.push(BigInt(r.offset)) } })
    assert.deepEqual(got, range(first + 20n, first + 30n), 'what is left of the range')

    const fine: bigint[] = []
    const failing = reader.read({ ranges: new Map([[tp1, { from: first + 20n, to: first + 60n }]]), onRecords: async () => { throw new Error('requester failed') } })
    const ok = reader.read({ ranges: new Map([[tp1, { from: first + 20n, to: first + 60n }]]), onRecords: async (_t, _p, records) => { for (const r of records) fine.push(BigInt(r.offset)) } })
    await assert.rejects(failing, /requester failed/)
    await ok
    assert.deepEqual(fine, range(first + 20n, first + 60n))
    await reader.stop()
    await assert.rejects(reader.read({ ranges: new Map([[tp1, { from: first, to: first + 1n }]]), onRecords: async () => undefined }), /stopped/)
  })
})
