import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino } from 'pino'
import { HttpSource, type HttpAuthOptions } from '../../src/auth/authn/http-source.js'
import type { ClientInfo } from '../../src/auth/types.js'

const silent = pino({ level: 'silent' })

/** The stand-in authentication service: answers by user name, records what it was sent. */
let server: Server
let url = ''
const seen: Array<Record<string, unknown>> = []
let release: () => void = () => undefined
before(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', c => { body += String(c) })
    req.on('end', () => {
      const b = JSON.parse(body) as Record<string, unknown>
      seen.push({ ...b, contentType: req.headers['content-type'], token: req.headers['x-token'] })
      const reply = (status: number, json?: unknown): void => {
        res.statusCode = status
        res.end(json === undefined ? undefined : JSON.stringify(json))
      }
      switch (b.username) {
        case 'good': return reply(200, b.password === 'pw' ? { result: 'allow', is_superuser: b.clientid === 'admin' } : { result: 'deny' })
        case 'ignored': return reply(200, { result: 'ignore' })
        case 'nocontent': return reply(204)
        case 'broken': return reply(500, { result: 'allow' })
        case 'garbage': return reply(200, 'allow')
        case 'acl': return reply(200, { result: 'allow', acl: [{ permission: 'allow', action: 'publish', topic: 'x/#' }] })
        case 'slow': { release = () => reply(200, { result: 'allow' }); return }
        default: return reply(200, { result: 'deny' })
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth`
})
after(() => { release(); server.closeAllConnections(); server.close() })

const source = (o: Partial<HttpAuthOptions> = {}): HttpSource =>
  new HttpSource({ url, headers: { 'x-token': 't0k' }, request_timeout: 2000, cache_ttl: 0, cache_max_size: 100, ...o }, silent)
const client = (username: string | undefined, password?: string, clientId = 'c1'): ClientInfo =>
  ({ clientId, username, password: password === undefined ? undefined : Buffer.from(password), peerhost: '10.0.0.7', listener: 'default', protocol: 'tcp' })

describe('HTTP authentication', () => {
  it('posts the credentials as JSON and follows allow / deny / ignore / 204', async () => {
    const s = source()
    seen.length = 0
    assert.deepEqual(await s.authenticate(client('good', 'pw')), { outcome: 'allow', superuser: false, acl: undefined })
    assert.deepEqual(seen[0], { clientid: 'c1', username: 'good', password: 'pw', peerhost: '10.0.0.7', contentType: 'application/json', token: 't0k' })
    assert.deepEqual(await s.authenticate(client('good', 'pw', 'admin')), { outcome: 'allow', superuser: true, acl: undefined })
    assert.deepEqual(await s.authenticate(client('good', 'nope')), { outcome: 'deny', reason: 'bad_credentials' })
    assert.deepEqual(await s.authenticate(client('ignored', 'x')), { outcome: 'ignore' })
    assert.deepEqual(await s.authenticate(client('nocontent', 'x')), { outcome: 'allow', superuser: false })
    const withAcl = await s.authenticate(client('acl', 'x'))
    assert.ok(withAcl.outcome === 'allow' && withAcl.acl?.length === 1)
    await s.authenticate(client(undefined))
    assert.deepEqual(seen.at(-1), { clientid: 'c1', username: null, password: null, peerhost: '10.0.0.7', contentType: 'application/json', token: 't0k' })
  })

  it('passes the client on when the service fails, answers nonsense, is unreachable or too slow', async () => {
    assert.deepEqual(await source().authenticate(client('broken', 'x')), { outcome: 'ignore' })
    assert.deepEqual(await source().authenticate(client('garbage', 'x')), { outcome: 'ignore' })
    assert.deepEqual(await source({ url: 'http://127.0.0.1:1/auth' }).authenticate(client('good', 'pw')), { outcome: 'ignore' })
    assert.deepEqual(await source({ request_timeout: 100 }).authenticate(client('slow', 'x')), { outcome: 'ignore' })
    release()
  })

  it('caches allow and deny for cache_ttl per credentials, never ignore', async () => {
    let now = 0
    const s = source({ cache_ttl: 1000, now: () => now })
    await s.authenticate(client('good', 'pw'))
    await s.authenticate(client('good', 'pw'))
    assert.equal(s.requests, 1)
    assert.equal((await s.authenticate(client('good', 'wrong'))).outcome, 'deny', 'other password: not the cached answer')
    assert.equal(s.requests, 2)
    await s.authenticate(client('good', 'pw', 'c2'))
    assert.equal(s.requests, 3, 'other client id: not cached')
    await s.authenticate(client('ignored', 'x'))
    await s.authenticate(client('ignored', 'x'))
    assert.equal(s.requests, 5)
    now = 1000
    await s.authenticate(client('good', 'pw'))
    assert.equal(s.requests, 6, 'expired')
    for (const key of (s as unknown as { cache: Map<string, unknown> }).cache.keys()) {
      assert.match(key, /^[A-Za-z0-9+/]{43}=$/, 'keys are HMACs, not credentials')
    }
  })
})
