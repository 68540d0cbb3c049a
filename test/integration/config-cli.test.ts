import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeCa, makeCert } from '../support/test-certs.js'

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

function start (args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise(resolve => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WHARF_'))) as Record<string, string>
    execFile(process.execPath, [CLI, 'start', ...args], { env: { ...clean, ...env }, timeout: 20000 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stderr })
    })
  })
}

describe('invalid configuration stops the start with exit code 2, naming the key', () => {
  it('a wrong type from the environment names the key and the variable', async () => {
    const r = await start([], { WHARF_HTTP__PORT: 'eighty' })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /http\.port/)
    assert.match(r.stderr, /WHARF_HTTP__PORT/)
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line')
  })

  it('an unknown key in the YAML file names the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-config-'))
    const file = join(dir, 'wharf.yaml')
    await writeFile(file, 'node:\n  name: n1\nlisteners:\n  tcp:\n    default:\n      bnd: 0.0.0.0:1883\n')
    const r = await start(['--config', file], {})
    assert.equal(r.code, 2)
    assert.match(r.stderr, /listeners\.tcp\.default\.bnd/)
    await rm(dir, { recursive: true })
  })

  it('a bad value names the key', async () => {
    const r = await start([], { WHARF_LISTENERS__TCP__DEFAULT__BIND: '127.0.0.1:99999' })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /listeners\.tcp\.default\.bind/)
  })

  it('a bad ACL rules file names authorization.file, the file and the line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-config-'))
    const rules = join(dir, 'acl.yaml')
    await writeFile(rules, '- permission: allow\n  topics: ["a/#"]\n- permission: maybe\n  topics: ["b"]\n')
    // the rules are read when the node is built, before Kafka is asked anything
    const r = await start([], { WHARF_KAFKA__BROKERS: '127.0.0.1:1', WHARF_AUTHORIZATION__FILE: rules })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^wharf: invalid configuration: authorization\.file: .*acl\.yaml:3: permission: expected allow or deny/)
    await rm(dir, { recursive: true })
  })

  it('a missing config file is named', async () => {
    const r = await start(['--config', '/nonexistent/wharf.yaml'], {})
    assert.equal(r.code, 2)
    assert.match(r.stderr, /\/nonexistent\/wharf\.yaml/)
  })

  it('a missing or mismatched TLS certificate names the key, before Kafka is asked anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-config-'))
    const ca = makeCa(dir)
    const one = makeCert(dir, 'one', ca, '/CN=one', true)
    const two = makeCert(dir, 'two', ca, '/CN=two', true)
    // no brokers: a local Kafka would start after the check, which stops the start before it
    const missing = await start([], { WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__CERTFILE: join(dir, 'absent.pem'), WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__KEYFILE: one.key })
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /^wharf: invalid configuration: listeners\.ssl\.default\.ssl_options\.certfile: .*absent\.pem/)
    const mismatched = await start([], { WHARF_LISTENERS__WSS__DEFAULT__SSL_OPTIONS__CERTFILE: one.cert, WHARF_LISTENERS__WSS__DEFAULT__SSL_OPTIONS__KEYFILE: two.key })
    assert.equal(mismatched.code, 2)
    assert.match(mismatched.stderr, /^wharf: invalid configuration: listeners\.wss\.default\.ssl_options\.keyfile: /)
    assert.equal(mismatched.stderr.trim().split('\n').length, 1, 'one line')
    await rm(dir, { recursive: true })
  })
})
