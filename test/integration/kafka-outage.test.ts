import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalKafka } from '../../src/local-kafka/index.js'
import { createLogger } from '../../src/observability/logger.js'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { uniqueTopics, WharfProcess } from '../support/wharf-process.js'

// This test stops and restarts Kafka itself, so it runs its own single-node Kafka whatever
// KAFKA_BROKERS says.
describe('Kafka away: acknowledgements stall, nothing is dropped', () => {
  let dir: string
  let kafka: LocalKafka
  let wharf: WharfProcess

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-test-kafka-outage-'))
    kafka = await LocalKafka.start({ dir, nodes: 1, port: 0, logger: createLogger({ level: 'warn' }) })
    wharf = await WharfProcess.start({ brokers: kafka.brokers, topics: uniqueTopics('outage') })
  })
  after(async () => {
    await wharf?.stop()
    await kafka?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('withholds PUBACK while the Kafka process is stopped and sends it once Kafka is back', async () => {
    const sub = await connect(wharf.url, { clientId: 'outage-sub', keepalive: 0 })
    const pub = await connect(wharf.url, { clientId: 'outage-pub', keepalive: 0 })
    const got = collect(sub)
    await sub.subscribeAsync('outage/#', { qos: 1 })
    await pub.publishAsync('outage/before', 'before', { qos: 1 })
    await until(() => got.length === 1, 15000, 'the message sent before the outage')

    await kafka.stopNode(1, 'SIGTERM')
    const acks: string[] = []
    const sent = ['during-1', 'during-2', 'during-3']
    const published = sent.map(p => pub.publishAsync('outage/during', p, { qos: 1 }).then(() => { acks.push(p) }))
    const q0 = pub.publishAsync('outage/during', 'during-q0', { qos: 0 })
    await new Promise(resolve => setTimeout(resolve, 5000))
    assert.deepEqual(acks, [], 'no PUBACK while Kafka is stopped')
    assert.equal(got.length, 1, 'nothing delivered while Kafka is stopped')
    assert.ok(pub.connected, 'the publisher stays connected')

    await kafka.startNode(1)
    await Promise.all([...published, q0])
    assert.deepEqual(acks.sort(), sent, 'every PUBACK arrives once Kafka is back')
    await until(() => got.length >= 5, 60000, 'the messages published during the outage').catch(err => { throw new Error(`${(err as Error).message}; got ${JSON.stringify(got.map(m => m.payload))}`) })
    assert.deepEqual(got.slice(1).map(m => m.payload), ['during-1', 'during-2', 'during-3', 'during-q0'])
    await end(sub, pub)
  })
})
