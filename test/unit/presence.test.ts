import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import type { OutgoingRecord } from '../../src/kafka/batching-producer.js'
import { decodeClientRecord, encodeClientRecord, type ClientRecord } from '../../src/presence/client-record.js'
import { Presence } from '../../src/presence/presence.js'
import { PresenceSweeper } from '../../src/presence/presence-sweeper.js'
import { PresenceView } from '../../src/presence/presence-view.js'
import type { ConnectedClient } from '../../src/presence/client-events.js'

const logger = pino({ level: 'silent' })

function record (clientId: string, over: Partial<ClientRecord> = {}): ClientRecord {
  return {
    v: 1, clientId, node: 'n1', inc: 'i1', conn: 'c1', connected: true, username: null, peerhost: '10.0.0.1', listener: 'default',
    protoVer: 4, clean: true, keepalive: 60, expiryS: 0, subs: [], connectedAt: 1000, at: 1000, ...over
  }
}

const enc = (r: ClientRecord): Buffer => encodeClientRecord(r)
const allLive = (): boolean => true

/** A producer that keeps what it was given (Kafka's acknowledgement is immediate). */
function recordingProducer (view?: PresenceView) {
  const sent: Array<{ key: string; value: ClientRecord | null }> = []
  return {
    sent,
    send: async (r: OutgoingRecord): Promise<void> => {
      const key = r.key as string
      sent.push({ key, value: r.value === null ? null : JSON.parse(r.value.toString()) as ClientRecord })
      view?.apply(key, r.value)
    }
  }
}

function client (clientId: string, conn: string, over: Partial<ConnectedClient> = {}): ConnectedClient {
  return { clientId, conn, username: 'u', peerhost: '127.0.0.1', listener: 'tcp:default', protoVer: 4, clean: true, keepalive: 30, subs: [], ...over }
}

describe('client records', () => {
  it('round-trip, and anything this version cannot read is undefined (a tombstone is null)', () => {
    const r = record('a', { subs: [['x/#', 1]], reason: 'kicked', connected: false, disconnectedAt: 2000 })
    assert.deepEqual(decodeClientRecord('a', enc(r)), r)
    assert.equal(decodeClientRecord('a', null), null)
    assert.equal(decodeClientRecord('a', Buffer.alloc(0)), null)
    assert.equal(decodeClientRecord('b', enc(r)), undefined, 'the key must be the client id')
    assert.equal(decodeClientRecord('a', Buffer.from('{')), undefined)
    assert.equal(decodeClientRecord('a', enc({ ...r, v: 2 as 1 })), undefined)
    assert.equal(decodeClientRecord('a', enc({ ...r, reason: 'bored' as 'kicked' })), undefined)
    assert.equal(decodeClientRecord('a', enc({ ...r, subs: [['x', 'one' as unknown as number]] })), undefined)
  })
})

describe('PresenceView', () => {
  it('takes the latest record per client; a stale end of an older connection is not taken', () => {
    const view = new PresenceView()
    const seen: boolean[] = []
    view.onRecord((_id, _r, applied) => seen.push(applied))
    view.apply('a', enc(record('a', { conn: 'c1' })))
    view.apply('a', enc(record('a', { conn: 'c2', node: 'n2' })))
    // c1's disconnect and tombstone arrive late: c2 stays
    view.apply('a', enc(record('a', { conn: 'c1', connected: false, reason: 'sock_closed' })))
    view.apply('a', null)
    assert.equal(view.get('a')?.conn, 'c2')
    assert.deepEqual(seen, [true, true, false, false])
    // c2's own end is taken
    view.apply('a', enc(record('a', { conn: 'c2', connected: false, reason: 'normal' })))
    assert.equal(view.get('a')?.connected, false)
    view.apply('a', null)
    assert.equal(view.get('a'), undefined)
    view.apply('a', Buffer.from('not json'))
    assert.equal(view.unreadable, 1)
  })

  it('lists sorted by client id, filtered and paged; connected means a live node incarnation', () => {
    const view = new PresenceView()
    for (const [id, node, username] of [['c', 'n1', 'u1'], ['a', 'n2', 'u2'], ['b2', 'n1', 'u1'], ['b1', 'n1', null], ['d', 'n3', 'u1']] as const) {
      view.apply(id, enc(record(id, { node, username })))
    }
    const live = (node: string): boolean => node !== 'n3'
    const ids = (p: { items: ClientRecord[] }): string[] => p.items.map(r => r.clientId)
    assert.deepEqual(ids(view.list({}, 1, 10, live)), ['a', 'b1', 'b2', 'c', 'd'])
    assert.deepEqual(ids(view.list({}, 2, 2, live)), ['b2', 'c'])
    assert.equal(view.list({}, 2, 2, live).total, 5)
    assert.deepEqual(ids(view.list({ clientIdPrefix: 'b' }, 1, 10, live)), ['b1', 'b2'])
    assert.deepEqual(ids(view.list({ node: 'n1', username: 'u1' }, 1, 10, live)), ['b2', 'c'])
    assert.deepEqual(ids(view.list({ connected: false }, 1, 10, live)), ['d'], 'n3 is not live')
    assert.deepEqual(ids(view.list({ clientIdPrefix: 'zz' }, 1, 10, live)), [])
    // prefix without other filters: a slice of the prefix' range
    assert.deepEqual(ids(view.list({ clientIdPrefix: 'b' }, 2, 1, live)), ['b2'])
    assert.equal(view.list({ clientIdPrefix: 'b' }, 2, 1, live).total, 2)
    assert.deepEqual(ids(view.list({ clientIdPrefix: 'b' }, 3, 1, live)), [])
    assert.deepEqual(ids(view.list({}, 3, 2, live)), ['d'])
    assert.deepEqual(ids(view.list({}, 4, 2, live)), [])
    assert.deepEqual(ids(view.list({ clientIdPrefix: 'b', connected: true }, 1, 10, live)), ['b1', 'b2'])
  })

  it('a listing by connected asks the membership once per node incarnation', () => {
    const view = new PresenceView()
    for (let i = 0; i < 50; i++) view.apply(`c${i}`, enc(record(`c${i}`, { node: `n${i % 2}`, inc: 'i1' })))
    const asked: string[] = []
    const live = (node: string, inc: string): boolean => { asked.push(`${node}/${inc}`); return node === 'n0' }
    assert.equal(view.list({ connected: true }, 1, 100, live).total, 25)
    assert.deepEqual(asked.sort(), ['n0/i1', 'n1/i1'])
  })

  it('waitFor resolves when the record changes, false after the time', async () => {
    const view = new PresenceView()
    view.apply('a', enc(record('a')))
    const gone = view.waitFor('a', r => r === undefined, 5000)
    view.apply('a', enc(record('a', { connected: false })))
    view.apply('a', null)
    assert.equal(await gone, true)
    assert.equal(await view.waitFor('b', r => r !== undefined, 10), false)
  })
})

describe('Presence (this node\'s records)', () => {
  const opts = { node: 'n1', inc: 'i1', topic: 'wharf.clients', sessionExpiryS: 7200, subsDebounceMs: 5 }

  it('writes connected, one record for a burst of subscription changes, then disconnected and a tombstone (clean session)', async () => {
    const view = new PresenceView()
    const producer = recordingProducer(view)
    const p = new Presence(opts, { producer, view }, logger)
    p.connected(client('a', 'c1'))
    p.subscribed('a', 'c1', [['x/#', 1]])
    p.subscribed('a', 'c1', [['$share/g/y', 0]])
    p.unsubscribed('a', 'c1', ['x/#'])
    p.subscribed('a', 'other-conn', [['ignored', 0]])
    await new Promise(resolve => setTimeout(resolve, 30))
    assert.deepEqual(p.subscriptionCounts(), { plain: 0, shared: 1 })
    p.disconnected('a', 'c1', 'sock_closed')
    assert.deepEqual(producer.sent.map(s => [s.key, s.value?.connected, s.value?.subs, s.value?.reason]), [
      ['a', true, [], undefined],
      ['a', true, [['$share/g/y', 0]], undefined],
      ['a', false, [['$share/g/y', 0]], 'sock_closed'],
      ['a', undefined, undefined, undefined]
    ])
    assert.equal(producer.sent[3]?.value, null)
    assert.equal(p.size, 0)
    assert.deepEqual([...p.listenerConnections()], [['tcp:default', { current: 0, max: 1 }]])
  })

  it('keeps a persistent session\'s record (expiry from the configuration), takes the noted reason, writes nothing for a takeover', () => {
    const producer = recordingProducer()
    const view = new PresenceView()
    const p = new Presence(opts, { producer, view }, logger)
    p.connected(client('a', 'c1', { clean: false }))
    p.noteClosing('c1', 'kicked')
    p.disconnected('a', 'c1', 'server_closed')
    p.connected(client('b', 'c2'))
    p.disconnected('b', 'c2', 'takenover')
    const a = producer.sent.filter(s => s.key === 'a').map(s => s.value)
    assert.deepEqual(a.map(r => [r?.connected, r?.expiryS, r?.reason]), [[true, 7200, undefined], [false, 7200, 'kicked']])
    assert.deepEqual(producer.sent.filter(s => s.key === 'b').map(s => s.value?.connected), [true], 'no end record after a takeover')
  })

  it('writes its record again when it reads a stale end of its client (an older connection\'s, written late)', () => {
    const view = new PresenceView()
    const producer = recordingProducer()
    const p = new Presence(opts, { producer, view }, logger)
    p.connected(client('a', 'c2'))
    view.apply('a', enc(record('a', { conn: 'c2', node: 'n1', inc: 'i1' })))
    view.apply('a', enc(record('a', { conn: 'c1', node: 'n2', connected: false, reason: 'sock_closed' })))
    view.apply('a', null)
    assert.deepEqual(producer.sent.map(s => [s.value?.conn, s.value?.connected]), [['c2', true], ['c2', true], ['c2', true]])
  })
})

describe('PresenceSweeper', () => {
  const opts = { node: 'n1', topic: 'wharf.clients', nodeTimeoutMs: 3000, intervalMs: 1000 }

  it('on the first live node: marks the clients of dead incarnations node_down, removes expired and clean leftovers', () => {
    const view = new PresenceView()
    const producer = recordingProducer()
    const live = (node: string, inc: string): boolean => node === 'n1' || (node === 'n2' && inc === 'new')
    const s = new PresenceSweeper(opts, { view, producer, isLive: live, liveNodes: () => ['n1', 'n2'] }, logger)
    const now = 100_000
    view.apply('dead-clean', enc(record('dead-clean', { node: 'n2', inc: 'old', at: now - 5000 })))
    view.apply('dead-kept', enc(record('dead-kept', { node: 'n3', clean: false, expiryS: 60, at: now - 5000 })))
    view.apply('young', enc(record('young', { node: 'n4', at: now - 1000 })))
    view.apply('alive', enc(record('alive', { node: 'n2', inc: 'new', at: now - 50_000 })))
    view.apply('expired', enc(record('expired', { connected: false, clean: false, expiryS: 10, disconnectedAt: now - 11_000 })))
    view.apply('waiting', enc(record('waiting', { connected: false, clean: false, expiryS: 10, disconnectedAt: now - 9000 })))
    view.apply('forever', enc(record('forever', { connected: false, clean: false, expiryS: 0, disconnectedAt: 0 })))
    s.sweep(now)
    const written = producer.sent.map(r => [r.key, r.value === null ? null : r.value.reason])
    assert.deepEqual(written.sort(), [['dead-clean', 'node_down'], ['dead-clean', null], ['dead-kept', 'node_down'], ['expired', null]].sort())
  })

  it('does nothing on a node that is not the first live one', () => {
    const view = new PresenceView()
    const producer = recordingProducer()
    view.apply('x', enc(record('x', { node: 'gone', at: 0 })))
    new PresenceSweeper(opts, { view, producer, isLive: allLive, liveNodes: () => ['a-node', 'n1'] }, logger).sweep(1e9)
    assert.deepEqual(producer.sent, [])
  })
})
