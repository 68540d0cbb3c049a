import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, Partitioners, logLevel } from 'kafkajs'
import { LocalKafka } from '../../src/local-kafka/local-kafka.js'
import { canConnect, findFreePortBlock } from '../../src/local-kafka/ports.js'
import { createLogger } from '../../src/observability/logger.js'
import { startPrivateLocalKafka, type PrivateLocalKafka } from '../support/kafka.js'

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const logger = createLogger({ level: 'warn' })

function client (brokers: string[]): Kafka {
  return new Kafka({ clientId: 'local-kafka-test', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 200 } })
}

async function createTopic (brokers: string[], topic: string, partitions: number, replicationFactor: number): Promise<void> {
  const admin = client(brokers).admin()
  await admin.connect()
  try {
    // not waitForLeaders: kafkajs asks the broker it sent CreateTopics to, which in a KRaft cluster
    // may not know the topic yet (UNKNOWN_TOPIC_OR_PARTITION ends the wait with an error)
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor }], waitForLeaders: false })
    const deadline = Date.now() + 30_000
    for (;;) {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined)
      const found = metadata?.topics[0]?.partitions ?? []
      if (found.length === partitions && found.every((p) => p.leader >= 0)) break
      if (Date.now() > deadline) throw new Error(`topic ${topic} has no leaders after 30 s`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  } finally {
    await admin.disconnect()
  }
}

async function produce (brokers: string[], topic: string, key: string, value: string): Promise<void> {
  const producer = client(brokers).producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    await producer.send({ topic, acks: -1, timeout: 30_000, messages: [{ key, value }] })
  } finally {
    await producer.disconnect()
  }
}

/** Reads `count` records of the topic from the beginning (a fresh consumer group each time). */
async function consume (brokers: string[], topic: string, count: number): Promise<Array<{ key: string; value: string }>> {
  const consumer = client(brokers).consumer({ groupId: `local-kafka-test-${Date.now()}-${Math.random()}` })
  await consumer.connect()
  const records: Array<{ key: string; value: string }> = []
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`got ${records.length} of ${count} records within 30 s`)) }, 30_000)
      consumer.run({
        eachMessage: async ({ message }) => {
          records.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' })
          if (records.length >= count) {
            clearTimeout(timer)
            resolve()
          }
        }
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return records
}

async function describeBrokers (brokers: string[]): Promise<number[]> {
  const admin = client(brokers).admin()
  await admin.connect()
  try {
    return (await admin.describeCluster()).brokers.map((b) => b.nodeId).sort()
  } finally {
    await admin.disconnect()
  }
}

function wharf (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), ...args], { cwd: root, timeout: 180_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

describe('LocalKafka, one node', () => {
  let dir = ''
  let kafka: LocalKafka | undefined

  after(async () => {
    await kafka?.stop()
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  test('keeps its data across a stop and a start in the same folder', async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-local-kafka-'))
    kafka = await LocalKafka.start({ dir, nodes: 1, port: 0, logger })
    const brokers = kafka.brokers
    assert.equal(brokers.length, 1)
    assert.match(brokers[0] ?? '', /^127\.0\.0\.1:\d+$/)
    const [status] = await kafka.status()
    assert.equal(status?.alive, true)
    assert.equal(typeof status?.pid, 'number')

    await createTopic(brokers, 'survivor', 1, 1)
    await produce(brokers, 'survivor', 'k', 'still here')
    assert.deepEqual(await consume(brokers, 'survivor', 1), [{ key: 'k', value: 'still here' }])

    await kafka.stop()
    assert.equal((await kafka.status())[0]?.alive, false)
    assert.equal(await canConnect(Number(brokers[0]?.split(':')[1])), false)
    assert.equal(await LocalKafka.attach(dir, logger), undefined)

    kafka = await LocalKafka.start({ dir, nodes: 1, port: 0, logger })
    assert.deepEqual(kafka.brokers, brokers, 'a restart with port 0 reuses the previous ports when they are free')
    const attached = await LocalKafka.attach(dir, logger)
    assert.deepEqual(attached?.brokers, brokers)
    assert.deepEqual(await consume(kafka.brokers, 'survivor', 1), [{ key: 'k', value: 'still here' }])

    await kafka.stop()
    kafka = undefined
  })
})

describe('wharf kafka start / status / stop', () => {
  let dir = ''

  after(async () => {
    if (dir === '') return
    await (await LocalKafka.attach(dir, logger))?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  test('starts a detached Kafka, reports it, stops it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-cli-kafka-'))
    const port = await findFreePortBlock(2)

    const start = await wharf('kafka', 'start', '--dir', dir, '--port', String(port))
    assert.equal(start.code, 0, start.stdout + start.stderr)
    assert.match(start.stdout, new RegExp(`^broker 1: 127\\.0\\.0\\.1:${port} \\(pid \\d+\\)$`, 'm'))
    assert.match(start.stdout, new RegExp(`^KAFKA_BROKERS=127\\.0\\.0\\.1:${port}$`, 'm'))
    assert.deepEqual(await describeBrokers([`127.0.0.1:${port}`]), [1])

    const again = await wharf('kafka', 'start', '--dir', dir, '--port', String(port))
    assert.equal(again.code, 0, again.stdout + again.stderr)
    assert.match(again.stdout, /already running/)
    assert.match(again.stdout, new RegExp(`^KAFKA_BROKERS=127\\.0\\.0\\.1:${port}$`, 'm'))

    const status = await wharf('kafka', 'status', '--dir', dir)
    assert.equal(status.code, 0, status.stdout + status.stderr)
    assert.match(status.stdout, new RegExp(`^node 1 +127\\.0\\.0\\.1:${port} +pid \\d+ +alive$`, 'm'))

    const stop = await wharf('kafka', 'stop', '--dir', dir)
    assert.equal(stop.code, 0, stop.stdout + stop.stderr)
    assert.match(stop.stdout, /stopped/)
    assert.equal(await canConnect(port), false)

    const after = await wharf('kafka', 'status', '--dir', dir)
    assert.equal(after.code, 1)
    assert.match(after.stdout, /not running/)

    const stopAgain = await wharf('kafka', 'stop', '--dir', dir)
    assert.equal(stopAgain.code, 0)
    assert.match(stopAgain.stdout, /no Kafka is running/)
  })
})

describe('LocalKafka, three nodes', () => {
  let kafka: PrivateLocalKafka | undefined

  after(async () => { await kafka?.cleanup() })

  test('replicates, survives a killed node and takes it back', async () => {
    kafka = await startPrivateLocalKafka({ nodes: 3, logger })
    const brokers = kafka.brokers
    assert.equal(brokers.length, 3)
    assert.deepEqual(await describeBrokers(brokers), [1, 2, 3])

    await createTopic(brokers, 'replicated', 3, 3)
    await produce(brokers, 'replicated', 'a', 'before')

    await kafka.stopNode(2, 'SIGKILL')
    const status = await kafka.status()
    assert.deepEqual(status.map((n) => n.alive), [true, false, true])
    // min.insync.replicas=2: two of three replicas still take acks=all writes
    await produce([brokers[0] ?? '', brokers[2] ?? ''], 'replicated', 'b', 'during')

    await kafka.startNode(2)
    assert.deepEqual((await kafka.status()).map((n) => n.alive), [true, true, true])
    assert.deepEqual(await describeBrokers(brokers), [1, 2, 3])
    const records = await consume(brokers, 'replicated', 2)
    assert.deepEqual(records.map((r) => r.value).sort(), ['before', 'during'])
  })
})
