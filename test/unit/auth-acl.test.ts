import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { AclAuthorizer, type AclAuthorizerOptions } from '../../src/auth/authz/acl-authorizer.js'
import { AclFileError, parseRulesFile } from '../../src/auth/authz/rules-file.js'
import { parseMosquittoAcl } from '../../src/auth/authz/mosquitto-acl.js'
import { parseAclClaim } from '../../src/auth/authz/rule-spec.js'
import { filterWithin } from '../../src/auth/authz/filter-within.js'
import { RulesWatcher } from '../../src/auth/authz/rules-watcher.js'
import { ConfigError } from '../../src/config/errors.js'
import type { AuthzSubject } from '../../src/auth/hooks.js'

const silent = pino({ level: 'silent' })
const dir = mkdtempSync(join(tmpdir(), 'wharf-acl-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
function file (text: string, name = `rules-${n++}.yaml`): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

function authorizer (opts: Partial<AclAuthorizerOptions>, logger = silent): AclAuthorizer {
  return new AclAuthorizer({ noMatch: 'deny', denyAction: 'ignore', cache: { enable: true, max_size: 32, ttl_ms: 60000 }, ...opts }, logger)
}

const client = (clientId: string, username?: string, peerhost = '10.1.2.3', extra: Partial<AuthzSubject> = {}): AuthzSubject =>
  ({ clientId, username, peerhost, superuser: false, ...extra })
const pub = (a: AclAuthorizer, c: AuthzSubject, topic: string, qos: 0 | 1 | 2 = 0, retain = false) => a.authorize(c, 'publish', topic, { qos, retain })
const sub = (a: AclAuthorizer, c: AuthzSubject, filter: string, qos: 0 | 1 | 2 = 0) => a.authorize(c, 'subscribe', filter, { qos })

describe('filterWithin (the subscribe check)', () => {
  it('follows EMQX: a/+ within a/#, a/# not within a/b', () => {
    const yes: Array<[string, string]> = [['a/+', 'a/#'], ['a', 'a/#'], ['a/b/c', 'a/+/c'], ['+', '#'], ['$SYS/a', '$SYS/+'], ['$SYS/#', '$SYS/#'], ['+/b', '+/+']]
    const no: Array<[string, string]> = [['a/#', 'a/b'], ['a/+/c', 'a/b/c'], ['a/#', 'a/+'], ['$SYS/x', '#'], ['#', 'a/#'], ['a', 'a/+/#'], ['a/b/c', 'a/b']]
    for (const [f, r] of yes) assert.equal(filterWithin(f, r), true, `${f} within ${r}`)
    for (const [f, r] of no) assert.equal(filterWithin(f, r), false, `${f} not within ${r}`)
  })
})

describe('rules file', () => {
  it('first match wins; who by username, clientid, CIDR, regex, lists; no_match', () => {
    const a = authorizer({
      file: file(`
- permission: deny
  who: { ipaddr: [192.168.0.0/16, "::1"] }
  action: all
  topics: ["#"]
- permission: allow
  who: { username: [admin, "re:^ops-[0-9]+$"] }
  action: all
  topics: ["#", "$SYS/#"]
- permission: allow
  who: { clientid: sensor-1 }
  action: publish
  topics: [sensors/1/#]
- permission: allow
  who: all
  action: subscribe
  topics: [public/#]
`)
    })
    assert.equal(pub(a, client('x', 'admin'), 'any/thing'), 'allow')
    assert.equal(sub(a, client('x', 'admin'), '$SYS/#'), 'allow')
    assert.equal(pub(a, client('x', 'ops-12'), 'a'), 'allow')
    assert.equal(pub(a, client('x', 'ops-12x'), 'a'), 'deny')
    assert.equal(pub(a, client('x', 'admin', '192.168.4.5'), 'a'), 'deny', 'the CIDR deny comes first')
    assert.equal(pub(a, client('x', 'admin', '::ffff:192.168.4.5'), 'a'), 'deny', 'IPv4-mapped address')
    assert.equal(pub(a, client('x', 'admin', '::1'), 'a'), 'deny')
    assert.equal(pub(a, client('sensor-1'), 'sensors/1/temp'), 'allow')
    assert.equal(sub(a, client('sensor-1'), 'sensors/1/temp'), 'deny', 'publish-only rule')
    assert.equal(pub(a, client('sensor-2'), 'sensors/1/temp'), 'deny', 'no_match: deny')
    assert.equal(sub(a, client('anyone'), 'public/+/x'), 'allow')
    assert.equal(sub(a, client('anyone'), 'public'), 'allow', 'public/# covers public')
    assert.equal(sub(a, client('anyone'), '#'), 'deny')
    const open = authorizer({ file: file('[]'), noMatch: 'allow' })
    assert.equal(pub(open, client('x'), 'a'), 'allow')
  })

  it('placeholders ${username}, ${clientid}, %u, %c confine a client to its own subtree', () => {
    const a = authorizer({
      file: file(`
rules:
  - { permission: allow, action: all, topics: ["users/\${username}/#", "devices/%c/#"] }
  - { permission: allow, action: publish, topics: ["up/%u/\${clientid}"] }
`)
    })
    const alice = client('dev-1', 'alice')
    assert.equal(pub(a, alice, 'users/alice/x'), 'allow')
    assert.equal(pub(a, alice, 'users/bob/x'), 'deny')
    assert.equal(sub(a, alice, 'users/alice/#'), 'allow')
    assert.equal(sub(a, alice, 'users/+/#'), 'deny')
    assert.equal(sub(a, alice, 'devices/dev-1/cmd'), 'allow')
    assert.equal(pub(a, alice, 'up/alice/dev-1'), 'allow')
    assert.equal(pub(a, alice, 'up/alice/dev-2'), 'deny')
    assert.equal(pub(a, client('c'), 'users//x'), 'deny', 'anonymous: ${username} rules do not apply')
    assert.equal(sub(a, client('c', '#'), 'users/#'), 'deny', 'a user name with a wildcard is not substituted')
    assert.equal(sub(a, client('c', 'a/b'), 'users/a/b/#'), 'deny', 'nor one with a level separator')
  })

  it('a deny rule with an unsafe placeholder value fails closed', () => {
    const a = authorizer({ file: file('- { permission: deny, action: all, topics: ["private/${username}/#"] }\n- { permission: allow, topics: ["#"] }\n') })
    assert.equal(pub(a, client('c', 'bob'), 'x'), 'allow')
    assert.equal(pub(a, client('c', 'bob'), 'private/bob/x'), 'deny')
    assert.equal(pub(a, client('c', 'x+'), 'x'), 'deny')
  })

  it('eq matches the filter literally', () => {
    const a = authorizer({ file: file('- { permission: deny, action: subscribe, topics: ["eq #", "eq a/+"] }\n- { permission: allow, topics: ["#"] }\n'), noMatch: 'deny' })
    assert.equal(sub(a, client('c'), '#'), 'deny')
    assert.equal(sub(a, client('c'), 'a/+'), 'deny')
    assert.equal(sub(a, client('c'), 'a/b'), 'allow')
    assert.equal(sub(a, client('c'), 'a/#'), 'allow')
  })

  it('qos and retain conditions', () => {
    const a = authorizer({
      file: file(`
- { permission: deny, action: publish, retain: true, topics: ["#"] }
- { permission: allow, action: publish, qos: [0, 1], topics: ["t/#"] }
- { permission: allow, action: subscribe, qos: 0, topics: ["t/#"] }
`)
    })
    const c = client('c')
    assert.equal(pub(a, c, 't/1', 1), 'allow')
    assert.equal(pub(a, c, 't/1', 2), 'deny')
    assert.equal(pub(a, c, 't/1', 0, true), 'deny', 'retained publish denied')
    assert.equal(sub(a, c, 't/#', 0), 'allow')
    assert.equal(sub(a, c, 't/#', 1), 'deny')
  })

  it('shared subscriptions are authorized on their filter; $SYS needs a rule of its own', () => {
    const a = authorizer({ file: file('- { permission: allow, action: subscribe, topics: ["jobs/#"] }\n- { permission: allow, action: subscribe, topics: ["#"] }\n') })
    const c = client('c')
    assert.equal(sub(a, c, '$share/g1/jobs/+'), 'allow')
    assert.equal(sub(a, c, '$queue/jobs/x'), 'allow')
    assert.equal(sub(a, c, '$share/g1'), 'deny', 'malformed share')
    assert.equal(sub(a, c, '$SYS/brokers'), 'deny', '# does not cover $SYS topics')
    assert.equal(a.maySubscribe(c, 'jobs/1', 1), true)
    assert.equal(a.mayPublish(c, 'jobs/1', 1, false), false)
  })

  it('superusers and per-client rules from authentication come first', () => {
    const a = authorizer({ file: file('- { permission: allow, topics: ["#"] }\n') })
    assert.equal(pub(a, client('root', 'r', '1.1.1.1', { superuser: true }), '$SYS/x'), 'allow')
    const listRules = parseAclClaim([{ permission: 'deny', action: 'pub', topic: 'secret/#' }], 'jwt')
    const jwtClient = client('j', 'u', '1.1.1.1', { acl: listRules })
    assert.equal(pub(a, jwtClient, 'secret/1'), 'deny')
    assert.equal(pub(a, jwtClient, 'other'), 'allow', 'list form: no match goes on to the file')
    const objRules = parseAclClaim({ pub: ['up/${clientid}'], sub: ['down/#'] }, 'jwt')
    const oldClient = client('j', 'u', '1.1.1.1', { acl: objRules })
    assert.equal(pub(a, oldClient, 'up/j'), 'allow')
    assert.equal(pub(a, oldClient, 'up/k'), 'deny', 'object form: no match is denied')
    assert.equal(sub(a, oldClient, 'down/x'), 'allow')
    assert.equal(sub(a, oldClient, '$SYS/#'), 'deny')
    assert.throws(() => parseAclClaim({ bad: [] }, 'jwt'), /bad: unknown/)
  })

  it('a bad file names the file and line; at start it is a configuration error naming the key', () => {
    const bad = file('- { permission: allow, topics: ["#"] }\n- permission: allow\n  action: publish\n  topics: ["a/#/b"]\n')
    assert.throws(() => parseRulesFile('- permission: allow\n  topics: ["#"]\n- permission: maybe\n  topics: [x]\n', 'f.yaml'), (err: Error) => err instanceof AclFileError && err.line === 3 && /permission/.test(err.message))
    assert.throws(() => parseRulesFile('- [unclosed\n', 'f.yaml'), AclFileError)
    assert.throws(() => parseRulesFile('- { permission: allow, topics: [x], colour: red }\n', 'f.yaml'), /colour: unknown key/)
    assert.throws(() => parseRulesFile('- { permission: allow, who: { ipaddr: 10.0.0.0/33 }, topics: [x] }\n', 'f.yaml'), /prefix length/)
    assert.throws(() => authorizer({ file: bad }), (err: Error) => {
      assert.ok(err instanceof ConfigError)
      assert.equal(err.key, 'authorization.file')
      assert.match(err.message, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: topics: "a/#/b" is not a valid topic filter`))
      return true
    })
    assert.throws(() => authorizer({ mosquittoAclFile: join(dir, 'missing') }), (err: Error) => err instanceof ConfigError && err.key === 'authorization.mosquitto_acl_file')
  })
})

describe('reload and cache', () => {
  it('reload applies new rules, drops cached decisions, keeps the old rules on a bad file', () => {
    const path = file('- { permission: allow, topics: ["a/#"] }\n')
    const lines: string[] = []
    const logger = pino({ level: 'error' }, { write: (l: string) => { lines.push(l) } })
    const a = authorizer({ file: path }, logger)
    const c = client('c')
    assert.equal(pub(a, c, 'a/1'), 'allow')
    assert.equal(pub(a, c, 'a/1'), 'allow')
    assert.equal(a.stats.cacheHits, 1)
    writeFileSync(path, '- { permission: deny, topics: ["a/#"] }\n')
    assert.equal(pub(a, c, 'a/1'), 'allow', 'nothing changes before the reload')
    assert.equal(a.reload(), true)
    assert.equal(pub(a, c, 'a/1'), 'deny', 'the cached allow is gone')
    writeFileSync(path, '- { permission: allow, topics: ["a/#"] }\n- { permission: nope }\n')
    assert.equal(a.reload(), false)
    assert.equal(pub(a, c, 'a/1'), 'deny', 'previous rules stay')
    assert.equal(lines.length, 1)
    assert.match(lines[0] as string, new RegExp(`rules-\\d+\\.yaml:2: permission`))
  })

  it('caches at most max_size decisions per client (LRU) for at most ttl', () => {
    let now = 0
    const a = authorizer({ file: file('- { permission: allow, topics: ["#"] }\n'), cache: { enable: true, max_size: 2, ttl_ms: 1000 }, now: () => now })
    const c = client('c')
    pub(a, c, 't1'); pub(a, c, 't2'); pub(a, c, 't1'); pub(a, c, 't3') // t2 is the least recently used
    const hits = a.stats.cacheHits
    pub(a, c, 't1'); pub(a, c, 't3')
    assert.equal(a.stats.cacheHits, hits + 2)
    pub(a, c, 't2')
    assert.equal(a.stats.cacheHits, hits + 2, 't2 was evicted')
    now = 5000
    pub(a, c, 't3')
    assert.equal(a.stats.cacheHits, hits + 2, 'expired')
    pub(a, client('other'), 't3')
    assert.equal(a.stats.cacheHits, hits + 2, 'per client')
  })

  it('the watcher reloads after the file is replaced', { timeout: 10000 }, async () => {
    const path = file('- { permission: allow, topics: ["w/#"] }\n', 'watched.yaml')
    const a = authorizer({ file: path })
    let reloaded: () => void = () => undefined
    const done = new Promise<void>(resolve => { reloaded = resolve })
    const w = new RulesWatcher([path], () => { a.reload(); reloaded() }, silent, 20)
    try {
      assert.equal(pub(a, client('c'), 'w/1'), 'allow')
      const tmp = join(dir, 'watched.yaml.tmp')
      writeFileSync(tmp, '- { permission: deny, topics: ["w/#"] }\n')
      renameSync(tmp, path)
      await done
      assert.equal(pub(a, client('c'), 'w/1'), 'deny')
    } finally {
      w.close()
    }
  })
})

describe('Mosquitto acl_file', () => {
  const text = `
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic write up/%u

user bob
topic bob/#

pattern read devices/%c/cmd
pattern write devices/%c/status/%u
`
  it('reads user sections, patterns, access kinds; deny lines come first', () => {
    const a = authorizer({ mosquittoAclFile: file(text, 'acl') })
    const alice = client('d1', 'alice')
    assert.equal(sub(a, client('anon'), 'public/x'), 'allow')
    assert.equal(pub(a, client('anon'), 'public/x'), 'deny', 'read only')
    assert.equal(sub(a, alice, 'public/x'), 'deny', 'the first section is for anonymous clients only')
    assert.equal(pub(a, alice, 'alice/x'), 'allow')
    assert.equal(sub(a, alice, 'alice/secret'), 'deny', 'deny wins though it comes after')
    assert.equal(pub(a, alice, 'up/%u'), 'allow', 'topic lines are literal')
    assert.equal(pub(a, alice, 'up/alice'), 'deny')
    assert.equal(pub(a, client('b1', 'bob'), 'bob/x'), 'allow', 'readwrite is the default')
    assert.equal(pub(a, client('b1', 'bob'), 'alice/x'), 'deny')
    assert.equal(sub(a, alice, 'devices/d1/cmd'), 'allow')
    assert.equal(sub(a, alice, 'devices/d2/cmd'), 'deny')
    assert.equal(pub(a, alice, 'devices/d1/status/alice'), 'allow')
    assert.equal(pub(a, client('x'), 'devices/x/status/'), 'deny', 'pattern with %u skips anonymous clients')
  })

  it('names the line of a bad entry', () => {
    assert.throws(() => parseMosquittoAcl('user a\ntopic read a/#\nbogus line\n', 'acl'), (err: Error) => err instanceof AclFileError && err.line === 3)
    assert.throws(() => parseMosquittoAcl('topic read a/#/b\n', 'acl'), /acl:1/)
  })
})
