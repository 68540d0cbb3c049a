import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { connect as netConnect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import type { MqttClient } from 'mqtt'
import { ConfigError } from '../../src/config/errors.js'
import { listenersSchema } from '../../src/config/listeners-schema.js'
import { certIdentity, checkCertificates, type ReloadResult } from '../../src/listeners/index.js'
import { startBroker, type TestBroker } from '../support/listener-broker.js'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { runCommand, startCommand } from '../support/run-command.js'
import { makeCa, makeCert, opensslX509, type CertFiles } from '../support/test-certs.js'

/*
 * ssl listeners in front of an in-memory aedes, with real clients: mosquitto_pub/sub over TLS,
 * mutual TLS, certificate identity, reload of swapped files, and what is refused.
 */

let dir = ''
let ca: CertFiles
let server: CertFiles
let client: CertFiles
let rogue: CertFiles

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wharf-tls-'))
  ca = makeCa(dir)
  server = makeCert(dir, 'server', ca, '/O=Wharf One/CN=localhost', true)
  client = makeCert(dir, 'client', ca, '/C=SE/O=Acme Devices, Inc./CN=device-1')
  const otherCa = makeCa(dir, 'other-ca', '/CN=Not Our CA')
  rogue = makeCert(dir, 'rogue', otherCa, '/CN=admin')
})
after(() => { rmSync(dir, { recursive: true, force: true }) })

const LOCAL = '127.0.0.1:0'

function sslOptions (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { certfile: server.cert, keyfile: server.key, ...extra }
}

/** mosquitto_pub's exit code and error text for one QoS 1 message. */
function mosquittoPub (port: number, topic: string, message: string, extra: string[] = []): ReturnType<typeof runCommand> {
  return runCommand('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '--cafile', ca.cert, '-q', '1', '-t', topic, '-m', message, ...extra])
}

function nextReload (b: TestBroker, outcome: ReloadResult['outcome']): Promise<ReloadResult> {
  return new Promise((resolve) => {
    const on = (r: ReloadResult): void => {
      if (r.outcome !== outcome) return
      b.listeners.off('reload', on)
      resolve(r)
    }
    b.listeners.on('reload', on)
  })
}

/** The organization of the certificate a TLS client was shown. */
function serverOrganization (c: MqttClient): string {
  return String((c.stream as TLSSocket).getPeerCertificate().subject.O)
}

describe('ssl listener: TLS with mosquitto clients', () => {
  let b: TestBroker
  before(async () => {
    b = await startBroker({
      tcp: { plain: { bind: LOCAL } },
      ssl: {
        default: { bind: LOCAL, ssl_options: sslOptions() },
        mutual: { bind: LOCAL, ssl_options: sslOptions({ cacertfile: ca.cert, verify: 'verify_peer', fail_if_no_peer_cert: true }) },
        optional: { bind: LOCAL, ssl_options: sslOptions({ cacertfile: ca.cert, verify: 'verify_peer' }) }
      }
    })
  })
  after(async () => { await b.close() })

  it('mosquitto_sub and mosquitto_pub with --cafile exchange a QoS 1 message over TLS', async () => {
    const port = b.port('ssl:default')
    const subscribed = new Promise((resolve) => b.aedes.once('subscribe', resolve))
    const sub = startCommand('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '--cafile', ca.cert, '-q', '1', '-t', 'tls/demo', '-C', '1', '-W', '30'])
    await subscribed
    const pub = await mosquittoPub(port, 'tls/demo', 'over tls')
    assert.equal(pub.code, 0, pub.stderr)
    const got = await sub.done
    assert.equal(got.code, 0, got.stderr)
    assert.equal(got.stdout.trim(), 'over tls')
    const tls = b.connections.filter((c) => c.listener === 'ssl:default').map((c) => c.tls)
    assert.equal(tls.length, 2)
    for (const t of tls) {
      assert.match(t?.protocol ?? '', /^TLSv1\.[23]$/)
      assert.ok((t?.cipher ?? '') !== '')
      assert.equal(t?.peerCertificate, undefined, 'verify_none asks for no client certificate')
    }
    assert.equal(b.connections[0]?.kind, 'ssl')
    assert.equal(b.connections[0]?.peer.address, '127.0.0.1')
  })

  it('mutual TLS: a client certificate from the CA is accepted; its CN, DN and MD5 are exposed', async () => {
    const before = b.connections.length
    const pub = await mosquittoPub(b.port('ssl:mutual'), 'tls/mutual', 'with cert', ['--cert', client.cert, '--key', client.key])
    assert.equal(pub.code, 0, pub.stderr)
    const c = b.connections.slice(before).find((x) => x.listener === 'ssl:mutual')
    const cert = c?.tls?.peerCertificate
    assert.ok(cert !== undefined, 'a verified certificate is exposed')
    assert.equal(cert.cn, 'device-1')
    // the same DN and MD5 as openssl prints them
    assert.equal(`subject=${cert.subject}`, opensslX509(client.cert, '-subject', '-nameopt', 'RFC2253'))
    assert.equal(cert.subject, 'CN=device-1,O=Acme Devices\\, Inc.,C=SE')
    const md5 = opensslX509(client.cert, '-fingerprint', '-md5').split('=')[1]?.replaceAll(':', '').toLowerCase()
    assert.equal(cert.md5, md5)
    assert.equal(certIdentity(c?.tls, 'cn'), 'device-1')
    assert.equal(certIdentity(c?.tls, 'dn'), cert.subject)
    assert.equal(certIdentity(c?.tls, 'md5'), md5)
    assert.equal(certIdentity(c?.tls, 'disabled'), undefined)
  })

  it('mutual TLS with fail_if_no_peer_cert: no certificate, or one from another CA, is refused at the handshake', async () => {
    const before = b.connections.length
    const closedBefore = b.closed.length
    const without = await mosquittoPub(b.port('ssl:mutual'), 'tls/mutual', 'no cert')
    assert.notEqual(without.code, 0)
    const withRogue = await mosquittoPub(b.port('ssl:mutual'), 'tls/mutual', 'rogue', ['--cert', rogue.cert, '--key', rogue.key])
    assert.notEqual(withRogue.code, 0)
    assert.equal(b.connections.length, before, 'nothing reached MQTT')
    const reasons = b.closed.slice(closedBefore).map((e) => `${e.listener} ${e.reason}`)
    // OpenSSL's reason for the missing one; the verify error for the other CA's (which Node
    // itself reports as a reset)
    assert.deepEqual(reasons, ['ssl:mutual handshake_failed:peer_did_not_return_a_certificate', 'ssl:mutual handshake_failed:unable_to_verify_leaf_signature'])
  })

  it('verify_peer without fail_if_no_peer_cert: no certificate is allowed (reported absent), a bad one refused', async () => {
    const before = b.connections.length
    const without = await mosquittoPub(b.port('ssl:optional'), 'tls/optional', 'no cert')
    assert.equal(without.code, 0, without.stderr)
    const c = b.connections.slice(before).find((x) => x.listener === 'ssl:optional')
    assert.ok(c?.tls !== undefined)
    assert.equal(c.tls.peerCertificate, undefined)
    const closedBefore = b.closed.length
    const withRogue = await mosquittoPub(b.port('ssl:optional'), 'tls/optional', 'rogue', ['--cert', rogue.cert, '--key', rogue.key])
    assert.notEqual(withRogue.code, 0)
    assert.equal(b.connections.filter((x) => x.listener === 'ssl:optional').length, 1)
    assert.deepEqual(b.closed.slice(closedBefore).map((e) => e.reason), ['handshake_failed:unable_to_verify_leaf_signature'])
  })

  it('garbage on the TLS port closes that connection only', async () => {
    const ca0 = readFileSync(ca.cert)
    const sub = await connect(`mqtts://127.0.0.1:${b.port('ssl:default')}`, { ca: ca0 })
    const pub = await connect(`mqtt://127.0.0.1:${b.port('tcp:plain')}`)
    try {
      const got = collect(sub)
      await sub.subscribeAsync('tls/garbage', { qos: 1 })
      const closedBefore = b.closed.length
      const garbage = netConnect(b.port('ssl:default'), '127.0.0.1')
      garbage.on('error', () => {})
      garbage.resume()
      garbage.write('CONNECT this is not TLS\r\n\r\n\x10\x0c\x00\x04MQTT')
      await new Promise((resolve) => garbage.once('close', resolve))
      assert.match(b.closed.slice(closedBefore).map((e) => e.reason).join(), /^handshake_failed:[a-z0-9_]+$/)
      await pub.publishAsync('tls/garbage', 'still here', { qos: 1 })
      await until(() => got.length === 1, 10000, 'the TLS subscriber to get the message')
      assert.equal(got[0]?.payload, 'still here')
      assert.ok(sub.connected)
    } finally {
      await end(sub, pub)
    }
  })

  it('counts per listener and describes the listeners for /ready', () => {
    const stats = b.listeners.stats()
    assert.ok((stats['ssl:mutual']?.closed['handshake_failed:peer_did_not_return_a_certificate'] ?? 0) >= 1, JSON.stringify(stats['ssl:mutual']))
    assert.ok((stats['ssl:default']?.total ?? 0) >= 3)
    assert.ok((stats['ssl:default']?.handedOn ?? 0) >= 2)
    const described = b.listeners.describe()
    assert.deepEqual(described.map((d) => d.listener), ['tcp:plain', 'ssl:default', 'ssl:mutual', 'ssl:optional'])
    for (const d of described) {
      assert.equal(d.host, '127.0.0.1')
      assert.ok(d.port > 0)
      assert.equal(typeof d.current_connections, 'number')
    }
  })
})

describe('ssl listener: certificates reloaded without a restart', () => {
  let b: TestBroker
  let certfile = ''
  let keyfile = ''
  let second: CertFiles
  before(async () => {
    const live = mkdtempSync(join(dir, 'live-'))
    certfile = join(live, 'server.pem')
    keyfile = join(live, 'server.key')
    copyFileSync(server.cert, certfile)
    copyFileSync(server.key, keyfile)
    second = makeCert(dir, 'server-two', ca, '/O=Wharf Two/CN=localhost', true)
    b = await startBroker({ tcp: {}, ssl: { default: { bind: LOCAL, ssl_options: { certfile, keyfile } } } }, { reloadDebounceMs: 100 })
  })
  after(async () => { await b.close() })

  it('a certificate swapped on disk is used by the next connection; an existing one stays up', async () => {
    const url = `mqtts://127.0.0.1:${b.port('ssl:default')}`
    const options = { ca: readFileSync(ca.cert) }
    const first = await connect(url, options)
    try {
      assert.equal(serverOrganization(first), 'Wharf One')
      const reloaded = nextReload(b, 'reloaded')
      // the way a deployment swaps files: write beside, then rename over
      writeFileSync(`${keyfile}.new`, readFileSync(second.key))
      writeFileSync(`${certfile}.new`, readFileSync(second.cert))
      renameSync(`${keyfile}.new`, keyfile)
      renameSync(`${certfile}.new`, certfile)
      await reloaded
      const next = await connect(url, options)
      try {
        assert.equal(serverOrganization(next), 'Wharf Two')
        // the first connection still works, and still has the old certificate
        const got = collect(first)
        await first.subscribeAsync('reload/t', { qos: 1 })
        await next.publishAsync('reload/t', 'across the reload', { qos: 1 })
        await until(() => got.length === 1, 10000, 'the old connection to get the message')
        assert.equal(serverOrganization(first), 'Wharf One')
      } finally {
        await end(next)
      }
      assert.deepEqual(b.listeners.reloadCertificates(), [{ listener: 'ssl:default', outcome: 'unchanged' }])
    } finally {
      await end(first)
    }
  })

  it('a file that fails to load keeps the certificate in use and logs the key', async () => {
    const failed = nextReload(b, 'failed')
    writeFileSync(certfile, '-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n')
    const result = await failed
    assert.match(result.error ?? '', /^invalid configuration: listeners\.ssl\.default\.ssl_options\.certfile: /)
    const logged = b.logs.find((l) => l.msg === 'TLS certificate reload failed: keeping the certificate in use')
    assert.ok(logged !== undefined && String(logged.error).includes('listeners.ssl.default.ssl_options.certfile'))
    assert.equal(logged.level, 50)
    const c = await connect(`mqtts://127.0.0.1:${b.port('ssl:default')}`, { ca: readFileSync(ca.cert) })
    try {
      assert.equal(serverOrganization(c), 'Wharf Two')
    } finally {
      await end(c)
    }
  })
})

describe('ssl listener: a bad certificate at start is a configuration error naming the key', () => {
  async function openError (ssl: Record<string, unknown>): Promise<ConfigError> {
    try {
      const b = await startBroker({ tcp: {}, ssl: { default: { bind: LOCAL, ssl_options: ssl } } })
      await b.close()
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err))
      return err
    }
    assert.fail('expected a ConfigError')
  }

  it('names certfile, keyfile or cacertfile', async () => {
    const missing = await openError(sslOptions({ certfile: join(dir, 'nope.pem') }))
    assert.equal(missing.key, 'listeners.ssl.default.ssl_options.certfile')
    assert.match(missing.message, /no such file/)
    assert.equal((await openError(sslOptions({ certfile: server.key }))).key, 'listeners.ssl.default.ssl_options.certfile')
    const mismatch = await openError(sslOptions({ keyfile: client.key }))
    assert.equal(mismatch.key, 'listeners.ssl.default.ssl_options.keyfile')
    assert.match(mismatch.message, /not the key of the certificate/)
    assert.equal((await openError(sslOptions({ cacertfile: server.key, verify: 'verify_peer' }))).key, 'listeners.ssl.default.ssl_options.cacertfile')
    assert.equal((await openError(sslOptions({ ciphers: ['NOT-A-CIPHER'] }))).key, 'listeners.ssl.default.ssl_options.ciphers')
  })

  it('checkCertificates finds the same before anything opens (the CLI\'s exit 2); disabled listeners are not read', () => {
    const config = (wss: Record<string, unknown>) => listenersSchema.parse({ tcp: {}, ssl: { ok: { bind: LOCAL, ssl_options: sslOptions() } }, wss: { broken: { bind: LOCAL, ...wss, ssl_options: sslOptions({ keyfile: client.key }) } } })
    assert.throws(() => checkCertificates(config({})), (err: unknown) => err instanceof ConfigError && err.key === 'listeners.wss.broken.ssl_options.keyfile')
    checkCertificates(config({ enable: false }))
  })

  it('closes the listeners it had opened', async () => {
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const address = probe.address()
    assert.ok(typeof address === 'object' && address !== null)
    await new Promise((resolve) => probe.close(resolve))
    const bind = `127.0.0.1:${address.port}`
    await assert.rejects(startBroker({ tcp: { plain: { bind } }, ssl: { default: { bind: LOCAL, ssl_options: sslOptions({ keyfile: join(dir, 'nope.key') }) } } }), ConfigError)
    const again = await startBroker({ tcp: { plain: { bind } } })
    await again.close()
  })
})
