import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findFreePort } from '../../src/local-kafka/ports.js'
import { startPrivateLocalKafka, type PrivateLocalKafka } from '../support/kafka.js'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { makeTestCertificates, type TestCertificates } from '../support/tls-certs.js'
import { uniqueTopics, WharfProcess } from '../support/wharf-process.js'

// One private Kafka with three secured listeners besides PLAINTEXT: SASL_PLAINTEXT (SCRAM-SHA-256,
// SCRAM-SHA-512, PLAIN), SSL with client certificates (mutual TLS) and SASL_SSL. Each edge is
// configured only through WHARF_KAFKA__SASL__* / WHARF_KAFKA__TLS__* and must carry a QoS 1
// message from an MQTT publisher to an MQTT subscriber through Kafka.
const USER = 'wharf-edge'
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`

describe('Kafka security: SASL/SCRAM and TLS to Kafka', () => {
  let dir: string
  let certs: TestCertificates
  let kafka: PrivateLocalKafka
  const edges: WharfProcess[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-test-kafka-security-'))
    certs = await makeTestCertificates(dir)
    kafka = await startPrivateLocalKafka({
      security: {
        sasl: { users: [{ name: USER, password: PASSWORD }] },
        tls: { key: certs.serverKey, certChain: certs.serverCert, clientCa: certs.ca }
      }
    })
  })
  after(async () => {
    await Promise.all(edges.map(async (e) => { await e.stop() }))
    await kafka?.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  async function edge (brokers: string[], env: Record<string, string>, waitReady = true): Promise<WharfProcess> {
    const wharf = await WharfProcess.start({ brokers, topics: uniqueTopics('sec'), env, waitReady })
    edges.push(wharf)
    return wharf
  }

  async function roundTrip (wharf: WharfProcess, label: string): Promise<void> {
    const sub = await connect(wharf.url, { clientId: `${label}-sub` })
    const pub = await connect(wharf.url, { clientId: `${label}-pub` })
    try {
      const got = collect(sub)
      await sub.subscribeAsync(`sec/${label}/#`, { qos: 1 })
      await pub.publishAsync(`sec/${label}/m`, `hello over ${label}`, { qos: 1 })
      await until(() => got.length === 1, 15000, `the message over ${label}`)
      assert.deepEqual(got, [{ topic: `sec/${label}/m`, payload: `hello over ${label}`, qos: 1, retain: false }])
    } finally {
      await end(sub, pub)
    }
  }

  const scram = (mechanism: string, password = PASSWORD): Record<string, string> => ({
    WHARF_KAFKA__SASL__MECHANISM: mechanism,
    WHARF_KAFKA__SASL__USERNAME: USER,
    WHARF_KAFKA__SASL__PASSWORD: password
  })
  const tls = (clientCert: boolean): Record<string, string> => ({
    WHARF_KAFKA__TLS__ENABLED: 'true',
    WHARF_KAFKA__TLS__CA_FILE: certs.caFile,
    ...(clientCert ? { WHARF_KAFKA__TLS__CERT_FILE: certs.clientCertFile, WHARF_KAFKA__TLS__KEY_FILE: certs.clientKeyFile } : {})
  })

  it('SCRAM-SHA-256 over SASL_PLAINTEXT', async () => {
    await roundTrip(await edge(kafka.bootstrap('SASL_PLAINTEXT'), scram('scram-sha-256')), 'scram256')
  })

  it('PLAIN over SASL_PLAINTEXT', async () => {
    await roundTrip(await edge(kafka.bootstrap('SASL_PLAINTEXT'), scram('plain')), 'plain')
  })

  it('TLS with a client certificate (the SSL listener requires one)', async () => {
    await roundTrip(await edge(kafka.bootstrap('SSL'), tls(true)), 'mtls')
  })

  it('SCRAM-SHA-512 over TLS (SASL_SSL)', async () => {
    await roundTrip(await edge(kafka.bootstrap('SASL_SSL'), { ...scram('scram-sha-512'), ...tls(false) }), 'scram512tls')
  })

  /**
   * Starts an edge that cannot use Kafka; returns it once it has logged the error naming `keys`
   * (`times` times: it keeps trying, an operator may fix the user or the certificate in Kafka).
   * A TLS failure is logged after kafkajs' own connection retries (~25 s), a refused password at once.
   */
  async function refusedEdge (brokers: string[], env: Record<string, string>, keys: string, times: number): Promise<{ wharf: WharfProcess; entry: { level: number; msg: string; keys: string }; httpPort: number }> {
    const httpPort = await findFreePort()
    const wharf = await edge(brokers, { ...env, WHARF_HTTP__PORT: String(httpPort) }, false)
    const line = await wharf.waitForLog(`"keys":"${keys}"`, 60000)
    await until(() => wharf.lines.filter((l) => l.includes(`"keys":"${keys}"`)).length >= times, 30000, `attempt ${times}`)
    return { wharf, entry: JSON.parse(line) as { level: number; msg: string; keys: string }, httpPort }
  }

  async function assertNotReady (httpPort: number, wharf: WharfProcess): Promise<void> {
    const ready = await fetch(`http://127.0.0.1:${httpPort}/ready`)
    assert.equal(ready.status, 503)
    assert.equal(((await ready.json()) as { phase: string }).phase, 'connecting to Kafka')
    assert.equal(wharf.proc.exitCode, null, 'the node is still running')
  }

  it('a wrong password: the node stays not ready and says kafka.sasl was refused, without the password', async () => {
    const wrong = `wrong-${randomBytes(12).toString('hex')}`
    const { wharf, entry, httpPort } = await refusedEdge(kafka.bootstrap('SASL_PLAINTEXT'), scram('scram-sha-256', wrong), 'kafka.sasl', 2)
    assert.equal(entry.level, 50, 'logged as an error')
    assert.match(entry.msg, /^Kafka refused the SASL credentials: check kafka\.sasl\.mechanism, kafka\.sasl\.username and kafka\.sasl\.password/)
    await assertNotReady(httpPort, wharf)
    const leaks = wharf.lines.filter((l) => l.includes(wrong) || l.includes(PASSWORD))
    assert.deepEqual(leaks, [], 'no password in the log')
  })

  it("TLS without the broker's CA: the node stays not ready and says kafka.tls failed", async () => {
    const env = { WHARF_KAFKA__TLS__ENABLED: 'true', ...scram('scram-sha-512') }
    const { wharf, entry, httpPort } = await refusedEdge(kafka.bootstrap('SASL_SSL'), env, 'kafka.tls', 1)
    assert.equal(entry.level, 50, 'logged as an error')
    assert.match(entry.msg, /^TLS to Kafka failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): check kafka\.tls\.ca_file/)
    await assertNotReady(httpPort, wharf)
  })
})
