import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Membership } from '../../src/cluster/membership.js'
import { decodeNodeRecord, encodeNodeRecord, type HeartbeatRecord, type TakeoverRecord } from '../../src/cluster/node-records.js'
import { TakeoverCoordinator } from '../../src/cluster/takeover.js'
import type { BatchingProducer, OutgoingRecord } from '../../src/kafka/batching-producer.js'

const heartbeat = (node: string, at: number): HeartbeatRecord =>
  ({ v: 1, type: 'heartbeat', node, listeners: [{ name: 'default', host: '0.0.0.0', port: 1883 }], startedAt: 0, connections: 0, version: '0.1.0', at })

describe('node records', () => {
  it('round-trips and rejects what is not a node record', () => {
    const hb = heartbeat('n1', 5)
    assert.deepEqual(decodeNodeRecord(encodeNodeRecord(hb)), hb)
    assert.equal(decodeNodeRecord(null), undefined)
    assert.equal(decodeNodeRecord(Buffer.from('not json')), undefined)
    assert.equal(decodeNodeRecord(Buffer.from('{"v":2,"type":"leave","node":"n","at":1}')), undefined)
    assert.equal(decodeNodeRecord(Buffer.from('{"v":1,"type":"takeover","node":"n","at":1}')), undefined)
  })
})

describe('Membership', () => {
  it('is live while heartbeats are recent, down after the timeout, left after a leave', () => {
    let now = 10000
    const m = new Membership(4000, () => now)
    m.apply(heartbeat('b', 9000))
    m.apply(heartbeat('a', 5000))
    m.apply(heartbeat('c', 9500))
    assert.deepEqual(m.summary(), { live: ['b', 'c'], down: ['a'] })
    m.apply({ v: 1, type: 'leave', node: 'c', at: 9900 })
    assert.deepEqual(m.states().map(s => [s.node, s.status]), [['a', 'down'], ['b', 'live'], ['c', 'left']])
    m.apply(heartbeat('c', 9950)) // restarted under the same name
    now = 13500
    assert.deepEqual(m.summary(), { live: ['c'], down: ['a', 'b'] })
  })
})

describe('TakeoverCoordinator', () => {
  function setup (node: string) {
    const sent: TakeoverRecord[] = []
    const producer = { send: async (r: OutgoingRecord) => { sent.push(decodeNodeRecord(r.value) as TakeoverRecord) } } as unknown as BatchingProducer
    return { sent, takeover: new TakeoverCoordinator(producer, { node, topic: 'nodes' }, pino({ level: 'silent' })) }
  }
  const other = (clientId: string, conn: string): TakeoverRecord => ({ v: 1, type: 'takeover', clientId, node: 'B', conn, at: 0 })

  it('closes the local connection for a later takeover by another connection', async () => {
    const { sent, takeover } = setup('A')
    let closed = 0
    await takeover.claim('x', { close: () => { closed++ } })
    assert.equal(sent[0]?.clientId, 'x')
    takeover.apply(other('x', 'older')) // before our own record in the log: older, ignored
    assert.equal(closed, 0)
    takeover.apply(sent[0] as TakeoverRecord)
    takeover.apply(other('x', 'newer'))
    assert.equal(closed, 1)
    takeover.apply(other('x', 'newest')) // already given up
    assert.equal(closed, 1)
    assert.equal(takeover.size, 0)
  })

  it('forgets a released connection, and a release of a replaced one keeps the new one', async () => {
    const { sent, takeover } = setup('A')
    let closed = 0
    const first = await takeover.claim('y', { close: () => { closed++ } })
    await takeover.claim('y', { close: () => { closed += 10 } }) // same node took it over locally
    first.release()
    assert.equal(takeover.size, 1)
    takeover.apply(sent[0] as TakeoverRecord)
    takeover.apply(sent[1] as TakeoverRecord)
    takeover.apply(other('y', 'later'))
    assert.equal(closed, 10)
  })
})
