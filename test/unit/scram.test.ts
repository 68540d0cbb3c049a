import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EnhancedStep } from '../../src/auth/hooks.js'
import { computeScramCredentials, parseScramCredentials, scramJson } from '../../src/auth/scram/scram-credentials.js'
import { ScramExchange } from '../../src/auth/scram/scram-exchange.js'
import { clientProof, scramCredential, type ScramAlgorithm, type ScramCredential } from '../../src/auth/scram/scram-math.js'
import { decodeUserRecord, encodeUserRecord } from '../../src/auth/users/user-record.js'

const RFC7677 = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='
}

function exchange (alg: ScramAlgorithm, users: Record<string, ScramCredential | undefined>, serverNonce = 'server-nonce'): ScramExchange {
  return new ScramExchange({
    alg,
    secret: Buffer.from('test'),
    iterations: 4096,
    nonce: () => serverNonce,
    lookup: name => name in users ? { credential: users[name], superuser: false } : undefined
  })
}

const text = (s: EnhancedStep): string => s.done && !s.verified ? assert.fail(`refused: ${s.why}`) : s.data.toString()

/** The client side of a whole exchange against `ex`. */
async function login (ex: ScramExchange, alg: ScramAlgorithm, username: string, password: string): Promise<{ end: EnhancedStep; expected: Buffer }> {
  const bare = `n=${username},r=client-nonce`
  const first = text(ex.step(Buffer.from(`n,,${bare}`)))
  const m = /^r=([^,]+),s=([^,]+),i=(\d+)$/.exec(first) ?? assert.fail(first)
  const withoutProof = `c=biws,r=${m[1] as string}`
  const { proof, serverSignature } = await clientProof(alg, Buffer.from(password), Buffer.from(m[2] as string, 'base64'), Number(m[3]), `${bare},${first},${withoutProof}`)
  return { end: ex.step(Buffer.from(`${withoutProof},p=${proof.toString('base64')}`)), expected: serverSignature }
}

describe('SCRAM', () => {
  it('answers RFC 7677 test vector (SCRAM-SHA-256) exactly', async () => {
    const credential = await scramCredential(Buffer.from('pencil'), 'sha256', 4096, Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'))
    const ex = exchange('sha256', { user: credential }, RFC7677.serverNonce)
    assert.equal(text(ex.step(Buffer.from(RFC7677.clientFirst))), RFC7677.serverFirst)
    const end = ex.step(Buffer.from(RFC7677.clientFinal))
    assert.ok(end.done && end.verified)
    assert.equal(end.data.toString(), RFC7677.serverFinal)
    assert.equal(end.username, 'user')
  })

  it('SCRAM-SHA-512: a client with the password is verified and can check the server', async () => {
    const { sha512 } = await computeScramCredentials(Buffer.from('s3cret'), 4096)
    const { end, expected } = await login(exchange('sha512', { alice: sha512 }), 'sha512', 'alice', 's3cret')
    assert.ok(end.done && end.verified)
    assert.equal(end.data.toString(), `v=${expected.toString('base64')}`)
  })

  it('refuses a wrong password, an unknown user and a user without credentials the same way', async () => {
    const { sha256 } = await computeScramCredentials(Buffer.from('right'), 4096)
    for (const [user, why] of [['alice', 'wrong proof'], ['nobody', 'no such user'], ['old', 'no sha256 SCRAM credentials']] as const) {
      const { end } = await login(exchange('sha256', { alice: sha256, old: undefined }), 'sha256', user, 'wrong')
      assert.ok(end.done && !end.verified)
      assert.match(end.why, new RegExp(why))
    }
  })

  it('gives an unknown user the same salt each time (no user enumeration by salt)', () => {
    const salt = (): string => text(exchange('sha256', {}).step(Buffer.from('n,,n=ghost,r=abc'))).split(',')[1] as string
    assert.equal(salt(), salt())
  })

  it('refuses malformed messages, channel binding and a changed nonce', async () => {
    for (const first of ['p=tls-unique,,n=u,r=x', 'n,a=admin,n=u,r=x', 'n,,r=x', 'garbage']) {
      const s = exchange('sha256', {}).step(Buffer.from(first))
      assert.ok(s.done && !s.verified, first)
    }
    const { sha256 } = await computeScramCredentials(Buffer.from('pw'), 4096)
    const ex = exchange('sha256', { u: sha256 })
    text(ex.step(Buffer.from('n,,n=u,r=abc')))
    const s = ex.step(Buffer.from('c=biws,r=abcOTHER,p=AAAA'))
    assert.ok(s.done && !s.verified)
    assert.match(s.why, /nonce/)
  })

  it('user records keep the credentials, and older records without them still read', async () => {
    const scram = await computeScramCredentials(Buffer.from('pw'), 4096)
    const hash = { alg: 'plain', hash: 'cHc=' } as const
    const value = encodeUserRecord({ v: 1, username: 'u', superuser: false, hash, scram, createdAt: 1, updatedAt: 2 })
    assert.ok(!value.toString().includes('"pw"'))
    assert.deepEqual(decodeUserRecord('u', value)?.scram, scram)
    assert.deepEqual(parseScramCredentials(scramJson(scram)), scram)
    const old = Buffer.from(JSON.stringify({ v: 1, username: 'u', superuser: true, hash, createdAt: 1, updatedAt: 2 }))
    const r = decodeUserRecord('u', old)
    assert.equal(r?.superuser, true)
    assert.equal(r?.scram, undefined)
  })
})
