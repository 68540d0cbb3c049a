import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { hashPassword, parseHashRecord, PasswordTooLongError, pepperId, verifyPassword, type HashSettings } from '../../src/auth/hash/password-hash.js'
import { MosquittoPasswdError, parseMosquittoPasswd } from '../../src/auth/hash/mosquitto-passwd.js'
import { decodeUserRecord, encodeUserRecord, summarize, type UserRecord } from '../../src/auth/users/user-record.js'
import { UserView } from '../../src/auth/users/user-view.js'
import { BuiltInUsers } from '../../src/auth/authn/built-in-users.js'

const pw = (s: string): Buffer => Buffer.from(s, 'utf8')
const SETTINGS: HashSettings[] = [
  { name: 'pbkdf2', mac_fun: 'sha256', iterations: 1000, dk_length: 32 },
  { name: 'pbkdf2', mac_fun: 'sha512', iterations: 1000, dk_length: 64 },
  { name: 'bcrypt', salt_rounds: 4 },
  { name: 'sha256', salt_position: 'prefix' },
  { name: 'sha256', salt_position: 'suffix' },
  { name: 'sha512', salt_position: 'prefix' },
  { name: 'sha512', salt_position: 'suffix' },
  { name: 'plain' }
]

describe('password hashing', () => {
  for (const s of SETTINGS) {
    const label = JSON.stringify(s)
    it(`${label}: verifies the password and rejects another one`, async () => {
      const record = await hashPassword(pw('correct horse'), s)
      assert.equal(record.alg, s.name)
      assert.deepEqual(parseHashRecord(JSON.parse(JSON.stringify(record))), record, 'survives JSON and parsing')
      assert.equal((await verifyPassword(pw('correct horse'), record)).ok, true)
      assert.equal((await verifyPassword(pw('correct horsE'), record)).ok, false)
      assert.equal((await verifyPassword(pw(''), record)).ok, false)
    })
  }

  it('gives every hash its own salt', async () => {
    const a = await hashPassword(pw('same'), SETTINGS[0] as HashSettings)
    const b = await hashPassword(pw('same'), SETTINGS[0] as HashSettings)
    assert.ok(a.alg === 'pbkdf2' && b.alg === 'pbkdf2')
    assert.notEqual(a.salt, b.salt)
    assert.notEqual(a.hash, b.hash)
  })

  for (const s of SETTINGS.filter(x => x.name !== 'plain')) {
    it(`${JSON.stringify(s)}: the pepper takes part (wrong, missing, changed pepper fail)`, async () => {
      const record = await hashPassword(pw('pw'), s, 'pepper-1')
      assert.equal((record as { pepper?: string }).pepper, pepperId('pepper-1'))
      assert.equal((await verifyPassword(pw('pw'), record, 'pepper-1')).ok, true)
      assert.deepEqual(await verifyPassword(pw('pw'), record), { ok: false, problem: 'pepper_missing' })
      assert.deepEqual(await verifyPassword(pw('pw'), record, 'pepper-2'), { ok: false, problem: 'pepper_changed' })
      // the same password without the pepper gives another hash: the pepper is really mixed in
      const stripped = { ...record, pepper: undefined }
      delete stripped.pepper
      assert.equal((await verifyPassword(pw('pw'), stripped as typeof record)).ok, false)
    })
  }

  it('bcrypt: no silent truncation at 72 bytes', async () => {
    const settings: HashSettings = { name: 'bcrypt', salt_rounds: 4 }
    await assert.rejects(hashPassword(pw('a'.repeat(73)), settings), PasswordTooLongError)
    const record = await hashPassword(pw('b'.repeat(72)), settings)
    assert.equal((await verifyPassword(pw('b'.repeat(72)), record)).ok, true)
    assert.equal((await verifyPassword(pw(`${'b'.repeat(72)}extra`), record)).ok, false)
    const peppered = await hashPassword(pw('c'.repeat(100)), settings, 'pep')
    assert.equal((await verifyPassword(pw('c'.repeat(100)), peppered, 'pep')).ok, true)
    assert.equal((await verifyPassword(pw(`${'c'.repeat(99)}d`), peppered, 'pep')).ok, false)
  })

  it('a record made without a pepper still verifies after one is configured', async () => {
    const record = await hashPassword(pw('old'), SETTINGS[0] as HashSettings)
    assert.equal((await verifyPassword(pw('old'), record, 'new pepper')).ok, true)
  })

  it('a record keeps its own parameters when the defaults change', async () => {
    const old = await hashPassword(pw('x'), { name: 'pbkdf2', mac_fun: 'sha512', iterations: 1500, dk_length: 20 })
    assert.ok(old.alg === 'pbkdf2' && old.iterations === 1500 && Buffer.from(old.hash, 'base64').length === 20)
    assert.equal((await verifyPassword(pw('x'), old)).ok, true)
  })

  it('rejects records it cannot verify', () => {
    assert.equal(parseHashRecord({ alg: 'md5', hash: 'x' }), undefined)
    assert.equal(parseHashRecord({ alg: 'pbkdf2', mac_fun: 'sha1', iterations: 1, dk_length: 32, salt: '', hash: '' }), undefined)
    assert.equal(parseHashRecord({ alg: 'bcrypt', hash: 'not bcrypt' }), undefined)
    assert.equal(parseHashRecord('x'), undefined)
  })
})

const FIXTURE = new URL('../fixtures/mosquitto.passwd', import.meta.url)

async function checkMosquittoFile (text: string, users: Record<string, string>): Promise<void> {
  const parsed = parseMosquittoPasswd(text)
  assert.deepEqual(parsed.map(u => u.username).sort(), Object.keys(users).sort())
  for (const u of parsed) {
    const password = users[u.username] as string
    assert.equal((await verifyPassword(pw(password), u.hash)).ok, true, `${u.username} logs in with the password mosquitto_passwd was given`)
    assert.equal((await verifyPassword(pw(`${password}x`), u.hash)).ok, false)
  }
}

describe('Mosquitto password files', () => {
  it('verifies the users of a file made by Debian\'s mosquitto_passwd 2.0.11 ($7$ and $6$)', async () => {
    const text = readFileSync(FIXTURE, 'utf8')
    assert.match(text, /^alice:\$7\$/m)
    assert.match(text, /^carol:\$6\$/m)
    await checkMosquittoFile(text, { alice: 'alice pw 1', bob: 'b0b:secret', carol: 'carol-ä' })
    const [alice, , carol] = parseMosquittoPasswd(text)
    assert.equal(alice?.hash.alg, 'pbkdf2')
    assert.equal(carol?.hash.alg, 'sha512')
  })

  it('verifies a file the installed mosquitto_passwd makes now', { skip: !existsSync('/usr/bin/mosquitto_passwd') && 'mosquitto_passwd is not installed' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-mp-'))
    try {
      const file = join(dir, 'passwd')
      execFileSync('/usr/bin/mosquitto_passwd', ['-c', '-b', file, 'dev1', 'p@ss word'])
      execFileSync('/usr/bin/mosquitto_passwd', ['-H', 'sha512', '-b', file, 'dev2', 'other'])
      await checkMosquittoFile(readFileSync(file, 'utf8'), { dev1: 'p@ss word', dev2: 'other' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('names the line of an entry it cannot import, without its content', () => {
    assert.deepEqual(parseMosquittoPasswd('# comment\n\n'), [])
    assert.throws(() => parseMosquittoPasswd('a:$7$101$AAAA$BBBB\nbob:plaintext-secret\n'), (err: Error) => {
      assert.ok(err instanceof MosquittoPasswdError)
      assert.equal(err.line, 2)
      assert.doesNotMatch(err.message, /plaintext-secret/)
      return true
    })
    assert.throws(() => parseMosquittoPasswd('no colon here'), /line 1/)
  })
})

describe('user records', () => {
  it('round-trip and never contain the password', async () => {
    const secret = 'Sup3r-Secret-Passw0rd'
    for (const s of SETTINGS.filter(x => x.name !== 'plain')) {
      const record: UserRecord = { v: 1, username: 'dev', superuser: true, hash: await hashPassword(pw(secret), s, 'pep'), createdAt: 1, updatedAt: 2 }
      const bytes = encodeUserRecord(record)
      assert.doesNotMatch(bytes.toString('utf8'), new RegExp(secret))
      assert.ok(!bytes.includes(Buffer.from(secret).toString('base64')))
      assert.deepEqual(decodeUserRecord('dev', bytes), record)
    }
  })

  it('tombstones, foreign and mismatched values', () => {
    assert.equal(decodeUserRecord('a', null), null)
    assert.equal(decodeUserRecord('a', Buffer.alloc(0)), null)
    assert.equal(decodeUserRecord('a', Buffer.from('{')), undefined)
    const r = { v: 1, username: 'a', superuser: false, hash: { alg: 'sha256', salt_position: 'prefix', salt: 'AA==', hash: 'AA==' }, createdAt: 1, updatedAt: 1 }
    assert.equal(decodeUserRecord('b', Buffer.from(JSON.stringify(r))), undefined, 'key and name differ')
    assert.equal(decodeUserRecord('a', Buffer.from(JSON.stringify({ ...r, v: 2 }))), undefined)
    assert.deepEqual(summarize(decodeUserRecord('a', Buffer.from(JSON.stringify(r))) as UserRecord), { username: 'a', superuser: false, algorithm: 'sha256', createdAt: 1, updatedAt: 1 })
  })

  it('UserView applies records and tombstones; BuiltInUsers checks against it', async () => {
    const view = new UserView()
    const make = async (name: string, password: string, superuser = false): Promise<Buffer> =>
      encodeUserRecord({ v: 1, username: name, superuser, hash: await hashPassword(pw(password), { name: 'sha256', salt_position: 'prefix' }, 'pep'), createdAt: 1, updatedAt: 1 })
    const msg = (key: string, value: Buffer | null) => ({ key: Buffer.from(key), value, headers: {}, offset: '0', timestamp: '0', attributes: 0 })
    await view.onBatch('wharf.users', 0, [msg('u1', await make('u1', 'one')), msg('root', await make('root', 'r', true)), msg('u2', Buffer.from('junk'))])
    assert.equal(view.size, 2)
    assert.equal(view.unreadable, 1)
    assert.deepEqual(view.list().map(u => u.username), ['root', 'u1'])
    const source = new BuiltInUsers(view, 'pep', pino({ level: 'silent' }))
    const client = (username?: string, password?: string) => ({ clientId: 'c', username, password: password === undefined ? undefined : pw(password), peerhost: '127.0.0.1', listener: 'default', protocol: 'tcp' as const })
    assert.deepEqual(await source.authenticate(client('u1', 'one')), { outcome: 'allow', superuser: false })
    assert.deepEqual(await source.authenticate(client('root', 'r')), { outcome: 'allow', superuser: true })
    assert.deepEqual(await source.authenticate(client('u1', 'two')), { outcome: 'deny', reason: 'bad_credentials' })
    assert.deepEqual(await source.authenticate(client('u1')), { outcome: 'deny', reason: 'bad_credentials' })
    assert.deepEqual(await source.authenticate(client('nobody', 'x')), { outcome: 'ignore' })
    assert.deepEqual(await source.authenticate(client()), { outcome: 'ignore' })
    await view.onBatch('wharf.users', 0, [msg('u1', null)])
    assert.deepEqual(await source.authenticate(client('u1', 'one')), { outcome: 'ignore' }, 'deleted user')
    const otherPepper = new BuiltInUsers(view, 'other', pino({ level: 'silent' }))
    assert.deepEqual(await otherPepper.authenticate(client('root', 'r')), { outcome: 'deny', reason: 'bad_credentials' })
  })
})
