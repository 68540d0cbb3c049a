import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs'
import { pino } from 'pino'
import { PartitionFetcher } from '../../src/kafka/partition-fetcher.js'
import { startPrivateLocalKafka, type PrivateLocalKafka } from '../support/kafka.js'
import { createTopicWithLeaders } from '../support/kafka-topics.js'
import { until } from '../support/mqtt-client.js'

// A leader that dies under a PartitionFetcher: its partitions follow the new leaders Kafka elects, the
// dead broker is logged once, and every record acknowledged by Kafka arrives once, in order.
describe('PartitionFetcher: a partition leader is killed while records stream', () => {
  let kafka: PrivateLocalKafka
  let client: Kafka
  let admin: Admin
  let producer: Producer
  let fetcher: PartitionFetcher | undefined
  const topic = 'fetcher.faults'

  before(async () => {
    kafka = await startPrivateLocalKafka({ nodes: 3 })
    client = new Kafka({ clientId: 'fetcher-faults', brokers: kafka.brokers, logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 200, maxRetryTime: 2000 } })
    admin = client.admin()
    await admin.connect()
    await createTopicWithLeaders(admin, topic, 3, 3, true)
    // not idempotent: kafkajs' idempotent producer does not move its sequence number on a send that
    // failed on the client's side (a timeout while the leader dies) although Kafka wrote it, so the
    // next send reuses that number, Kafka answers it as a duplicate of the written batch, and kafkajs
    // reports the next batch acknowledged at the earlier batch's offset (seen once under load: offset
    // 101 "acknowledged" as r-102 holds r-101). Without idempotence a retry may write a batch twice,
    // but every offset a send reports holds that send's records, which is what this test compares.
    producer = client.producer({ idempotent: false, maxInFlightRequests: 1 })
    await producer.connect()
  })
  after(async () => {
    await fetcher?.stop()
    await producer?.disconnect().catch(() => undefined)
    await admin?.disconnect().catch(() => undefined)
    await kafka?.cleanup()
  })

  it('follows the new leaders; nothing acknowledged is missed or read twice; the dead broker is logged once', async () => {
    const lines: Array<{ msg: string, nodeId?: number }> = []
    const logger = pino({ level: 'info' }, new Writable({ write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as { msg: string }); done() } }))
    const got = new Map<number, Array<{ offset: bigint, key: string }>>()
    fetcher = new PartitionFetcher(client, {
      purpose: 'faults',
      onBatch: async (_topic, partition, records) => {
        const list = got.get(partition) ?? []
        for (const r of records) list.push({ offset: BigInt(r.offset), key: r.key?.toString() ?? '' })
        got.set(partition, list)
      }
    }, logger)
    await fetcher.start()
    const tps = [0, 1, 2].map((partition) => ({ topic, partition }))
    const starts = await fetcher.latestOffsets(tps)
    for (const { partition } of tps) fetcher.assign(topic, partition, starts.get(`${topic}:${partition}`) as bigint)

    const acked = new Map<number, Map<bigint, string>>()
    let producing = true
    let sent = 0
    const stream = (async () => {
      for (let n = 0; producing; n++) {
        const messages = [0, 1, 2].map((partition) => ({ partition, key: `r-${n}-${partition}`, value: 'x' }))
        try {
          const result = await producer.send({ topic, acks: -1, messages })
          for (const meta of result) {
            const m = acked.get(meta.partition) ?? new Map<bigint, string>()
            m.set(BigInt(meta.baseOffset as string), `r-${n}-${meta.partition}`)
            acked.set(meta.partition, m)
          }
          sent++
        } catch {
          // not acknowledged while the cluster elects new leaders: not expected at the fetcher
        }
      }
    })()
    const delivered = (): number => [...got.values()].reduce((n, l) => n + l.length, 0)
    await until(() => delivered() > 300, 60_000, 'records before the kill')

    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    const leader = meta.topics[0]?.partitions.find((p) => p.partitionId === 0)?.leader
    assert.ok(leader !== undefined && leader >= 1 && leader <= 3)
    await kafka.stopNode(leader, 'SIGKILL')
    const sentAtKill = sent
    await until(() => sent > sentAtKill + 200, 120_000, 'the producer to go on with the new leaders')
    const deliveredAfter = delivered()
    await until(() => delivered() > deliveredAfter + 300, 60_000, 'the fetcher to go on with the new leaders')

    await kafka.startNode(leader)
    await until(() => sent > sentAtKill + 400, 120_000, 'more records with the node back')
    producing = false
    await stream

    const ends = await fetcher.latestOffsets(tps)
    await Promise.all(tps.map(({ partition }) => (fetcher as PartitionFetcher).waitForPosition(topic, partition, ends.get(`${topic}:${partition}`) as bigint)))
    for (const { partition } of tps) {
      const list = got.get(partition) ?? []
      const from = starts.get(`${topic}:${partition}`) as bigint
      const end = ends.get(`${topic}:${partition}`) as bigint
      assert.deepEqual(list.map((r) => r.offset), Array.from({ length: Number(end - from) }, (_v, k) => from + BigInt(k)), `partition ${partition}: each offset once, in order`)
      const keys = new Map(list.map((r) => [r.offset, r.key]))
      for (const [offset, key] of acked.get(partition) ?? []) assert.equal(keys.get(offset), key, `partition ${partition} offset ${offset}: the acknowledged record`)
    }
    const away = lines.filter((l) => l.msg.startsWith('cannot fetch from a Kafka broker'))
    assert.ok(away.length <= 1, `the dead broker is logged once, not per retry (${away.length})`)
    console.log(`# leader ${leader} killed: ${delivered()} records delivered, ${sent} batches acknowledged, ${away.length} broker-away warning(s), ${lines.filter((l) => l.msg.startsWith('Kafka partitions without a known leader')).length} leaderless warning(s)`)
  })
})
