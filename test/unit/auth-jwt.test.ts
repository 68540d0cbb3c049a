import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, SignJWT, type JWTPayload } from 'jose'
import { pino } from 'pino'
import { JwtSource, type JwtOptions } from '../../src/auth/authn/jwt-source.js'
import { ruleDecision } from '../../src/auth/authz/acl-rule.js'
import type { ClientInfo } from '../../src/auth/types.js'

const silent = pino({ level: 'silent' })
const dir = mkdtempSync(join(tmpdir(), 'wharf-jwt-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const NOW = 1_800_000_000_000
const SECRET = 'a-long-enough-hmac-secret-for-hs256-tests'
const base: JwtOptions = {
  from: 'password', algorithm: 'hmac-based', secret: SECRET, secret_base64_encoded: false, use_jwks: false,
  refresh_interval: 300000, verify_claims: {}, acl_claim_name: 'acl', disconnect_after_expire: true, leeway: 5000, now: () => NOW
}
const source = (o: Partial<JwtOptions> = {}): JwtSource => new JwtSource({ ...base, ...o }, silent)
const sec = (ms: number): number => Math.floor(ms / 1000)

async function hs256 (claims: JWTPayload, secret: string | Uint8Array = SECRET): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key)
}
const client = (token: string | undefined, extra: Partial<ClientInfo> = {}): ClientInfo =>
  ({ clientId: 'dev-1', username: 'alice', password: token === undefined ? undefined : Buffer.from(token), peerhost: '127.0.0.1', listener: 'default', protocol: 'tcp', ...extra })
const DENY = { outcome: 'deny', reason: 'bad_credentials' }

describe('JWT (HMAC)', () => {
  it('accepts a valid token and returns expiresAt and superuser', async () => {
    const r = await source().authenticate(client(await hs256({ exp: sec(NOW) + 60, is_superuser: true })))
    assert.deepEqual(r, { outcome: 'allow', superuser: true, acl: undefined, expiresAt: (sec(NOW) + 60) * 1000 })
    const noExpire = await source({ disconnect_after_expire: false }).authenticate(client(await hs256({ exp: sec(NOW) + 60 })))
    assert.equal(noExpire.outcome === 'allow' && noExpire.expiresAt, undefined)
  })

  it('refuses expired, not-yet-valid and wrongly signed tokens; allows the leeway', async () => {
    const s = source()
    assert.deepEqual(await s.authenticate(client(await hs256({ exp: sec(NOW) - 60 }))), DENY)
    assert.deepEqual(await s.authenticate(client(await hs256({ nbf: sec(NOW) + 60 }))), DENY)
    assert.deepEqual(await s.authenticate(client(await hs256({ exp: sec(NOW) + 60 }, 'another-secret-of-enough-length-123'))), DENY)
    assert.equal((await s.authenticate(client(await hs256({ exp: sec(NOW) - 2 })))).outcome, 'allow', 'within the 5 s leeway')
    const tampered = (await hs256({ sub: 'a' })).split('.')
    tampered[1] = Buffer.from(JSON.stringify({ sub: 'b' })).toString('base64url')
    assert.deepEqual(await s.authenticate(client(tampered.join('.'))), DENY)
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`
    assert.deepEqual(await s.authenticate(client(none)), DENY, 'alg none')
  })

  it('passes on what is not a JWT; reads the user name with from: username; base64 secrets', async () => {
    assert.deepEqual(await source().authenticate(client('plain password')), { outcome: 'ignore' })
    assert.deepEqual(await source().authenticate(client(undefined)), { outcome: 'ignore' })
    const token = await hs256({ sub: 'x' })
    assert.equal((await source({ from: 'username' }).authenticate(client(undefined, { username: token }))).outcome, 'allow')
    const raw = Buffer.from('0123456789abcdef0123456789abcdef')
    const b64 = source({ secret: raw.toString('base64'), secret_base64_encoded: true })
    assert.equal((await b64.authenticate(client(await hs256({}, raw)))).outcome, 'allow')
  })

  it('verify_claims: ${clientid}, ${username} and literals must equal the claims', async () => {
    const s = source({ verify_claims: { sub: '${clientid}', name: '${username}', iss: 'wharf-issuer' } })
    assert.equal((await s.authenticate(client(await hs256({ sub: 'dev-1', name: 'alice', iss: 'wharf-issuer' })))).outcome, 'allow')
    assert.deepEqual(await s.authenticate(client(await hs256({ sub: 'dev-2', name: 'alice', iss: 'wharf-issuer' }))), DENY)
    assert.deepEqual(await s.authenticate(client(await hs256({ sub: 'dev-1', name: 'alice', iss: 'other' }))), DENY)
    assert.deepEqual(await s.authenticate(client(await hs256({ sub: 'dev-1', iss: 'wharf-issuer' }))), DENY, 'missing claim')
    assert.deepEqual(await s.authenticate(client(await hs256({ sub: 'dev-1', name: 'alice', iss: 'wharf-issuer' }), { username: undefined })), DENY, 'no user name to compare')
  })

  it('turns the acl claim into per-client rules; a malformed one refuses the client', async () => {
    const r = await source().authenticate(client(await hs256({ acl: { pub: ['up/${clientid}'], sub: [], all: ['${username}/#'] } })))
    assert.ok(r.outcome === 'allow' && r.acl !== undefined)
    const who = { clientId: 'dev-1', username: 'alice', peerhost: '127.0.0.1' }
    const decide = (action: 'publish' | 'subscribe', topic: string) => r.acl!.map(rule => ruleDecision(rule, who, action, topic, 0, false)).find(d => d !== undefined)
    assert.equal(decide('publish', 'up/dev-1'), 'allow')
    assert.equal(decide('subscribe', 'alice/x'), 'allow')
    assert.equal(decide('publish', 'elsewhere'), 'deny')
    assert.deepEqual(await source().authenticate(client(await hs256({ acl: 'everything' }))), { outcome: 'deny', reason: 'not_authorized' })
  })
})

describe('JWT (public keys)', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const rs256 = async (claims: JWTPayload, key = privateKey, kid = 'k1'): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(key)

  it('verifies with a PEM public key and refuses an HMAC token made with it (algorithm confusion)', async () => {
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const s = source({ algorithm: 'public-key', public_key: pem, secret: undefined })
    assert.equal((await s.authenticate(client(await rs256({ exp: sec(NOW) + 60 })))).outcome, 'allow')
    assert.deepEqual(await s.authenticate(client(await rs256({}, other.privateKey))), DENY)
    assert.deepEqual(await s.authenticate(client(await hs256({}, pem))), DENY)
  })

  it('verifies with a JWKS file, re-read after refresh_interval', async () => {
    let now = NOW
    const jwks = join(dir, 'jwks.json')
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] }))
    const s = source({ algorithm: 'public-key', use_jwks: true, jwks_file: jwks, refresh_interval: 60000, now: () => now })
    assert.equal((await s.authenticate(client(await rs256({})))).outcome, 'allow')
    const withK2 = await rs256({}, other.privateKey, 'k2')
    assert.deepEqual(await s.authenticate(client(withK2)), DENY)
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(other.publicKey)), kid: 'k2', alg: 'RS256' }] }))
    assert.deepEqual(await s.authenticate(client(withK2)), DENY, 'not re-read yet')
    now += 60000
    assert.equal((await s.authenticate(client(withK2))).outcome, 'allow', 'the rotated key counts after refresh_interval')
    writeFileSync(jwks, 'not json')
    now += 60000
    assert.equal((await s.authenticate(client(withK2))).outcome, 'allow', 'a broken file keeps the previous keys')
  })

  it('verifies with a JWKS URL; an unreachable endpoint passes the client on', async () => {
    const body = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] })
    let fetched = 0
    const server = createServer((_req, res) => { fetched++; res.setHeader('content-type', 'application/json'); res.end(body) })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`
      const s = source({ algorithm: 'public-key', use_jwks: true, endpoint: url, now: Date.now })
      assert.equal((await s.authenticate(client(await rs256({})))).outcome, 'allow')
      assert.equal((await s.authenticate(client(await rs256({})))).outcome, 'allow')
      assert.equal(fetched, 1, 'the key set is cached')
      assert.equal((await s.authenticate(client(await rs256({}, other.privateKey)))).outcome, 'deny')
    } finally {
      server.close()
    }
    const down = source({ algorithm: 'public-key', use_jwks: true, endpoint: 'http://127.0.0.1:1/jwks', now: Date.now })
    assert.deepEqual(await down.authenticate(client(await rs256({}))), { outcome: 'ignore' })
  })
})
