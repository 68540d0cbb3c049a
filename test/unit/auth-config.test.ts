import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { z } from 'zod'
import { authenticationSchema, authorizationSchema, flappingDetectSchema } from '../../src/config/auth-schema.js'
import { createAuth } from '../../src/auth/build.js'
import { registerAuthMetrics } from '../../src/auth/auth-metrics.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { UserView } from '../../src/auth/users/user-view.js'
import { BannedView } from '../../src/auth/bans/banned-view.js'
import { encodeUserRecord } from '../../src/auth/users/user-record.js'
import { hashPassword } from '../../src/auth/hash/password-hash.js'

const schema = z.strictObject({ authentication: authenticationSchema, authorization: authorizationSchema, flapping_detect: flappingDetectSchema })
const issues = (v: unknown): string[] => {
  const r = schema.safeParse(v)
  return r.success ? [] : r.error.issues.map(i => `${i.path.join('.')}: ${i.message}`)
}

describe('auth configuration', () => {
  it('has defaults for everything', () => {
    const c = schema.parse({})
    assert.deepEqual(c.authentication.chain, [])
    assert.deepEqual(c.authentication.password_hash_algorithm, { name: 'pbkdf2', mac_fun: 'sha256', iterations: 27500, dk_length: 32 })
    assert.equal(c.authentication.password_hash_salt, undefined)
    assert.deepEqual(c.authorization, { no_match: 'allow', deny_action: 'ignore', cache: { enable: true, max_size: 32, ttl: 60000 } })
    assert.deepEqual(c.flapping_detect, { enable: true, max_count: 15, window_time: 60000, ban_time: 300000 })
    assert.equal(c.authentication.jwt.leeway, 5000)
    assert.deepEqual(schema.parse({ authentication: null, authorization: null, flapping_detect: null }), c)
  })

  it('takes EMQX-style durations and per-algorithm keys', () => {
    const c = schema.parse({
      authentication: { password_hash_algorithm: { name: 'bcrypt', salt_rounds: 12 } },
      flapping_detect: { window_time: '2m', ban_time: '1h' },
      authorization: { cache: { ttl: '30s' } }
    })
    assert.deepEqual(c.authentication.password_hash_algorithm, { name: 'bcrypt', salt_rounds: 12 })
    assert.equal(c.flapping_detect.window_time, 120000)
    assert.equal(c.flapping_detect.ban_time, 3600000)
    assert.equal(c.authorization.cache.ttl, 30000)
    assert.deepEqual(schema.parse({ authentication: { password_hash_algorithm: { name: 'sha512' } } }).authentication.password_hash_algorithm, { name: 'sha512', salt_position: 'prefix' })
  })

  it('names the key of a mistake', () => {
    assert.match(issues({ authentication: { password_hash_algorithm: { name: 'bcrypt', iterations: 5000 } } })[0] as string, /password_hash_algorithm\.iterations: does not apply to bcrypt/)
    assert.match(issues({ authentication: { chain: ['jwt'] } })[0] as string, /authentication\.jwt\.secret: missing/)
    assert.match(issues({ authentication: { chain: ['http'] } })[0] as string, /authentication\.http\.url: missing/)
    assert.match(issues({ authentication: { chain: ['ldap'] } })[0] as string, /chain\.0/)
    assert.match(issues({ authentication: { chain: ['jwt', 'jwt'], jwt: { secret: 's' } } })[0] as string, /each source at most once/)
    assert.match(issues({ flapping_detect: { window_time: 'soon' } })[0] as string, /window_time: a duration/)
    assert.match(issues({ authorization: { no_match: 'maybe' } })[0] as string, /no_match/)
  })

  it('createAuth builds the chain and the ACL the configuration describes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-auth-'))
    try {
      const rules = join(dir, 'acl.yaml')
      writeFileSync(rules, '- { permission: allow, who: { username: alice }, topics: ["alice/#"] }\n')
      const config = schema.parse({
        authentication: { chain: ['built_in_database'], password_hash_salt: 'pep', password_hash_algorithm: { name: 'sha256' } },
        authorization: { file: rules, no_match: 'deny' },
        flapping_detect: { max_count: 2 }
      })
      const users = new UserView()
      users.apply('alice', encodeUserRecord({ v: 1, username: 'alice', superuser: false, hash: await hashPassword(Buffer.from('pw'), config.authentication.password_hash_algorithm, 'pep'), createdAt: 0, updatedAt: 0 }))
      const bans: string[] = []
      const auth = createAuth({ allow_anonymous: false, ...config }, { users, banned: new BannedView(), onBan: b => bans.push(b.kind), logger: pino({ level: 'silent' }), watch: false })
      const c = (u?: string, p?: string) => ({ clientId: 'c', username: u, password: p === undefined ? undefined : Buffer.from(p), peerhost: '127.0.0.1', listener: 'default', protocol: 'tcp' as const })
      assert.equal((await auth.authenticator.check(c('alice', 'pw'))).outcome, 'allow')
      assert.deepEqual(await auth.authenticator.check(c()), { outcome: 'deny', reason: 'not_authorized' })
      await auth.authenticator.check(c('alice', 'x'))
      await auth.authenticator.check(c('alice', 'y'))
      assert.deepEqual(bans.sort(), ['peerhost', 'username'])
      const az = { clientId: 'c', username: 'alice', peerhost: '127.0.0.1', superuser: false }
      assert.equal(auth.authorizer.authorize(az, 'publish', 'alice/1', { qos: 0 }), 'allow')
      assert.equal(auth.authorizer.authorize(az, 'publish', 'bob/1', { qos: 0 }), 'deny')
      assert.equal(auth.reload(), true)
      const metrics = createMetrics('n1')
      registerAuthMetrics(metrics, auth.authenticator, auth.authorizer)
      const text = await metrics.registry.metrics()
      assert.match(text, /wharf_authn_success_total\{source="built_in_database",node="n1"\} 1/)
      assert.match(text, /wharf_authn_failure_total\{source="built_in_database",reason="bad_credentials",node="n1"\} 2/)
      assert.match(text, /wharf_authn_failure_total\{source="chain",reason="not_authorized",node="n1"\} 1/)
      assert.match(text, /wharf_authn_bans_total\{node="n1"\} 2/)
      assert.match(text, /wharf_authz_total\{action="publish",result="deny",node="n1"\} 1/)
      assert.match(text, /wharf_authz_reloads_total\{node="n1"\} 1/)
      auth.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
