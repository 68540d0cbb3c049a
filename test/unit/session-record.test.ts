import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  decodeSessionsTopicEntry, encodeSessionRecord, sessionKey, willKey, SESSION_RECORD_VERSION,
  type SessionRecord, type WillRecord
} from '../../src/session/session-record.js'

const owner = { node: 'n1', inc: 'i1', conn: 'c1' }

function sessionRecord (clientId: string, fields: Record<string, unknown> = {}): SessionRecord {
  return {
    v: 1,
    clientId,
    owner,
    connected: true,
    at: 1,
    expiryS: 7200,
    subs: [['a/#', 1]],
    cursors: { 'mqtt.messages': { 0: '12' } },
    unacked: [{ t: 'mqtt.messages', p: 0, o: '11', id: 3, qos: 1, rel: false }],
    ...fields
  } as SessionRecord
}

function willRecord (clientId: string, fields: Record<string, unknown> = {}, will: Record<string, unknown> = {}): WillRecord {
  return {
    v: 1,
    clientId,
    owner,
    at: 1,
    will: { topic: 'last/will', payload: Buffer.from('bye').toString('base64'), qos: 1, retain: false, ...will },
    ...fields
  } as WillRecord
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))

describe('sessions topic keys', () => {
  it('session = client id, will = client id + #will', () => {
    assert.equal(SESSION_RECORD_VERSION, 1)
    assert.equal(sessionKey('dev-1'), 'dev-1')
    assert.equal(willKey('dev-1'), 'dev-1#will')
  })
})

describe('decodeSessionsTopicEntry', () => {
  it('reads a session record it wrote', () => {
    const r = sessionRecord('dev-1')
    assert.deepEqual(decodeSessionsTopicEntry(sessionKey('dev-1'), encodeSessionRecord(r)), { kind: 'session', clientId: 'dev-1', record: r })
  })

  it('reads a disconnected session record', () => {
    const r = sessionRecord('dev-1', { connected: false, disconnectedAt: 5 })
    assert.deepEqual(decodeSessionsTopicEntry('dev-1', encodeSessionRecord(r)).record, r)
  })

  it('reads a will record it wrote', () => {
    const r = willRecord('dev-1')
    assert.deepEqual(decodeSessionsTopicEntry(willKey('dev-1'), encodeSessionRecord(r)), { kind: 'will', clientId: 'dev-1', record: r })
  })

  it('tombstones (null or empty value) are null records of the right kind', () => {
    assert.deepEqual(decodeSessionsTopicEntry('dev-1', null), { kind: 'session', clientId: 'dev-1', record: null })
    assert.deepEqual(decodeSessionsTopicEntry('dev-1', Buffer.alloc(0)), { kind: 'session', clientId: 'dev-1', record: null })
    assert.deepEqual(decodeSessionsTopicEntry('dev-1#will', null), { kind: 'will', clientId: 'dev-1', record: null })
    assert.deepEqual(decodeSessionsTopicEntry('dev-1#will', Buffer.alloc(0)), { kind: 'will', clientId: 'dev-1', record: null })
  })

  it('a version it does not know is not read', () => {
    for (const v of [2, 0, '1', undefined]) {
      assert.equal(decodeSessionsTopicEntry('dev-1', json({ ...sessionRecord('dev-1'), v })).record, null, `session v=${String(v)}`)
      assert.equal(decodeSessionsTopicEntry('dev-1#will', json({ ...willRecord('dev-1'), v })).record, null, `will v=${String(v)}`)
    }
  })

  it('client ids ending in #will or #session: keys never collide, the last suffix decides', () => {
    const ids = ['odd', 'odd#will', 'odd#will#will', 'odd#session', 'odd#session#session', 'odd#will#session', 'odd#', '#will', '#session', '']
    const keys = ids.flatMap(id => [sessionKey(id), willKey(id)])
    assert.equal(new Set(keys).size, keys.length, `distinct keys: ${keys.join(' ')}`)
    for (const id of ids) {
      const s = sessionRecord(id)
      assert.deepEqual(decodeSessionsTopicEntry(sessionKey(id), encodeSessionRecord(s)), { kind: 'session', clientId: id, record: s }, `session of ${id}`)
      assert.deepEqual(decodeSessionsTopicEntry(sessionKey(id), null), { kind: 'session', clientId: id, record: null }, `session tombstone of ${id}`)
      const w = willRecord(id)
      assert.deepEqual(decodeSessionsTopicEntry(willKey(id), encodeSessionRecord(w)), { kind: 'will', clientId: id, record: w }, `will of ${id}`)
      assert.deepEqual(decodeSessionsTopicEntry(willKey(id), null), { kind: 'will', clientId: id, record: null }, `will tombstone of ${id}`)
    }
    // the session of "odd#will" is not the will of "odd"
    assert.notEqual(sessionKey('odd#will'), willKey('odd'))
    assert.equal(sessionKey('odd#will'), 'odd#will#session')
    assert.equal(sessionKey('plain-id'), 'plain-id', 'ordinary ids are their own key')
  })

  it('a record whose clientId is not its key is not read', () => {
    assert.equal(decodeSessionsTopicEntry('dev-2', encodeSessionRecord(sessionRecord('dev-1'))).record, null)
    assert.equal(decodeSessionsTopicEntry('dev-2#will', encodeSessionRecord(willRecord('dev-1'))).record, null)
  })

  it('a session value under a will key, or a will value under a session key, is not read', () => {
    assert.equal(decodeSessionsTopicEntry('dev-1#will', encodeSessionRecord(sessionRecord('dev-1'))).record, null)
    assert.equal(decodeSessionsTopicEntry('dev-1', encodeSessionRecord(willRecord('dev-1'))).record, null)
  })

  it('garbage is not read', () => {
    for (const value of ['{', 'null', '[]', '42', '"x"', 'true', '\u0000\u0001', '{"v":1}']) {
      assert.equal(decodeSessionsTopicEntry('dev-1', Buffer.from(value)).record, null, value)
      assert.equal(decodeSessionsTopicEntry('dev-1#will', Buffer.from(value)).record, null, value)
    }
  })

  it('session records missing or mistyping a field are not read', () => {
    const broken: Array<Record<string, unknown>> = [
      { owner: undefined }, { owner: { node: 'n' } }, { owner: { node: 'n', inc: 1, conn: 'c' } }, { owner: [] },
      { connected: 'yes' }, { at: '1' }, { expiryS: null }, { subs: {} }, { cursors: [] }, { cursors: null }, { unacked: {} }
    ]
    for (const fields of broken) {
      assert.equal(decodeSessionsTopicEntry('dev-1', json(sessionRecord('dev-1', fields))).record, null, JSON.stringify(fields))
    }
  })

  it('will records missing or mistyping a field are not read', () => {
    const broken: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{ owner: 'n1' }, {}], [{ at: undefined }, {}], [{ will: 'x' }, {}], [{ will: null }, {}],
      [{}, { topic: 1 }], [{}, { payload: Buffer.from('x') }], [{}, { qos: 3 }], [{}, { qos: '1' }], [{}, { retain: 0 }]
    ]
    for (const [fields, will] of broken) {
      assert.equal(decodeSessionsTopicEntry('dev-1#will', json(willRecord('dev-1', fields, will))).record, null, JSON.stringify([fields, will]))
    }
  })

  it('unknown extra fields of a known version are tolerated', () => {
    const r = { ...sessionRecord('dev-1'), later: { x: 1 } }
    assert.deepEqual(decodeSessionsTopicEntry('dev-1', json(r)).record, r)
  })
})
