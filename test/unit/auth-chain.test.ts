import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { AuthChain, type AuthChainOptions } from '../../src/auth/authn/auth-chain.js'
import { loggableUsername } from '../../src/auth/hooks.js'
import { BannedView } from '../../src/auth/bans/banned-view.js'
import { banKey, decodeBanRecord, encodeBanRecord, parseBanKey, type BanRecord } from '../../src/auth/bans/banned-record.js'
import { FailureTracker } from '../../src/auth/bans/failure-tracker.js'
import type { AuthnSource, ClientInfo, SourceResult } from '../../src/auth/types.js'

const silent = pino({ level: 'silent' })

/** A source that answers by user name from a table and counts its calls. */
function tableSource (name: string, table: Record<string, SourceResult>): AuthnSource & { calls: number } {
  return {
    name,
    calls: 0,
    async authenticate (c: ClientInfo): Promise<SourceResult> {
      this.calls++
      return table[c.username ?? ''] ?? { outcome: 'ignore' }
    }
  }
}
const client = (username?: string, password?: string, peerhost = '10.0.0.1', clientId = 'c'): ClientInfo =>
  ({ clientId, username, password: password === undefined ? undefined : Buffer.from(password), peerhost, listener: 'default', protocol: 'tcp' })
const chain = (o: Partial<AuthChainOptions>): AuthChain => new AuthChain({ sources: [], allow_anonymous: false, ...o }, silent)

describe('the authentication chain', () => {
  it('asks the sources in order; ignore passes on; the first answer decides', async () => {
    const a = tableSource('built_in_database', { alice: { outcome: 'allow', superuser: false }, mallory: { outcome: 'deny', reason: 'bad_credentials' } })
    const b = tableSource('http', { alice: { outcome: 'deny', reason: 'bad_credentials' }, bob: { outcome: 'allow', superuser: true }, mallory: { outcome: 'allow', superuser: true } })
    const c = chain({ sources: [a, b] })
    assert.deepEqual(await c.check(client('alice', 'x')), { outcome: 'allow', superuser: false, source: 'built_in_database' })
    assert.deepEqual(await c.check(client('bob', 'x')), { outcome: 'allow', superuser: true, source: 'http' })
    assert.deepEqual(await c.check(client('mallory', 'x')), { outcome: 'deny', reason: 'bad_credentials', source: 'built_in_database' })
    assert.equal(b.calls, 1, 'http was asked only for bob')
    assert.deepEqual([...c.stats.success], [['built_in_database', 1], ['http', 1]])
    assert.deepEqual([...c.stats.failure], [['built_in_database/bad_credentials', 1]])
  })

  it('nobody answers: no credentials -> allow_anonymous decides; credentials -> bad_credentials', async () => {
    const s = tableSource('built_in_database', {})
    assert.deepEqual(await chain({ sources: [s], allow_anonymous: true }).check(client()), { outcome: 'allow', superuser: false, source: 'anonymous' })
    assert.deepEqual(await chain({ sources: [s], allow_anonymous: false }).check(client()), { outcome: 'deny', reason: 'not_authorized' })
    assert.deepEqual(await chain({ sources: [s], allow_anonymous: true }).check(client('who', 'pw')), { outcome: 'deny', reason: 'bad_credentials' })
    assert.deepEqual(await chain({ sources: [s], allow_anonymous: true }).check(client('who')), { outcome: 'deny', reason: 'bad_credentials' }, 'a user name alone is a credential')
    assert.equal((await chain({ sources: [], allow_anonymous: true }).check(client('who', 'pw'))).outcome, 'allow', 'no sources: everyone is anonymous')
    assert.equal((await chain({ sources: [], allow_anonymous: false }).check(client('who', 'pw'))).outcome, 'deny')
  })

  it('answers the edge a ConnectDecision (hooks.ts)', async () => {
    const s = tableSource('jwt', { a: { outcome: 'allow', superuser: true, expiresAt: 5 }, b: { outcome: 'deny', reason: 'bad_credentials' } })
    const c = chain({ sources: [s] })
    assert.deepEqual(await c.authenticate(client('a', 'x')), { allow: true, superuser: true, acl: undefined, expiresAt: 5 })
    assert.deepEqual(await c.authenticate(client('b', 'x')), { allow: false, reason: 'bad_credentials' })
    assert.deepEqual(await c.authenticate(client()), { allow: false, reason: 'not_authorized' })
  })

  it('a source that throws is passed over', async () => {
    const broken: AuthnSource = { name: 'jwt', authenticate: async () => { throw new Error('bug') } }
    const ok = tableSource('http', { u: { outcome: 'allow', superuser: false } })
    assert.equal((await chain({ sources: [broken, ok] }).check(client('u', 'p'))).outcome, 'allow')
  })

  it('brute force: max_count failures ban the address and the user name, even for the right password, on every node', async () => {
    let now = 1000
    const banned = new BannedView(() => now)
    const published: BanRecord[] = []
    const users = tableSource('built_in_database', {})
    // the "right password" is 'good': a source that checks it
    const checker: AuthnSource = { name: 'built_in_database', authenticate: async (c) => c.username === 'victim' ? (c.password?.toString() === 'good' ? { outcome: 'allow', superuser: false } : { outcome: 'deny', reason: 'bad_credentials' }) : { outcome: 'ignore' } }
    const c = chain({ sources: [checker, users], banned, failures: new FailureTracker({ max_count: 3, window_time: 10000, ban_time: 60000 }, () => now), onBan: b => published.push(b) })
    assert.equal((await c.check(client('victim', 'bad1', '10.9.9.9'))).outcome, 'deny')
    assert.equal((await c.check(client('victim', 'bad2', '10.9.9.9'))).outcome, 'deny')
    assert.equal(published.length, 0)
    assert.equal((await c.check(client('victim', 'bad3', '10.9.9.9'))).outcome, 'deny')
    assert.deepEqual(published.map(b => banKey(b.kind, b.value)).sort(), ['peerhost:10.9.9.9', 'username:victim'])
    assert.deepEqual(await c.check(client('victim', 'good', '10.9.9.9')), { outcome: 'deny', reason: 'banned' }, 'the right password after the ban')
    assert.deepEqual(await c.check(client('victim', 'good', '10.1.1.1')), { outcome: 'deny', reason: 'banned' }, 'from another address: the user name is banned')
    // another node: it only sees the banned topic
    const otherView = new BannedView(() => now)
    for (const b of published) otherView.apply(banKey(b.kind, b.value), encodeBanRecord(b))
    const other = chain({ sources: [checker], banned: otherView })
    assert.deepEqual(await other.check(client('victim', 'good', '10.1.1.1')), { outcome: 'deny', reason: 'banned' })
    now += 60000
    assert.equal((await c.check(client('victim', 'good', '10.9.9.9'))).outcome, 'allow', 'the ban has run out')
    assert.equal(c.stats.bans, 2)
    assert.equal(c.stats.failure.get('chain/banned'), 2)
  })

  it('does not log tokens in place of user names', () => {
    assert.equal(loggableUsername('alice'), 'alice')
    assert.equal(loggableUsername('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abc'), '(token)')
    assert.equal(loggableUsername('x'.repeat(200)), '(token)')
  })
})

describe('FailureTracker', () => {
  it('counts failures within the window only', () => {
    let now = 0
    const t = new FailureTracker({ max_count: 3, window_time: 1000, ban_time: 5000 }, () => now)
    assert.deepEqual(t.failure({ peerhost: '1.2.3.4' }), [])
    now = 600
    assert.deepEqual(t.failure({ peerhost: '1.2.3.4' }), [])
    now = 1100 // the first failure left the window
    assert.deepEqual(t.failure({ peerhost: '1.2.3.4' }), [])
    now = 1200
    const bans = t.failure({ peerhost: '::ffff:1.2.3.4' })
    assert.equal(bans.length, 1)
    assert.deepEqual({ ...bans[0], reason: '' }, { v: 1, kind: 'peerhost', value: '1.2.3.4', by: 'flapping_detect', reason: '', at: 1200, until: 6200 })
    assert.deepEqual(t.failure({ peerhost: '1.2.3.4' }), [], 'the count starts again after a ban')
  })

  it('a success clears the user name count, not the address count', () => {
    const t = new FailureTracker({ max_count: 2, window_time: 1000, ban_time: 5000 }, () => 0)
    t.failure({ username: 'u', peerhost: '5.5.5.5' })
    t.success({ username: 'u' })
    const bans = t.failure({ username: 'u', peerhost: '5.5.5.5' })
    assert.deepEqual(bans.map(b => b.kind), ['peerhost'])
  })

  it('keeps a bounded number of keys', () => {
    let now = 0
    const t = new FailureTracker({ max_count: 5, window_time: 1000, ban_time: 5000, max_keys: 100 }, () => now)
    for (let i = 0; i < 1000; i++) { now = i * 10; t.failure({ peerhost: `10.0.${i >> 8}.${i & 255}` }) }
    assert.ok(t.size <= 101, `size ${t.size}`)
  })
})

describe('banned records', () => {
  it('round-trip, tombstones, expiry, foreign values', () => {
    const r: BanRecord = { v: 1, kind: 'clientid', value: 'a:b', by: 'ops', reason: 'abuse', at: 5, until: null }
    const key = banKey(r.kind, r.value)
    assert.equal(key, 'clientid:a:b')
    assert.deepEqual(parseBanKey(key), { kind: 'clientid', value: 'a:b' })
    assert.deepEqual(decodeBanRecord(key, encodeBanRecord(r)), r)
    assert.equal(decodeBanRecord(key, null), null)
    assert.equal(decodeBanRecord('nope:x', encodeBanRecord(r)), undefined)
    assert.equal(decodeBanRecord(key, Buffer.from('{"v":1}')), undefined)
    let now = 10
    const view = new BannedView(() => now)
    view.apply(key, encodeBanRecord(r))
    view.apply('username:u', encodeBanRecord({ ...r, kind: 'username', value: 'u', until: 20 }))
    view.apply('peerhost:::ffff:10.0.0.1', encodeBanRecord({ ...r, kind: 'peerhost', value: '::ffff:10.0.0.1', until: 20 }))
    view.apply('junk', Buffer.from('x'))
    assert.equal(view.unreadable, 1)
    assert.equal(view.isBanned({ clientId: 'a:b', peerhost: '1.1.1.1' }), true)
    assert.equal(view.isBanned({ clientId: 'x', username: 'u', peerhost: '1.1.1.1' }), true)
    assert.equal(view.isBanned({ clientId: 'x', peerhost: '10.0.0.1' }), true, 'address normalised')
    assert.equal(view.isBanned({ clientId: 'x', peerhost: '1.1.1.1' }), false)
    now = 20
    assert.equal(view.isBanned({ clientId: 'x', username: 'u', peerhost: '10.0.0.1' }), false, 'expired')
    assert.equal(view.list().length, 1)
    view.apply(key, null)
    assert.equal(view.isBanned({ clientId: 'a:b', peerhost: '1.1.1.1' }), false, 'lifted')
  })
})
