import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { IConnackPacket, Packet } from 'mqtt-packet'
import { clientProof, type ScramAlgorithm } from '../../src/auth/scram/scram-math.js'
import { RawMqtt } from '../support/raw-mqtt.js'
import { wharf } from '../support/wharf-cli.js'
import { testBrokers, topicsEnv, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/** The reason code of a received packet (absent: 0). */
const codeOf = (p: Packet): number => (p as Packet & { reasonCode?: number }).reasonCode ?? 0

/*
 * MQTT 5 enhanced authentication end to end: a node with `authentication.scram` enabled, users
 * added with `wharf users add`, and a raw MQTT 5 client (mqtt-packet over TCP) doing the client
 * side of SCRAM-SHA-256/512 with AUTH packets.
 */
describe('MQTT 5 enhanced authentication (SCRAM)', () => {
  const topics = uniqueTopics('v5auth')
  const id = randomUUID().slice(0, 6)
  const dir = mkdtempSync(join(tmpdir(), 'wharf-v5auth-'))
  const aclFile = join(dir, 'acl.yaml')
  const scramEnv = { WHARF_AUTHENTICATION__SCRAM__ENABLE: 'true' }
  const cliEnv = { WHARF_KAFKA__BROKERS: testBrokers().join(','), ...topicsEnv(topics) }
  /** every secret of the test: none may appear in the node's log */
  const secrets: string[] = []
  const secret = (s: string): string => { secrets.push(s); return s }
  const alice = secret(`alice-${randomUUID()}`)
  const legacy = secret(`legacy-${randomUUID()}`)
  let node: WharfProcess
  const open: RawMqtt[] = []

  before(async () => {
    writeFileSync(aclFile, [
      '- permission: allow',
      '  action: all',
      '  topics: ["users/${username}/#"]'
    ].join('\n') + '\n')
    const config = join(dir, 'wharf.yaml')
    writeFileSync(config, [
      'allow_anonymous: false',
      'log:',
      '  level: debug',
      'authentication:',
      '  chain: [built_in_database]',
      'authorization:',
      `  file: ${aclFile}`,
      '  no_match: deny',
      'flapping_detect:',
      '  enable: false'
    ].join('\n') + '\n')
    await wharf(['users', 'add', `alice-${id}`, '--password-stdin'], { env: { ...cliEnv, ...scramEnv }, input: `${alice}\n` })
    // added by a machine without SCRAM enabled: a password hash only
    await wharf(['users', 'add', `legacy-${id}`, '--password-stdin'], { env: cliEnv, input: `${legacy}\n` })
    node = await WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `v5auth-${id}`, env: scramEnv, args: ['--config', config] })
  })

  after(async () => {
    for (const c of open) c.drop()
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Opens a v5 connection and sends a CONNECT with SCRAM's client-first-message. */
  async function scramConnect (method: string, username: string, clientId: string): Promise<{ client: RawMqtt; bare: string }> {
    const client = await RawMqtt.open(node.mqttPort, 5)
    open.push(client)
    const bare = `n=${username},r=${randomBytes(12).toString('base64')}`
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 60, properties: { authenticationMethod: method, authenticationData: Buffer.from(`n,,${bare}`) } })
    return { client, bare }
  }

  /** The whole SCRAM client side; the CONNACK and what the server-final-message should be. */
  async function scramLogin (alg: ScramAlgorithm, username: string, password: string, clientId = `c-${randomUUID().slice(0, 8)}`): Promise<{ client: RawMqtt; connack: IConnackPacket; expected: string; proof: string }> {
    const method = alg === 'sha256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512'
    const { client, bare } = await scramConnect(method, username, clientId)
    const auth = await client.next(p => p.cmd === 'auth' || p.cmd === 'connack')
    assert.equal(auth.cmd, 'auth', JSON.stringify(auth))
    assert.equal(auth.reasonCode, 0x18, 'continue authentication')
    assert.equal(auth.properties?.authenticationMethod, method)
    const serverFirst = (auth.properties?.authenticationData as Buffer).toString()
    const m = /^r=([^,]+),s=([^,]+),i=(\d+)$/.exec(serverFirst) ?? assert.fail(serverFirst)
    const withoutProof = `c=biws,r=${m[1] as string}`
    const { proof, serverSignature } = await clientProof(alg, Buffer.from(password), Buffer.from(m[2] as string, 'base64'), Number(m[3]), `${bare},${serverFirst},${withoutProof}`)
    secrets.push(proof.toString('base64'))
    client.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: Buffer.from(`${withoutProof},p=${proof.toString('base64')}`) } })
    const connack = await client.next(p => p.cmd === 'connack') as IConnackPacket
    return { client, connack, expected: `v=${serverSignature.toString('base64')}`, proof: proof.toString('base64') }
  }

  it('SCRAM-SHA-256 and SCRAM-SHA-512 log in; the CONNACK carries the server signature; publish and subscribe go round', async () => {
    for (const alg of ['sha256', 'sha512'] as const) {
      const { client, connack, expected } = await scramLogin(alg, `alice-${id}`, alice)
      assert.equal(connack.reasonCode, 0, JSON.stringify(connack))
      assert.equal(connack.properties?.authenticationMethod, alg === 'sha256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512')
      assert.equal((connack.properties?.authenticationData as Buffer).toString(), expected, 'the client can verify the server')
      const topic = `users/alice-${id}/${alg}`
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] })
      const suback = await client.next(p => p.cmd === 'suback')
      assert.deepEqual((suback as Packet & { granted: number[] }).granted, [1])
      client.send({ cmd: 'publish', messageId: 2, topic, payload: Buffer.from(`hello-${alg}`), qos: 1, retain: false, dup: false })
      const puback = await client.next(p => p.cmd === 'puback')
      assert.equal(codeOf(puback), 0)
      const got = await client.next(p => p.cmd === 'publish')
      assert.equal((got as Packet & { payload: Buffer }).payload.toString(), `hello-${alg}`)
    }
  })

  it('the ACL applies to the SCRAM user name: another user\'s topic is refused', async () => {
    const { client, connack } = await scramLogin('sha256', `alice-${id}`, alice)
    assert.equal(connack.reasonCode, 0)
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'users/bob/#', qos: 0 }, { topic: `users/alice-${id}/#`, qos: 0 }] })
    const suback = await client.next(p => p.cmd === 'suback')
    assert.deepEqual((suback as Packet & { granted: number[] }).granted, [0x87, 0])
    client.send({ cmd: 'publish', messageId: 3, topic: 'users/bob/x', payload: Buffer.from('x'), qos: 1, retain: false, dup: false })
    const puback = await client.next(p => p.cmd === 'puback')
    assert.equal(codeOf(puback), 0x87)
  })

  it('a wrong password, an unknown user and a user without SCRAM credentials get CONNACK 0x86', async () => {
    for (const [user, password] of [[`alice-${id}`, secret(`wrong-${randomUUID()}`)], [`nobody-${id}`, alice], [`legacy-${id}`, legacy]] as const) {
      const { connack } = await scramLogin('sha256', user, password)
      assert.equal(connack.reasonCode, 0x86, user)
      assert.equal(connack.properties?.authenticationData, undefined)
    }
    // the legacy user still logs in with its password
    const { client } = await RawMqtt.connect(node.mqttPort, `legacy-pw-${id}`, true, 5).catch(() => ({ client: undefined }))
    assert.equal(client, undefined, 'no password: refused')
    const c = await RawMqtt.open(node.mqttPort, 5)
    open.push(c)
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `legacy-${id}`, clean: true, keepalive: 60, username: `legacy-${id}`, password: Buffer.from(legacy) })
    assert.equal(codeOf(await c.next(p => p.cmd === 'connack')), 0, 'password login unaffected')
  })

  it('an unknown method gets CONNACK 0x8C; a packet other than AUTH during the exchange, CONNACK 0x82', async () => {
    const { client } = await scramConnect('SCRAM-SHA-1', `alice-${id}`, `m-${id}`)
    assert.equal(codeOf(await client.next(p => p.cmd === 'connack')), 0x8C)
    const second = await scramConnect('SCRAM-SHA-256', `alice-${id}`, `p-${id}`)
    assert.equal(codeOf(await second.client.next(p => p.cmd === 'auth')), 0x18)
    second.client.send({ cmd: 'pingreq' })
    assert.equal(codeOf(await second.client.next(p => p.cmd === 'connack')), 0x82)
    await second.client.closed
  })

  it('an AUTH after the CONNACK: re-authentication is refused with DISCONNECT 0x83, any other AUTH with 0x82', async () => {
    for (const [code, expected] of [[0x19, 0x83], [0x18, 0x82]] as const) {
      const { client, connack } = await scramLogin('sha256', `alice-${id}`, alice)
      assert.equal(connack.reasonCode, 0)
      client.send({ cmd: 'auth', reasonCode: code, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from('n,,n=x,r=y') } })
      const disconnect = await client.next(p => p.cmd === 'disconnect')
      assert.equal(codeOf(disconnect), expected)
      await client.closed
    }
  })

  it('no password, proof or key appears in the node\'s log', () => {
    const all = node.lines
    assert.ok(all.some(l => l.includes('login refused')), 'the refusals were logged')
    for (const s of secrets) assert.ok(!all.some(l => l.includes(s)), 'a secret in a log line')
  })
})
