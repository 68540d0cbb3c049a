import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { MqttMessage } from '../../src/protocol/message.js'
import { decodeNodeRecord, type WillsClaimRecord } from '../../src/cluster/node-records.js'
import type { BatchingProducer, OutgoingRecord } from '../../src/kafka/batching-producer.js'
import { createLogger } from '../../src/observability/logger.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { DeadNodeWills } from '../../src/session/dead-node-wills.js'
import type { Owner } from '../../src/session/session-record.js'
import { SessionView } from '../../src/session/session-view.js'

const log = createLogger({ level: 'silent' })

/** One node's DeadNodeWills with a fake producer: claims it writes are collected, not sent. */
function nodeOf (name: string, view: SessionView, live: Set<string>, published: MqttMessage[]) {
  const claims: WillsClaimRecord[] = []
  const producer = {
    send: async (r: OutgoingRecord) => { claims.push(decodeNodeRecord(r.value) as WillsClaimRecord) }
  } as unknown as BatchingProducer
  const wills = new DeadNodeWills({ node: name, inc: `${name}-inc`, nodesTopic: 'nodes', intervalMs: 1000 }, {
    producer,
    view,
    ownerLive: (o) => live.has(o.node),
    publish: async (m) => { published.push(m) },
    remove: async () => undefined,
    metrics: createMetrics(name)
  }, log)
  return { wills, claims }
}

async function willOf (view: SessionView, clientId: string, owner: Owner): Promise<void> {
  const value = Buffer.from(JSON.stringify({ v: 1, clientId, owner, at: 1, will: { topic: `lw/${clientId}`, payload: Buffer.from('gone').toString('base64'), qos: 1, retain: false } }))
  await view.onBatch('sessions', 0, [{ key: Buffer.from(`${clientId}#will`), value, offset: '0', timestamp: '0', attributes: 0, headers: {} } as never])
}

const settle = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

describe('wills of dead nodes', () => {
  it('every survivor claims, the first claim in the log wins, only the winner publishes', async () => {
    const view = new SessionView()
    await willOf(view, 'c1', { node: 'dead', inc: 'dead-inc', conn: 'x' })
    const live = new Set(['a', 'b'])
    const published: MqttMessage[] = []
    const a = nodeOf('a', view, live, published)
    const b = nodeOf('b', view, live, published)
    a.wills.tick()
    b.wills.tick()
    await settle()
    assert.equal(a.claims.length, 1)
    assert.equal(b.claims.length, 1)
    // the log order: b's claim first
    for (const n of [a, b]) for (const c of [...b.claims, ...a.claims]) n.wills.applyClaim(c)
    await settle()
    assert.deepEqual(published.map(m => m.topic), ['lw/c1'], 'published once')
    assert.equal(published[0]?.node, 'b', 'by the winner')
  })

  it('claims again in a new round when the winner died before publishing', async () => {
    const view = new SessionView()
    await willOf(view, 'c2', { node: 'dead', inc: 'dead-inc', conn: 'x' })
    const live = new Set(['a', 'b'])
    const published: MqttMessage[] = []
    const a = nodeOf('a', view, live, published)
    // b won round 0 and died
    a.wills.applyClaim({ v: 1, type: 'wills', node: 'dead', inc: 'dead-inc', by: 'b', byInc: 'b-inc', round: 0, at: 1 })
    live.delete('b')
    a.wills.tick()
    await settle()
    assert.deepEqual(a.claims.map(c => c.round), [1])
    a.wills.applyClaim(a.claims[0] as WillsClaimRecord)
    await settle()
    assert.deepEqual(published.map(m => m.topic), ['lw/c2'])
  })

  it('leaves the wills of live nodes alone', async () => {
    const view = new SessionView()
    await willOf(view, 'c3', { node: 'b', inc: 'b-inc', conn: 'x' })
    const a = nodeOf('a', view, new Set(['a', 'b']), [])
    a.wills.tick()
    await settle()
    assert.equal(a.claims.length, 0)
  })
})
