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

async function willOf (view: SessionView, clientId: string, owner: Owner, extra: Record<string, unknown> = {}, properties?: unknown): Promise<void> {
  const will = { topic: `lw/${clientId}`, payload: Buffer.from('gone').toString('base64'), qos: 1, retain: false, ...(properties === undefined ? {} : { properties }) }
  const value = Buffer.from(JSON.stringify({ v: 1, clientId, owner, at: 1, will, ...extra }))
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

  /** a won the claim on the dead node's wills: what it publishes at a tick */
  async function wonBy (view: SessionView, published: MqttMessage[]): Promise<ReturnType<typeof nodeOf>> {
    const a = nodeOf('a', view, new Set(['a']), published)
    a.wills.applyClaim({ v: 1, type: 'wills', node: 'dead', inc: 'dead-inc', by: 'a', byInc: 'a-inc', round: 0, at: 1 })
    await settle()
    return a
  }

  it('Will Delay Interval: a will still in its delay (counted from disconnectedAt) waits; one past it is published, with its properties', async () => {
    const view = new SessionView()
    const dead = { node: 'dead', inc: 'dead-inc', conn: 'x' }
    await willOf(view, 'waits', dead, { delayS: 3600, disconnectedAt: Date.now() })
    await willOf(view, 'due', dead, { delayS: 5, disconnectedAt: Date.now() - 6000 }, { user_properties: [['k', '1'], ['k', '2']], correlation_data: 'AQI=', message_expiry_interval: 30 })
    const published: MqttMessage[] = []
    const a = await wonBy(view, published)
    a.wills.tick()
    await settle()
    assert.deepEqual(published.map(m => m.topic), ['lw/due'])
    assert.deepEqual(published[0]?.properties, { userProperties: { k: ['1', '2'] }, correlationData: Buffer.from([1, 2]), messageExpiryInterval: 30 })
  })

  it('Will Delay Interval of a client connected when its node died: counted from when the survivor found the node dead', async () => {
    const view = new SessionView()
    await willOf(view, 'connected', { node: 'dead', inc: 'dead-inc', conn: 'x' }, { delayS: 3600 })
    const published: MqttMessage[] = []
    const a = await wonBy(view, published)
    a.wills.tick()
    await settle()
    assert.deepEqual(published, [], 'not before the delay from the death')
  })
})
