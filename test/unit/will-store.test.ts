import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { KafkaMessage } from 'kafkajs'
import type { BatchingProducer, OutgoingRecord } from '../../src/kafka/batching-producer.js'
import { createLogger } from '../../src/observability/logger.js'
import type { MqttMessage } from '../../src/protocol/message.js'
import { decodeSessionsTopicEntry, type WillRecord } from '../../src/session/session-record.js'
import { SessionView } from '../../src/session/session-view.js'
import { WillStore } from '../../src/session/will-store.js'

/** A will store whose writes land in its own view at once (as the sessions topic's tail would apply them). */
function storeOf () {
  const view = new SessionView()
  const written: OutgoingRecord[] = []
  const published: MqttMessage[] = []
  const producer = {
    send: async (r: OutgoingRecord) => {
      written.push(r)
      await view.onBatch('sessions', 0, [{ key: Buffer.from(r.key as string), value: r.value, offset: '0', timestamp: '0', attributes: 0, headers: {} } as unknown as KafkaMessage])
    }
  } as unknown as BatchingProducer
  const wills = new WillStore({ producer, topic: 'sessions', view, syncView: async () => undefined, publish: async (m) => { published.push(m) }, logger: createLogger({ level: 'silent' }) })
  return { view, written, published, wills }
}

const owner = { node: 'a', inc: 'a-inc', conn: 'c1' }
const will: MqttMessage = { topic: 'lw/x', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { userProperties: { k: ['1', '2'] }, contentType: 'text/plain', correlationData: Buffer.from([9]) } }
const DELAY_S = 0.05

/** Until `published` has a will on `topic` (a control will armed after the one under test: its timer fires later). */
async function publishedOn (published: MqttMessage[], topic: string): Promise<void> {
  while (!published.some(m => m.topic === topic)) await new Promise(resolve => setTimeout(resolve, 10))
}

/** A second client's will with the same delay, disconnected after the first: published, it shows the first one's timer has run. */
async function control (wills: WillStore): Promise<void> {
  const y = { ...will, topic: 'lw/control' }
  await wills.put('y', { ...owner, conn: 'cy' }, y, DELAY_S)
  await wills.disconnected('y', 'cy', DELAY_S, y)
}

describe('will store: MQTT 5 Will Delay Interval', () => {
  it('the record carries the will\'s properties and its delay; the abnormal end writes disconnectedAt', async () => {
    const { view, wills } = storeOf()
    await wills.put('x', owner, will, DELAY_S)
    const record = view.wills.get('x') as WillRecord
    assert.equal(record.delayS, DELAY_S)
    assert.deepEqual(record.will.properties, { user_properties: [['k', '1'], ['k', '2']], content_type: 'text/plain', correlation_data: 'CQ==' })
    await wills.disconnected('x', 'c1', DELAY_S, will)
    assert.equal(typeof (view.wills.get('x') as WillRecord).disconnectedAt, 'number')
    wills.stop()
    // stopped: the record stays for a survivor
    assert.ok(view.wills.has('x'))
    const entry = decodeSessionsTopicEntry('x#will', Buffer.from(JSON.stringify(view.wills.get('x'))))
    assert.equal(entry.kind === 'will' && entry.record?.delayS, DELAY_S)
  })

  it('publishes after the delay and removes the record', async () => {
    const { view, published, wills } = storeOf()
    await wills.put('x', owner, will, DELAY_S)
    await wills.disconnected('x', 'c1', DELAY_S, will)
    await publishedOn(published, 'lw/x')
    assert.equal(view.wills.has('x'), false)
  })

  it('a claim of another connection (a reconnect on any node) cancels it', async () => {
    const { published, wills } = storeOf()
    await wills.put('x', owner, will, DELAY_S)
    await wills.disconnected('x', 'c1', DELAY_S, will)
    wills.reconnected('x', 'c1')
    wills.reconnected('x', 'c2')
    await control(wills)
    await publishedOn(published, 'lw/control')
    assert.deepEqual(published.map(m => m.topic), ['lw/control'])
  })

  it('a record deleted by a CONNECT elsewhere (read before the timer fires) is not published', async () => {
    const { view, published, wills } = storeOf()
    await wills.put('x', owner, will, DELAY_S)
    await wills.disconnected('x', 'c1', DELAY_S, will)
    await view.onBatch('sessions', 0, [{ key: Buffer.from('x#will'), value: null, offset: '1', timestamp: '0', attributes: 0, headers: {} } as unknown as KafkaMessage])
    await control(wills)
    await publishedOn(published, 'lw/control')
    assert.deepEqual(published.map(m => m.topic), ['lw/control'])
  })
})
