import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PersistentSession, type LogPosition } from '../../src/session/persistent-session.js'
import type { Owner, SessionRecord, UnackedDelivery } from '../../src/session/session-record.js'

const OWNER: Owner = { node: 'n1', inc: 'inc-1', conn: 'c-1' }
const OTHER: Owner = { node: 'n2', inc: 'inc-2', conn: 'c-2' }
const TP = 'mqtt.messages:0'
const TP1 = 'mqtt.messages:1'

function at (offset: number, tp = TP): LogPosition {
  return { tp, offset: BigInt(offset) }
}

function session (...subs: Array<[string, 0 | 1 | 2]>): PersistentSession {
  const s = new PersistentSession('client-1', OWNER, 7200)
  for (const [filter, qos] of subs) s.addSub(filter, qos)
  return s
}

/** A stored record, as the sessions topic would hold it. */
function record (fields: Partial<SessionRecord> = {}): SessionRecord {
  return {
    v: 1,
    clientId: 'client-1',
    owner: OTHER,
    connected: false,
    at: 1000,
    disconnectedAt: 1000,
    expiryS: 7200,
    subs: [['a/#', 1]],
    cursors: { 'mqtt.messages': { 0: '100' } },
    unacked: [],
    ...fields
  }
}

function unacked (o: number, id: number, qos: 1 | 2 = 1, rel = false, p = 0): UnackedDelivery {
  return { t: 'mqtt.messages', p, o: String(o), id, qos, rel }
}

/** The session's unacknowledged deliveries as plain values, by packet id. */
function unackedOf (s: PersistentSession): Array<[number, string, string, number, boolean]> {
  return [...s.unacked].map(([id, u]) => [id, u.tp, u.offset.toString(), u.qos, u.rel])
}

/** Admit `offset` at `qos` and give it packet id `id` (counter = offset). */
function deliver (s: PersistentSession, offset: number, qos: 0 | 1 | 2, id?: number, tp = TP): void {
  assert.equal(s.admit(at(offset, tp), qos, offset), true)
  if (id !== undefined) s.packetId(offset, id)
}

describe('PersistentSession.effectiveQos', () => {
  it('is -1 when no subscription matches', () => {
    const s = session(['a/+', 2])
    assert.equal(s.effectiveQos('b/c', 2), -1)
    assert.equal(s.effectiveQos('a/b/c', 2), -1)
    assert.equal(session().effectiveQos('a', 1), -1)
  })

  it('is the minimum of the publish QoS and the granted QoS', () => {
    const s = session(['a/b', 1])
    assert.equal(s.effectiveQos('a/b', 0), 0)
    assert.equal(s.effectiveQos('a/b', 1), 1)
    assert.equal(s.effectiveQos('a/b', 2), 1)
  })

  it('takes the best of overlapping subscriptions, whatever their order', () => {
    for (const subs of [[['a/b', 0], ['a/+', 2], ['#', 1]], [['#', 1], ['a/+', 2], ['a/b', 0]]] as Array<Array<[string, 0 | 1 | 2]>>) {
      const s = session(...subs)
      assert.equal(s.effectiveQos('a/b', 2), 2)
      assert.equal(s.effectiveQos('a/b', 1), 1)
      assert.equal(s.effectiveQos('x/y', 2), 1, 'only # matches')
    }
  })

  it('a QoS 0 subscription matches (0, not -1)', () => {
    assert.equal(session(['a/#', 0]).effectiveQos('a/b', 2), 0)
  })

  it('follows subscription changes; removing an unknown filter changes nothing', () => {
    const s = session(['a/#', 2])
    const v = s.version
    s.addSub('a/#', 1)
    assert.ok(s.version > v)
    assert.equal(s.effectiveQos('a/b', 2), 1)
    const v2 = s.version
    s.removeSub('nope')
    assert.equal(s.version, v2)
    s.removeSub('a/#')
    assert.ok(s.version > v2)
    assert.equal(s.effectiveQos('a/b', 2), -1)
  })

  it('wildcard filters do not match $ topics', () => {
    const s = session(['#', 1], ['+/x', 1])
    assert.equal(s.effectiveQos('$SYS/x', 1), -1)
    s.addSub('$SYS/#', 1)
    assert.equal(s.effectiveQos('$SYS/x', 1), 1)
  })
})

describe('PersistentSession.admit', () => {
  it('admits each log position once and moves the cursor past it', () => {
    const s = session(['a/#', 1])
    assert.equal(s.admit(at(5), 1, 1), true)
    assert.equal(s.cursors.get(TP), 6n)
    assert.equal(s.admit(at(5), 1, 2), false, 'the same record again')
    assert.equal(s.admit(at(3), 1, 3), false, 'an older record')
    assert.equal(s.admit(at(6), 1, 4), true)
    assert.equal(s.admit(at(10), 0, 5), true, 'gaps are allowed (records that did not match)')
    assert.equal(s.cursors.get(TP), 11n)
  })

  it('keeps a cursor per partition', () => {
    const s = session(['a/#', 1])
    assert.equal(s.admit(at(5, TP), 1, 1), true)
    assert.equal(s.admit(at(2, TP1), 1, 2), true, 'another partition has its own cursor')
    assert.equal(s.admit(at(4, TP), 1, 3), false)
    assert.equal(s.cursors.get(TP), 6n)
    assert.equal(s.cursors.get(TP1), 3n)
  })

  it('starts at the positions given where the session has no cursor', () => {
    const s = session(['a/#', 1])
    s.admit(at(5, TP), 1, 1)
    s.startAt(new Map([[TP, 100n], [TP1, 50n]]))
    assert.equal(s.cursors.get(TP), 6n, 'an existing cursor is kept')
    assert.equal(s.cursors.get(TP1), 50n)
    assert.equal(s.admit(at(49, TP1), 1, 2), false, 'records before the session existed are not delivered')
    assert.equal(s.admit(at(50, TP1), 1, 3), true)
  })

  it('bumps the version on every admission, not on a refusal', () => {
    const s = session(['a/#', 1])
    const v = s.version
    s.admit(at(1), 1, 1)
    assert.equal(s.version, v + 1)
    s.admit(at(1), 1, 2)
    assert.equal(s.version, v + 1)
  })
})

describe('PersistentSession packet ids', () => {
  it('matches packet ids to admitted records in order', () => {
    const s = session(['a/#', 2])
    s.admit(at(1), 1, 101)
    s.admit(at(2), 2, 102)
    s.packetId(101, 7)
    s.packetId(102, 8)
    assert.deepEqual(unackedOf(s), [[7, TP, '1', 1, false], [8, TP, '2', 2, false]])
  })

  it('skips entries whose packet got no id (written at QoS 0 after all)', () => {
    const s = session(['a/#', 1])
    s.admit(at(1), 1, 101) // written at QoS 0: no packet id
    s.admit(at(2), 1, 102)
    s.admit(at(3), 1, 103)
    s.packetId(102, 9)
    assert.deepEqual(unackedOf(s), [[9, TP, '2', 1, false]])
    s.packetId(103, 10)
    assert.deepEqual(unackedOf(s), [[9, TP, '2', 1, false], [10, TP, '3', 1, false]])
    // nothing handed is left: a record written to the sessions topic now has no id-0 entries
    assert.deepEqual(s.toRecord(true, 0).unacked.map(u => [u.o, u.id]), [['2', 9], ['3', 10]])
  })

  it('QoS 0 admissions are not waiting for a packet id', () => {
    const s = session(['a/#', 1])
    s.admit(at(1), 0, 101)
    s.admit(at(2), 1, 102)
    s.packetId(102, 3)
    assert.deepEqual(unackedOf(s), [[3, TP, '2', 1, false]])
    assert.deepEqual(s.toRecord(true, 0).unacked.map(u => u.id), [3])
  })

  it('QoS 1: PUBACK completes the delivery', () => {
    const s = session(['a/#', 1])
    deliver(s, 1, 1, 5)
    const v = s.version
    s.completed(5)
    assert.equal(s.unacked.size, 0)
    assert.ok(s.version > v)
    const v2 = s.version
    s.completed(5)
    s.completed(77)
    assert.equal(s.version, v2, 'unknown ids change nothing')
  })

  it('QoS 2: PUBREC marks the delivery released, PUBCOMP completes it', () => {
    const s = session(['a/#', 2])
    deliver(s, 1, 2, 5)
    deliver(s, 2, 2, 6)
    assert.deepEqual(s.pendingReleases(), [])
    const v = s.version
    s.released(5)
    assert.ok(s.version > v)
    const v2 = s.version
    s.released(5)
    s.released(99)
    assert.equal(s.version, v2, 'released twice or unknown: no change')
    assert.deepEqual(s.pendingReleases(), [5])
    assert.deepEqual(unackedOf(s), [[5, TP, '1', 2, true], [6, TP, '2', 2, false]])
    s.completed(5)
    assert.deepEqual(s.pendingReleases(), [])
    assert.deepEqual(unackedOf(s), [[6, TP, '2', 2, false]])
  })

  it('highestPacketId is the largest id in use', () => {
    const s = session(['a/#', 1])
    assert.equal(s.highestPacketId(), 0)
    deliver(s, 1, 1, 65535)
    deliver(s, 2, 1, 3)
    assert.equal(s.highestPacketId(), 65535)
    s.completed(65535)
    assert.equal(s.highestPacketId(), 3)
  })
})

describe('PersistentSession.toRecord / fromRecord', () => {
  it('round-trips subscriptions, cursors and unacknowledged deliveries', () => {
    const s = session(['a/#', 1], ['b/+', 2], ['c', 0])
    deliver(s, 10, 1, 1)
    deliver(s, 11, 2, 2)
    s.released(2)
    deliver(s, 4, 1, 3, TP1)
    deliver(s, 12, 1) // handed, no packet id yet
    const r = s.toRecord(false, 5000)
    assert.equal(r.v, 1)
    assert.equal(r.clientId, 'client-1')
    assert.deepEqual(r.owner, OWNER)
    assert.equal(r.connected, false)
    assert.equal(r.at, 5000)
    assert.equal(r.disconnectedAt, 5000)
    assert.equal(r.expiryS, 7200)
    assert.deepEqual(r.subs, [['a/#', 1], ['b/+', 2], ['c', 0]])
    assert.deepEqual(r.cursors, { 'mqtt.messages': { 0: '13', 1: '5' } })
    assert.deepEqual(r.unacked, [unacked(10, 1), unacked(11, 2, 2, true), unacked(4, 3, 1, false, 1), unacked(12, 0)])
    // through JSON, as the sessions topic stores it
    const back = PersistentSession.fromRecord(JSON.parse(JSON.stringify(r)) as SessionRecord, OTHER, 60)
    assert.equal(back.clientId, 'client-1')
    assert.deepEqual(back.owner, OTHER)
    assert.equal(back.expiryS, 60)
    assert.equal(back.state, 'resuming')
    assert.deepEqual([...back.subs].map(([f, v]) => [f, v.qos]), r.subs)
    assert.equal(back.effectiveQos('b/x', 2), 2)
    assert.deepEqual(unackedOf(back), [[1, TP, '10', 1, false], [2, TP, '11', 2, true], [3, TP1, '4', 1, false]])
    // the entry that had no packet id becomes a rewind of its partition's cursor
    assert.equal(back.cursors.get(TP), 12n)
    assert.equal(back.cursors.get(TP1), 5n)
    assert.deepEqual(back.pendingReleases(), [2])
    assert.equal(back.highestPacketId(), 3)
  })

  it('a connected record has no disconnectedAt; a closed one keeps the time it went', () => {
    const s = session(['a', 1])
    assert.equal(s.toRecord(true, 10).disconnectedAt, undefined)
    s.disconnectedAt = 7
    assert.equal(s.toRecord(false, 10).disconnectedAt, 7)
  })

  it('offsets survive beyond 2^53 (decimal strings)', () => {
    const big = '9007199254740993'
    const back = PersistentSession.fromRecord(record({ cursors: { t: { 2: big } }, unacked: [{ t: 't', p: 2, o: '9007199254740992', id: 4, qos: 1, rel: false }] }), OWNER, 0)
    assert.equal(back.cursors.get('t:2'), 9007199254740993n)
    assert.deepEqual(back.toRecord(true, 0).cursors, { t: { 2: big } })
    assert.deepEqual(back.replayStarts(), new Map([['t:2', 9007199254740992n]]))
  })

  it('Kafka topic names with colons and dots survive', () => {
    const s = session(['a', 1])
    deliver(s, 3, 1, 1, 'ns:topic.x:4')
    const r = s.toRecord(true, 0)
    assert.deepEqual(r.cursors, { 'ns:topic.x': { 4: '4' } })
    assert.deepEqual(r.unacked, [{ t: 'ns:topic.x', p: 4, o: '3', id: 1, qos: 1, rel: false }])
    const back = PersistentSession.fromRecord(r, OWNER, 0)
    assert.equal(back.cursors.get('ns:topic.x:4'), 4n)
  })

  it('handed-but-unwritten entries rewind the cursor only downwards and create a missing one', () => {
    const back = PersistentSession.fromRecord(record({
      cursors: { 'mqtt.messages': { 0: '100' } },
      unacked: [unacked(120, 0), unacked(90, 0), unacked(95, 0), unacked(7, 0, 1, false, 1)]
    }), OWNER, 0)
    assert.equal(back.cursors.get(TP), 90n, 'the lowest, never above the cursor')
    assert.equal(back.cursors.get(TP1), 7n, 'a partition without a cursor gets one')
    assert.equal(back.unacked.size, 0, 'they have no packet id: delivered again as new')
    const d = back.replay(at(90), 'a/x', 1)
    assert.deepEqual(d, { send: true, qos: 1, dup: false, retainAsPublished: false, ids: [] })
  })
})

describe('PersistentSession resume', () => {
  it('replayStarts: the cursor, or lower where an unreleased delivery is unacknowledged', () => {
    const back = PersistentSession.fromRecord(record({
      cursors: { 'mqtt.messages': { 0: '100', 1: '50' } },
      unacked: [unacked(80, 1), unacked(70, 2, 2, true), unacked(85, 3), unacked(40, 4, 1, false, 2)]
    }), OWNER, 0)
    assert.deepEqual(back.replayStarts(), new Map([
      [TP, 80n], // 70 is released (PUBREL state): its PUBLISH is not sent again
      [TP1, 50n],
      ['mqtt.messages:2', 40n] // an unacknowledged delivery in a partition without a cursor
    ]))
    assert.equal(back.cursors.get(TP), 100n, 'the cursors themselves do not move')
  })

  it('replay(): resends an unacknowledged delivery with DUP, its packet id and its QoS, once', () => {
    const back = PersistentSession.fromRecord(record({
      subs: [['a/#', 1]],
      unacked: [unacked(80, 11), unacked(81, 12, 2)]
    }), OWNER, 0)
    assert.deepEqual(back.replay(at(80), 'a/x', 1), { send: true, qos: 1, messageId: 11, dup: true, retainAsPublished: false, ids: [] })
    // the QoS it was delivered at, even if the subscription is now lower
    assert.deepEqual(back.replay(at(81), 'a/x', 2), { send: true, qos: 2, messageId: 12, dup: true, retainAsPublished: false, ids: [] })
    assert.deepEqual(back.replay(at(80), 'a/x', 1), { send: false }, 'a second pass does not resend (below the cursor)')
  })

  it('replay(): resends even when the subscription is gone', () => {
    const back = PersistentSession.fromRecord(record({ subs: [], unacked: [unacked(80, 11)] }), OWNER, 0)
    assert.deepEqual(back.replay(at(80), 'a/x', 1), { send: true, qos: 1, messageId: 11, dup: true, retainAsPublished: false, ids: [] })
    assert.deepEqual(back.replay(at(100), 'a/x', 1), { send: false })
  })

  it('replay(): skips what is below the cursor, and what is completed or released meanwhile', () => {
    const back = PersistentSession.fromRecord(record({
      unacked: [unacked(80, 11), unacked(81, 12, 2), unacked(82, 13, 2, true)]
    }), OWNER, 0)
    back.completed(11) // PUBACK of a resent delivery arrived before its record was read again
    back.released(12)
    assert.deepEqual(back.replay(at(79), 'a/x', 1), { send: false })
    assert.deepEqual(back.replay(at(80), 'a/x', 1), { send: false })
    assert.deepEqual(back.replay(at(81), 'a/x', 2), { send: false })
    assert.deepEqual(back.replay(at(82), 'a/x', 2), { send: false }, 'a released QoS 2 delivery gets its PUBREL, not its PUBLISH')
    assert.deepEqual(back.replay(at(99), 'a/x', 1), { send: false })
  })

  it('replay(): new records at min(publish, best subscription) QoS; QoS 0 and non-matching records are not queued', () => {
    const back = PersistentSession.fromRecord(record({ subs: [['a/#', 1], ['a/b', 2], ['z/#', 0]] }), OWNER, 0)
    assert.deepEqual(back.replay(at(100), 'a/b', 2), { send: true, qos: 2, dup: false, retainAsPublished: false, ids: [] })
    assert.deepEqual(back.replay(at(101), 'a/c', 2), { send: true, qos: 1, dup: false, retainAsPublished: false, ids: [] })
    assert.deepEqual(back.replay(at(102), 'a/b', 1), { send: true, qos: 1, dup: false, retainAsPublished: false, ids: [] })
    assert.deepEqual(back.replay(at(103), 'a/b', 0), { send: false }, 'published at QoS 0')
    assert.deepEqual(back.replay(at(104), 'z/q', 2), { send: false }, 'subscribed at QoS 0')
    assert.deepEqual(back.replay(at(105), 'q', 2), { send: false }, 'no match')
    assert.deepEqual(back.replay(at(0, TP1), 'a/b', 2), { send: true, qos: 2, dup: false, retainAsPublished: false, ids: [] }, 'no cursor on that partition')
  })

  it('replay() does not move the cursor; admit() after it does, so live delivery skips what the replay sent', () => {
    const back = PersistentSession.fromRecord(record({}), OWNER, 0)
    const d = back.replay(at(100), 'a/b', 1)
    assert.equal(d.send, true)
    assert.equal(back.cursors.get(TP), 100n)
    assert.equal(back.admit(at(100), 1, 1), true)
    assert.equal(back.admit(at(100), 1, 2), false, 'the held-back live copy is dropped')
  })

  it('a resent delivery keeps its packet id after readmit (no duplicate unacked entry)', () => {
    const back = PersistentSession.fromRecord(record({ unacked: [unacked(80, 11)] }), OWNER, 0)
    const d = back.replay(at(80), 'a/x', 1)
    assert.equal(d.send && d.messageId, 11)
    back.readmit(at(80), 1, 500)
    back.packetId(500, 11)
    assert.deepEqual(unackedOf(back), [[11, TP, '80', 1, false]])
    assert.deepEqual(back.toRecord(true, 0).unacked, [unacked(80, 11)])
    back.completed(11)
    assert.deepEqual(back.toRecord(true, 0).unacked, [])
  })

  it('dropUnackedBelow forgets unreleased deliveries below the low watermark of that partition only', () => {
    const back = PersistentSession.fromRecord(record({
      unacked: [unacked(10, 1), unacked(20, 2), unacked(5, 3, 2, true), unacked(3, 4, 1, false, 1), unacked(30, 5)]
    }), OWNER, 0)
    assert.equal(back.dropUnackedBelow(TP, 25n), 2)
    assert.deepEqual([...back.unacked.keys()].sort(), [3, 4, 5], 'released (PUBREL state) and other partitions kept')
    assert.equal(back.replayStarts().get(TP), 30n)
    assert.deepEqual(back.replay(at(10), 'a/x', 1), { send: false }, 'no resend of a dropped delivery')
    assert.equal(back.dropUnackedBelow(TP, 25n), 0)
  })

  it('advanceTo moves cursors forward only, and adds missing partitions', () => {
    const s = session(['a/#', 1])
    s.startAt(new Map([[TP, 10n], [TP1, 10n]]))
    const v = s.version
    s.advanceTo(new Map([[TP, 20n], [TP1, 5n], ['mqtt.messages:2', 7n]]))
    assert.deepEqual(s.cursors, new Map([[TP, 20n], [TP1, 10n], ['mqtt.messages:2', 7n]]))
    assert.equal(s.version, v, 'moving idle cursors is not a write of its own: it rides along with the next one')
    assert.deepEqual(s.toRecord(true, 0).cursors, { 'mqtt.messages': { 0: '20', 1: '10', 2: '7' } })
  })

  it('advanceTo keeps unacknowledged deliveries (they are listed on their own)', () => {
    const s = session(['a/#', 1])
    deliver(s, 5, 1, 9)
    s.advanceTo(new Map([[TP, 50n]]))
    assert.equal(s.cursors.get(TP), 50n)
    const back = PersistentSession.fromRecord(s.toRecord(false, 0), OWNER, 0)
    assert.equal(back.replayStarts().get(TP), 5n)
    assert.deepEqual(back.replay(at(5), 'a/x', 1), { send: true, qos: 1, messageId: 9, dup: true, retainAsPublished: false, ids: [] })
    assert.deepEqual(back.replay(at(6), 'a/x', 1), { send: false })
  })

  it('skipTo (offline limit) moves the cursors like advanceTo, and is a change worth a write', () => {
    const back = PersistentSession.fromRecord(record({}), OWNER, 0)
    const v = back.version
    back.skipTo(new Map([[TP, 500n]]))
    assert.ok(back.version > v)
    assert.equal(back.cursors.get(TP), 500n)
    assert.deepEqual(back.replay(at(400), 'a/x', 1), { send: false })
  })
})
