import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { compileTopicFilter } from '../../src/protocol/topic-filter.js'
import {
  matchSubscriptions, subscriptionOptionsOf, withSubscriptionIds, type HeldSubscription
} from '../../src/protocol/subscription-options.js'
import { PersistentSession, type LogPosition } from '../../src/session/persistent-session.js'
import { decodeSessionsTopicEntry, encodeSessionRecord, type SessionRecord } from '../../src/session/session-record.js'

const OWNER = { node: 'n1', inc: 'i1', conn: 'c1' }
const at = (offset: number): LogPosition => ({ tp: 'mqtt.messages:0', offset: BigInt(offset) })
const match = (subs: Array<[string, HeldSubscription]>, topic: string, qos: 0 | 1 | 2, own: boolean) =>
  matchSubscriptions(subs, f => compileTopicFilter(f), topic, qos, own)

describe('subscription options', () => {
  it('read from a SUBSCRIBE, aedes or a record: defaults left out, out-of-range values dropped', () => {
    assert.deepEqual(subscriptionOptionsOf({ nl: false, rap: false, rh: 0 }), {})
    assert.deepEqual(subscriptionOptionsOf({ nl: true, rap: true, rh: 2, subscriptionIdentifier: 7 }), { nl: true, rap: true, rh: 2, id: 7 })
    assert.deepEqual(subscriptionOptionsOf({ id: 0, rh: 3 }), {}, 'identifier 0 and Retain Handling 3 do not exist')
    assert.deepEqual(subscriptionOptionsOf({ id: 268_435_456 }), {})
    assert.deepEqual(subscriptionOptionsOf(undefined), {}, 'a record written before options existed')
  })

  it('one copy: the best QoS up to the publish QoS, every matching identifier, RETAIN kept when one has Retain As Published', () => {
    const subs: Array<[string, HeldSubscription]> = [['a/#', { qos: 1, id: 1 }], ['a/b', { qos: 2, id: 2, rap: true }], ['z', { qos: 2, id: 3 }]]
    assert.deepEqual(match(subs, 'a/b', 2, false), { qos: 2, retainAsPublished: true, ids: [1, 2] })
    assert.deepEqual(match(subs, 'a/c', 2, false), { qos: 1, retainAsPublished: false, ids: [1] })
    assert.deepEqual(match(subs, 'a/b', 0, false)?.qos, 0)
    assert.equal(match(subs, 'q', 2, false), undefined)
  })

  it('No Local: the client\'s own message only through subscriptions without it [MQTT-3.8.3-3]', () => {
    const subs: Array<[string, HeldSubscription]> = [['a/#', { qos: 1, nl: true, id: 1 }], ['a/b', { qos: 0, id: 2 }]]
    assert.deepEqual(match(subs, 'a/b', 1, true), { qos: 0, retainAsPublished: false, ids: [2] })
    assert.equal(match(subs, 'a/c', 1, true), undefined, 'only the No Local subscription matches')
    assert.deepEqual(match(subs, 'a/c', 1, false), { qos: 1, retainAsPublished: false, ids: [1] }, 'another publisher')
  })

  it('identifiers on the properties: one, a list, or none (the copy\'s own taken out), never in place', () => {
    const shared = Object.freeze({ contentType: 'text/plain', subscriptionIdentifier: 9 })
    assert.deepEqual(withSubscriptionIds(shared, [4]), { contentType: 'text/plain', subscriptionIdentifier: 4 })
    assert.deepEqual(withSubscriptionIds(shared, [4, 5]), { contentType: 'text/plain', subscriptionIdentifier: [4, 5] })
    assert.deepEqual(withSubscriptionIds(shared, []), { contentType: 'text/plain' })
    assert.equal(withSubscriptionIds(undefined, []), undefined)
    assert.equal(shared.subscriptionIdentifier, 9)
  })
})

describe('a persistent session keeps its subscription options', () => {
  it('the record carries them per subscription; 3.1.1 subscriptions stay [filter, qos] pairs', () => {
    const s = new PersistentSession('c', OWNER, 0)
    s.addSub('a/#', 1, { nl: true, rap: true, rh: 1, id: 42 })
    s.addSub('b', 2)
    const rec = s.toRecord(false, 1000)
    assert.deepEqual(rec.subs, [['a/#', 1, { nl: true, rap: true, rh: 1, id: 42 }], ['b', 2]])
    const read = decodeSessionsTopicEntry('c', encodeSessionRecord(rec))
    assert.equal(read.kind, 'session')
    const back = PersistentSession.fromRecord(read.record as SessionRecord, OWNER, 0)
    const a = back.subs.get('a/#')
    assert.deepEqual([a?.qos, a?.nl, a?.rap, a?.rh, a?.id], [1, true, true, 1, 42])
    assert.deepEqual(back.toRecord(false, 1000).subs, rec.subs)
  })

  it('a record written before options existed reads as the defaults; an older reader sees [filter, qos] first', () => {
    const old = Buffer.from(JSON.stringify({ v: 1, clientId: 'c', owner: OWNER, connected: false, at: 1, disconnectedAt: 1, expiryS: 0, subs: [['a/#', 1]], cursors: {}, unacked: [] }))
    const back = PersistentSession.fromRecord((decodeSessionsTopicEntry('c', old).record as SessionRecord), OWNER, 0)
    assert.deepEqual(back.match('a/x', 1, 'c'), { qos: 1, retainAsPublished: false, ids: [] }, 'no No Local: its own message too')
    const s = new PersistentSession('c', OWNER, 0)
    s.addSub('a/#', 1, { id: 3 })
    const [filter, qos] = s.toRecord(false, 1).subs[0] as [string, number]
    assert.deepEqual([filter, qos], ['a/#', 1])
  })

  it('replay applies No Local, Retain As Published and every matching identifier', () => {
    const s = new PersistentSession('me', OWNER, 0)
    s.addSub('a/#', 1, { nl: true, id: 1 })
    s.addSub('a/b', 1, { rap: true, id: 2 })
    s.startAt(new Map([['mqtt.messages:0', 0n]]))
    assert.deepEqual(s.replay(at(1), 'a/c', 1, 'me'), { send: false }, 'its own message, only a No Local subscription matches')
    assert.deepEqual(s.replay(at(2), 'a/c', 1, 'other'), { send: true, qos: 1, dup: false, retainAsPublished: false, ids: [1] })
    assert.deepEqual(s.replay(at(3), 'a/b', 1, 'me'), { send: true, qos: 1, dup: false, retainAsPublished: true, ids: [2] })
    assert.deepEqual(s.replay(at(4), 'a/b', 1, 'other'), { send: true, qos: 1, dup: false, retainAsPublished: true, ids: [1, 2] })
  })

  it('a delivery whose packet id was taken before the write is unacknowledged at once', () => {
    const s = new PersistentSession('me', OWNER, 0)
    s.addSub('a', 1)
    s.admit(at(5), 1, 100)
    assert.equal(s.admit(at(6), 1, 101, 9), true)
    assert.deepEqual([...s.unacked.keys()], [9])
    s.packetId(100, 8)
    assert.deepEqual([...s.unacked.keys()].sort(), [8, 9], 'the earlier one, reported later, is not taken for QoS 0')
  })
})
