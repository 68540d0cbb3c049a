import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import kafkajs from 'kafkajs'
import { kafkaPom, usesLog4j2 } from '../../src/local-kafka/kafka-jars.js'
import { scramFormatArgs, secureListenerNames, securityProperties } from '../../src/local-kafka/security.js'
import { log4j2Config, nodePorts, serverProperties } from '../../src/local-kafka/server-properties.js'
import { kafkaStartProblem } from '../../src/node/kafka-start-errors.js'

// kafkajs is CommonJS: its error classes are not named exports to Node's ESM loader
const { KafkaJSConnectionError, KafkaJSError, KafkaJSNumberOfRetriesExceeded, KafkaJSSASLAuthenticationError } = kafkajs
// its typings declare no constructor argument; the class needs the message
const SaslError = KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error

describe('local Kafka: versions and logging', () => {
  it('4.x logs through log4j2 with the slf4j 1.7 binding, 3.x through reload4j', () => {
    assert.deepEqual(['3.9.1', '4.0.0', '4.4.0', '10.1.0', 'x'].map(usesLog4j2), [false, true, true, true, false])
    const pom4 = kafkaPom('4.4.0')
    for (const a of ['log4j-api', 'log4j-core', 'log4j-slf4j-impl']) assert.match(pom4, new RegExp(`<artifactId>${a}</artifactId><version>2\\.25\\.5</version>`))
    assert.doesNotMatch(pom4, /reload4j/)
    assert.match(kafkaPom('3.9.1'), /slf4j-reload4j/)
    assert.doesNotMatch(kafkaPom('3.9.1'), /log4j-slf4j-impl/)
  })

  it('log4j2.xml: INFO to a rolling file, WARN to stdout, the path escaped', () => {
    const xml = log4j2Config('/tmp/a&b/server.log')
    assert.match(xml, /fileName="\/tmp\/a&amp;b\/server\.log" filePattern="\/tmp\/a&amp;b\/server\.log\.%i"/)
    assert.match(xml, /<Root level="INFO">\s*<AppenderRef ref="file"\/>\s*<AppenderRef ref="stdout" level="WARN"\/>/)
    assert.match(xml, /<SizeBasedTriggeringPolicy size="10 MB"\/>/)
  })
})

describe('local Kafka: secured listeners', () => {
  const users = [{ name: 'edge', password: 'pw-1' }]

  it('adds SASL_PLAINTEXT, SSL and SASL_SSL listeners next to PLAINTEXT and CONTROLLER', () => {
    assert.deepEqual(secureListenerNames(undefined), [])
    assert.deepEqual(secureListenerNames({ sasl: { users } }), ['SASL_PLAINTEXT'])
    assert.deepEqual(secureListenerNames({ tls: { key: 'k', certChain: 'c' } }), ['SSL'])
    assert.deepEqual(secureListenerNames({ sasl: { users }, tls: { key: 'k', certChain: 'c' } }), ['SASL_PLAINTEXT', 'SSL', 'SASL_SSL'])
    const text = serverProperties({ id: 1, nodes: nodePorts(9092, 1), dataDir: '/d', listeners: [{ name: 'SASL_SSL', port: 9500 }], extra: [['sasl.enabled.mechanisms', 'PLAIN']] })
    const props = Object.fromEntries(text.split('\n').filter((l) => l.includes('=') && !l.startsWith('#')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
    assert.equal(props.listeners, 'PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9500,CONTROLLER://127.0.0.1:9093')
    assert.equal(props['advertised.listeners'], 'PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9500')
    assert.equal(props['listener.security.protocol.map'], 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL')
    assert.equal(props['inter.broker.listener.name'], 'PLAINTEXT')
    assert.equal(props['sasl.enabled.mechanisms'], 'PLAIN')
  })

  it('creates every user under both SCRAM mechanisms at format time, and refuses what it cannot quote', () => {
    assert.deepEqual(scramFormatArgs({ sasl: { users } }), [
      '--add-scram', 'SCRAM-SHA-256=[name=edge,password=pw-1]',
      '--add-scram', 'SCRAM-SHA-512=[name=edge,password=pw-1]'
    ])
    assert.deepEqual(scramFormatArgs(undefined), [])
    assert.throws(() => scramFormatArgs({ sasl: { users: [{ name: 'a', password: 'has space' }] } }), /password of SCRAM user a/)
    assert.throws(() => scramFormatArgs({ sasl: { users: [{ name: 'a,b', password: 'x' }] } }), /SCRAM user name "a,b"/)
  })

  it('writes the PEM key store readable by its owner only; client certificates only on the SSL listener', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-unit-tls-'))
    try {
      const props = Object.fromEntries(await securityProperties({ sasl: { users }, tls: { key: 'KEY\n', certChain: 'CERT\n', clientCa: 'CA\n' } }, join(dir, 'tls')))
      assert.equal(props['ssl.keystore.type'], 'PEM')
      assert.equal(await readFile(props['ssl.keystore.location'] as string, 'utf8'), 'KEY\nCERT\n')
      assert.equal((await stat(props['ssl.keystore.location'] as string)).mode & 0o777, 0o600)
      assert.equal(props['listener.name.ssl.ssl.client.auth'], 'required')
      assert.equal(props['ssl.client.auth'], undefined)
      assert.equal(props['sasl.enabled.mechanisms'], 'SCRAM-SHA-256,SCRAM-SHA-512,PLAIN')
      for (const listener of ['sasl_plaintext', 'sasl_ssl']) {
        assert.equal(props[`listener.name.${listener}.scram-sha-512.sasl.jaas.config`], 'org.apache.kafka.common.security.scram.ScramLoginModule required;')
        assert.equal(props[`listener.name.${listener}.plain.sasl.jaas.config`], 'org.apache.kafka.common.security.plain.PlainLoginModule required user_edge="pw-1";')
      }
      assert.equal(props['listener.name.ssl.plain.sasl.jaas.config'], undefined)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('a node that cannot use Kafka at start says which keys to check', () => {
  it('refused SASL credentials -> kafka.sasl, with no password in the message', () => {
    const problem = kafkaStartProblem(new SaslError('SASL SCRAM SHA256 authentication failed: Authentication failed due to invalid credentials'))
    assert.equal(problem?.keys, 'kafka.sasl')
    assert.match(problem?.message ?? '', /^Kafka refused the SASL credentials: check kafka\.sasl\.mechanism/)
  })

  it('a certificate that does not verify, behind kafkajs retries -> kafka.tls with the code', () => {
    const cause = new KafkaJSConnectionError('Connection error: unable to verify the first certificate', { broker: '127.0.0.1:9093', code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
    const problem = kafkaStartProblem(new KafkaJSNumberOfRetriesExceeded(cause, { retryCount: 8, retryTime: 5000 }))
    assert.equal(problem?.keys, 'kafka.tls')
    assert.match(problem?.message ?? '', /^TLS to Kafka failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/)
    assert.equal(kafkaStartProblem(new KafkaJSConnectionError('x', { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }))?.keys, 'kafka.tls')
  })

  it('Kafka down or anything else -> no hint (the node says "Kafka not reachable yet")', () => {
    assert.equal(kafkaStartProblem(new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED', { code: 'ECONNREFUSED' }), { retryCount: 8, retryTime: 5000 })), undefined)
    assert.equal(kafkaStartProblem(new KafkaJSError('The coordinator is loading')), undefined)
    assert.equal(kafkaStartProblem('text'), undefined)
  })
})
