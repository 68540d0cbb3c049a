import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { MqttClient } from 'mqtt'
import { collect, end, until } from '../support/mqtt-client.js'
import { login, loginCode, mosquitto, mosquittoSubscriber, rawConnack, untilSubscribed, type MosquittoSubscriber } from '../support/mqtt-login.js'
import { runWharf, wharf, wharfOnTerminal } from '../support/wharf-cli.js'
import { testBrokers, topicsEnv, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

const run = promisify(execFile)

/*
 * Authentication and authorization end to end: three edges on one Kafka, built-in users managed
 * with the `wharf users` command, an ACL file, real clients (mosquitto_pub/sub, mqtt.js, raw
 * CONNECT bytes). flapping_detect is off in this cluster: polling a login until a user exists is
 * a run of failed logins from 127.0.0.1 that would ban the address (auth-jwt-bans.test.ts tests
 * the bans on a cluster of its own).
 */
describe('authentication and authorization on a cluster of three edges', () => {
  const topics = uniqueTopics('auth')
  const id = randomUUID().slice(0, 6)
  const pepper = `pepper-${randomUUID()}`
  const dir = mkdtempSync(join(tmpdir(), 'wharf-auth-'))
  const aclFile = join(dir, 'acl.yaml')
  const cliEnv = { WHARF_KAFKA__BROKERS: testBrokers().join(','), ...topicsEnv(topics), WHARF_AUTHENTICATION__PASSWORD_HASH_SALT: pepper }
  /** every password used here: none may appear in a log line or in the users topic */
  const passwords: string[] = []
  const pw = (label: string): string => {
    const p = `${label}-${randomUUID()}`
    passwords.push(p)
    return p
  }
  const users = { ops: pw('ops'), alice: pw('alice'), bob: pw('bob') }
  const rules = (extra: string): string => [
    '- permission: deny',
    '  action: subscribe',
    '  topics: ["board/secret"]',
    '- permission: allow',
    '  action: subscribe',
    '  topics: ["board/#"]',
    '- permission: allow',
    '  action: all',
    '  topics: ["users/${username}/#"]',
    extra
  ].join('\n') + '\n'
  let nodes: WharfProcess[] = []
  const node = (i: number): WharfProcess => nodes[i] as WharfProcess
  const clients: MqttClient[] = []
  const as = async (i: number, username: string, opts: { clientId?: string; clean?: boolean } = {}): Promise<MqttClient> => {
    const r = await login(node(i).mqttPort, { username, password: users[username as keyof typeof users], ...opts })
    assert.equal(r.code, 0, `${username} logs in on node ${i + 1}`)
    clients.push(r.client as MqttClient)
    return r.client as MqttClient
  }
  /** every payload in the cluster's data topic now (kcat, a plain Kafka consumer) */
  const kafkaPayloads = async (): Promise<string[]> =>
    (await run('kcat', ['-b', testBrokers().join(','), '-t', topics.messages, '-C', '-e', '-q', '-f', '%s\n'])).stdout.split('\n').filter(l => l !== '')

  before(async () => {
    writeFileSync(aclFile, rules(''))
    const config = (denyAction: string): string => {
      const file = join(dir, `wharf-${denyAction}.yaml`)
      writeFileSync(file, [
        'allow_anonymous: false',
        'authentication:',
        '  chain: [built_in_database]',
        'authorization:',
        `  file: ${aclFile}`,
        '  no_match: deny',
        `  deny_action: ${denyAction}`,
        'flapping_detect:',
        '  enable: false'
      ].join('\n') + '\n')
      return file
    }
    // users that exist before the nodes start are in the view before /ready
    await wharf(['users', 'add', 'ops', '--superuser', '--password-stdin'], { env: cliEnv, input: `${users.ops}\n` })
    await wharf(['users', 'add', 'alice', '--password-stdin'], { env: cliEnv, input: `${users.alice}\n` })
    await wharf(['users', 'add', 'bob', '--password', users.bob], { env: cliEnv })
    const env = { WHARF_AUTHENTICATION__PASSWORD_HASH_SALT: pepper }
    const start = (i: number, denyAction: string): Promise<WharfProcess> =>
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `auth${i}-${id}`, env, args: ['--config', config(denyAction)] })
    nodes = await Promise.all([start(1, 'ignore'), start(2, 'ignore'), start(3, 'disconnect')])
  })

  after(async () => {
    await Promise.all(clients.map(c => c.endAsync(true)))
    await Promise.all(nodes.map(n => n.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('refuses anonymous clients when allow_anonymous is false (CONNACK 5), on every node', async () => {
    for (const n of nodes) {
      assert.equal(await loginCode(n.mqttPort), 5)
      assert.equal((await mosquitto('mosquitto_pub', ['-p', String(n.mqttPort), '-t', 'users/x', '-m', 'x'])).code, 5)
    }
    const ready = await (await fetch(`http://127.0.0.1:${node(0).httpPort}/ready`)).json() as { users: number; banned: number }
    assert.equal(ready.users, 3, '/ready counts the users')
    assert.equal(ready.banned, 0)
  })

  it('a user added with `wharf users add` logs in on every node within a second; a wrong password gets CONNACK 4', async () => {
    const carol = `carol-${id}`
    const password = pw('carol')
    assert.equal(await loginCode(node(1).mqttPort, { username: carol, password }), 4, 'not a user yet')
    const invoked = Date.now()
    await wharf(['users', 'add', carol, '--password-stdin'], { env: cliEnv, input: `${password}\n` })
    const added = Date.now()
    // poll the login on node 2 (no sleep between attempts)
    let attempts = 0
    while (await loginCode(node(1).mqttPort, { username: carol, password }) !== 0) attempts++
    const ms = Date.now() - added
    console.log(`# login accepted on node 2 ${ms} ms after wharf users add exited (${attempts} refused attempts before; the command itself took ${added - invoked} ms)`)
    assert.ok(ms < 1000, `within a second (${ms} ms)`)
    for (const n of nodes) {
      assert.equal(await loginCode(n.mqttPort, { username: carol, password }), 0)
      assert.equal(await loginCode(n.mqttPort, { username: carol, password: `${password}x` }), 4)
      assert.equal(await loginCode(n.mqttPort, { username: carol }), 4, 'a user name without a password')
      const ok = await mosquitto('mosquitto_pub', ['-p', String(n.mqttPort), '-u', carol, '-P', password, '-t', `users/${carol}/hello`, '-m', 'hi', '-q', '1'])
      assert.equal(ok.code, 0, ok.stderr)
      const bad = await mosquitto('mosquitto_pub', ['-p', String(n.mqttPort), '-u', carol, '-P', 'guess', '-t', `users/${carol}/hello`, '-m', 'hi'])
      assert.equal(bad.code, 4)
      assert.match(bad.stderr, /bad user name or password/)
    }
  })

  it('`wharf users add` on a terminal asks for the password twice without echoing it', async () => {
    const name = `tty-${id}`
    const password = pw('tty')
    const r = await wharfOnTerminal(['users', 'add', name], [['Password: ', password], ['Password again: ', password]], cliEnv)
    assert.equal(r.code, 0, r.screen)
    assert.match(r.screen, /Password: [\s\S]*Password again: [\s\S]*added user/)
    assert.ok(!r.screen.includes(password), 'the password is not echoed')
    while (await loginCode(node(0).mqttPort, { username: name, password }) !== 0) { /* until the view has it */ }
    const mismatch = await wharfOnTerminal(['users', 'add', `${name}-2`], [['Password: ', password], ['Password again: ', `${password}x`]], cliEnv)
    assert.equal(mismatch.code, 1)
    assert.match(mismatch.screen, /the passwords differ/)
  })

  it('users of a file made by mosquitto_passwd log in with their passwords after `wharf users import`', async () => {
    const file = join(dir, 'passwd')
    const dave = pw('dave pw')
    const erin = pw('erin')
    await run('mosquitto_passwd', ['-c', '-b', file, `dave-${id}`, dave])
    await run('mosquitto_passwd', ['-H', 'sha512', '-b', file, `erin-${id}`, erin])
    assert.match(await wharf(['users', 'import', '--mosquitto-passwd', file], { env: cliEnv }), /imported 2 users/)
    for (const [name, password] of [[`dave-${id}`, dave], [`erin-${id}`, erin]] as const) {
      while (await loginCode(node(2).mqttPort, { username: name, password }) !== 0) { /* until the view has it */ }
      const r = await mosquitto('mosquitto_pub', ['-p', String(node(0).mqttPort), '-u', name, '-P', password, '-t', `users/${name}/x`, '-m', 'x'])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(await loginCode(node(1).mqttPort, { username: name, password: 'wrong' }), 4)
    }
    assert.match(await wharf(['users', 'list'], { env: cliEnv }), new RegExp(`erin-${id}\\s+no\\s+sha512`))
  })

  it('`wharf users delete` keeps new logins out on every node', async () => {
    const frank = `frank-${id}`
    const password = pw('frank')
    await wharf(['users', 'add', frank, '--password', password], { env: cliEnv })
    for (const n of nodes) while (await loginCode(n.mqttPort, { username: frank, password }) !== 0) { /* until every view has it */ }
    await wharf(['users', 'delete', frank], { env: cliEnv })
    const deleted = Date.now()
    for (const n of nodes) while (await loginCode(n.mqttPort, { username: frank, password }) !== 4) { /* until every view dropped it */ }
    console.log(`# deleted user refused on all three nodes ${Date.now() - deleted} ms after wharf users delete exited`)
    assert.equal((await runWharf(['users', 'delete', frank], { env: cliEnv })).code, 1, 'deleting again says there is no such user')
  })

  it('each password_hash_algorithm round-trips: users added under it log in on a node', async () => {
    const algorithms: Array<[string, Record<string, string>]> = [
      ['pbkdf2-sha256', {}],
      ['pbkdf2-sha512', { WHARF_AUTHENTICATION__PASSWORD_HASH_ALGORITHM__MAC_FUN: 'sha512', WHARF_AUTHENTICATION__PASSWORD_HASH_ALGORITHM__ITERATIONS: '1000' }],
      ['bcrypt', { WHARF_AUTHENTICATION__PASSWORD_HASH_ALGORITHM__NAME: 'bcrypt', WHARF_AUTHENTICATION__PASSWORD_HASH_ALGORITHM__SALT_ROUNDS: '4' }],
      ['sha256', { WHARF_AUTHENTICATION__PASSWORD_HASH_ALGORITHM__NAME: 'sha256' }],
      ['sha512', { WHARF_AUTHENTICATION__PASSWORD_HASH_ALGORITHM__NAME: 'sha512', WHARF_AUTHENTICATION__PASSWORD_HASH_ALGORITHM__SALT_POSITION: 'suffix' }],
      ['plain', { WHARF_AUTHENTICATION__PASSWORD_HASH_ALGORITHM__NAME: 'plain' }]
    ]
    const added: Array<[string, string, string]> = []
    for (const [label, env] of algorithms) {
      const name = `hash-${label}-${id}`
      // a plain password is in the users topic as it is: not one of the secrets checked there
      const password = label === 'plain' ? `plain-${randomUUID()}` : pw(label)
      const r = await runWharf(['users', 'add', name, '--password-stdin'], { env: { ...cliEnv, ...env }, input: password })
      assert.equal(r.code, 0, r.stderr)
      if (label === 'plain') assert.match(r.stderr, /plain: the password is stored as it is/)
      added.push([label, name, password])
    }
    for (const [label, name, password] of added) {
      while (await loginCode(node(1).mqttPort, { username: name, password }) !== 0) { /* until the view has it */ }
      assert.equal(await loginCode(node(2).mqttPort, { username: name, password: `${password}!` }), 4, `${label}: a wrong password`)
    }
    const list = await wharf(['users', 'list'], { env: cliEnv })
    for (const alg of ['pbkdf2-sha256', 'pbkdf2-sha512', 'bcrypt', 'sha256', 'sha512', 'plain']) assert.match(list, new RegExp(`hash-${alg}-${id}\\s+no\\s+${alg}`))
    // hashed with another pepper than the nodes': refused (and the node says why)
    const other = `other-pepper-${id}`
    const password = pw('other')
    await wharf(['users', 'add', other, '--password', password], { env: { ...cliEnv, WHARF_AUTHENTICATION__PASSWORD_HASH_SALT: 'not the nodes pepper' } })
    let code = 0
    while ((code = await loginCode(node(0).mqttPort, { username: other, password })) === 4 && !node(0).lines.some(l => l.includes(other) && l.includes('password_hash_salt has changed'))) { /* until the view has it */ }
    assert.equal(code, 4)
  })

  it('the users topic, read with a plain Kafka consumer, holds no password', async () => {
    const { stdout } = await run('kcat', ['-b', testBrokers().join(','), '-t', topics.users, '-C', '-e', '-q', '-f', '%k %s\n'])
    assert.match(stdout, /"alice"/)
    for (const p of passwords) {
      assert.ok(!stdout.includes(p), 'a password in the users topic')
      assert.ok(!stdout.includes(Buffer.from(p).toString('base64')), 'a base64 password in the users topic')
    }
  })

  it('ACL: an allowed publish reaches the subscriber; a denied one reaches nobody and is not in Kafka (QoS 1 and 2 still acknowledged)', async () => {
    const alice = await as(0, 'alice')
    const ops = await as(1, 'ops')
    const aliceGot = collect(alice)
    const opsGot = collect(ops)
    await alice.subscribeAsync('users/alice/#', { qos: 1 })
    await ops.subscribeAsync('#', { qos: 1 })
    const sub = mosquittoSub(node(2).mqttPort, 'bob', users.bob, 'users/bob/#')
    const bob = await as(1, 'bob')
    await untilSubscribed(sub, bob, 'users/bob/probe')
    // alice may publish in her own subtree only
    await alice.publishAsync('users/alice/a', `allowed-${id}`, { qos: 1 })
    await alice.publishAsync('users/bob/inbox', `denied1-${id}`, { qos: 1 })
    await alice.publishAsync('users/bob/inbox', `denied2-${id}`, { qos: 2 })
    alice.publish('users/bob/inbox', `denied0-${id}`, { qos: 0 })
    await alice.publishAsync('users/alice/marker', `marker-${id}`, { qos: 1 })
    await until(() => opsGot.some(m => m.payload === `marker-${id}`), 20000, 'the marker at the superuser')
    await until(() => aliceGot.some(m => m.payload === `marker-${id}`), 20000, 'the marker at alice')
    // bob's subscriber: publishes from bob himself come after alice's denied ones
    await bob.publishAsync('users/bob/marker', `bob-marker-${id}`, { qos: 1 })
    await until(() => sub.lines().includes(`users/bob/marker bob-marker-${id}`), 20000, 'bob\'s marker at mosquitto_sub')
    sub.stop()
    // the three are on different topics, so different partitions: no order between them
    await until(() => opsGot.some(m => m.payload === `bob-marker-${id}`) && opsGot.some(m => m.payload === `allowed-${id}`), 20000, 'bob\'s marker and the allowed message at the superuser')
    assert.deepEqual(opsGot.map(m => m.payload).filter(p => p.endsWith(id)).sort(), [`allowed-${id}`, `bob-marker-${id}`, `marker-${id}`])
    assert.ok(!sub.lines().some(l => l.includes('denied')), 'no denied message at bob')
    assert.ok(alice.connected, 'deny_action ignore keeps the connection')
    const inKafka = await kafkaPayloads()
    assert.ok(inKafka.includes(`marker-${id}`) && inKafka.includes(`allowed-${id}`))
    assert.deepEqual(inKafka.filter(p => p.startsWith('denied')), [], 'nothing denied is in Kafka')
  })

  it('ACL: deny_action disconnect closes the connection of a denied PUBLISH, which is not in Kafka', async () => {
    const alice = await as(2, 'alice')
    const closed = new Promise<void>(resolve => alice.once('close', () => resolve()))
    alice.publish('users/bob/inbox', `disconnect-${id}`, { qos: 1 })
    await closed
    const ops = await as(2, 'ops')
    await ops.publishAsync('users/ops/marker', `disconnect-marker-${id}`, { qos: 1 })
    const inKafka = await kafkaPayloads()
    assert.ok(inKafka.includes(`disconnect-marker-${id}`))
    assert.ok(!inKafka.includes(`disconnect-${id}`))
    assert.ok(node(2).lines.some(l => l.includes('PUBLISH not authorized; closing the connection')))
  })

  it('ACL: a denied filter gets SUBACK 0x80 while the other filters of the same SUBSCRIBE are granted; ${username} confines a user to its own subtree', async () => {
    const alice = await as(1, 'alice')
    const granted = await suback(alice, { 'users/alice/#': { qos: 1 }, 'users/bob/#': { qos: 1 }, 'board/#': { qos: 0 }, '#': { qos: 0 }, '$share/g/users/bob/x': { qos: 1 }, '$share/g/users/alice/x': { qos: 1 } })
    assert.deepEqual(granted, {
      'users/alice/#': 1, 'users/bob/#': 128, 'board/#': 0, '#': 128, '$share/g/users/bob/x': 128, '$share/g/users/alice/x': 1
    })
    const got = collect(alice)
    const bob = await as(0, 'bob')
    await bob.publishAsync('users/bob/private', `bobs-${id}`, { qos: 1 })
    await bob.publishAsync('users/alice/inbox', `for-alice-${id}`, { qos: 1 })
    const ops = await as(0, 'ops')
    await ops.publishAsync('users/alice/inbox', `from-ops-${id}`, { qos: 1 })
    await until(() => got.some(m => m.payload === `from-ops-${id}`), 20000, 'the superuser\'s message in alice\'s subtree')
    assert.ok(!got.some(m => m.payload === `bobs-${id}`), 'alice gets nothing of bob\'s subtree')
    assert.ok(!got.some(m => m.payload === `for-alice-${id}`), 'bob may not publish into alice\'s subtree')
    const sub = await mosquitto('mosquitto_sub', ['-p', String(node(2).mqttPort), '-u', 'alice', '-P', users.alice, '-t', 'users/bob/#', '-C', '1', '-W', '10'])
    assert.match(sub.stderr, /denied/i, 'mosquitto_sub is told its only subscription was denied')
  })

  it('ACL: retained messages of a topic the subscriber may not subscribe to are not delivered', async () => {
    const ops = await as(0, 'ops')
    await ops.publishAsync('board/open', `open-${id}`, { qos: 1, retain: true })
    await ops.publishAsync('board/secret', `secret-${id}`, { qos: 1, retain: true })
    for (const i of [0, 1, 2]) {
      // the other nodes learn the retained messages from the retained topic's tail
      let retained = 0
      while (retained < 2) retained = (await (await fetch(`http://127.0.0.1:${node(i).httpPort}/ready`)).json() as { retained: number }).retained
      const alice = await as(i, 'alice')
      const got = collect(alice)
      const [grant] = await alice.subscribeAsync('board/#', { qos: 1 })
      assert.equal(grant?.qos, 1)
      await until(() => got.some(m => m.payload === `open-${id}`), 20000, `the allowed retained message on node ${i + 1}`)
      // a live message published after the SUBSCRIBE comes after the retained ones
      await ops.publishAsync('board/marker', `board-marker-${i}-${id}`, { qos: 1 })
      await until(() => got.some(m => m.payload === `board-marker-${i}-${id}`), 20000, 'the marker')
      // (a node that reads board/# for another client may still hand the live copy of the PUBLISH made
      // just before this SUBSCRIBE to it: a filter alice may hold, as in EMQX, where the ACL is checked
      // on the filter at SUBSCRIBE; the retained copy is the one checked per topic)
      assert.ok(!got.some(m => m.payload === `secret-${id}` && m.retain), `no retained message of board/secret on node ${i + 1}`)
      await end(alice)
    }
    const superuser = await as(2, 'ops')
    const got = collect(superuser)
    await superuser.subscribeAsync('board/#', { qos: 1 })
    await until(() => got.some(m => m.payload === `secret-${id}`), 20000, 'a superuser gets every retained message')
  })

  it('ACL: a change of the rules file takes effect without reconnects (and SIGHUP reloads too)', async () => {
    const alice = await as(0, 'alice')
    const ops = await as(1, 'ops')
    const got = collect(ops)
    await ops.subscribeAsync('news/#', { qos: 1 })
    assert.deepEqual(await suback(alice, { 'news/#': { qos: 1 } }), { 'news/#': 128 }, 'news/# is not allowed yet')
    await alice.publishAsync('news/a', `early-${id}`, { qos: 1 })
    writeFileSync(aclFile, rules('- { permission: allow, action: all, topics: ["news/#"] }'))
    let n = 0
    while (!got.some(m => m.payload.startsWith(`late-${id}`))) {
      await alice.publishAsync('news/a', `late-${id}-${n++}`, { qos: 1 })
      await until(() => got.some(m => m.payload === `late-${id}-${n - 1}`), 500).catch(() => undefined)
    }
    assert.ok(alice.connected)
    assert.deepEqual(await suback(alice, { 'news/#': { qos: 1 } }), { 'news/#': 1 }, 'the same connection may now subscribe')
    assert.ok(!got.some(m => m.payload === `early-${id}`))
    for (const w of nodes) await w.waitForLog('ACL rules reloaded')
    const reloads = (w: WharfProcess): number => w.lines.filter(l => l.includes('ACL rules reloaded')).length
    const count = reloads(node(2))
    node(2).proc.kill('SIGHUP')
    await until(() => reloads(node(2)) > count, 10000, 'a reload after SIGHUP')
    assert.equal(node(2).proc.exitCode, null, 'SIGHUP does not stop the node')
  })

  it('ACL: a persistent session resumed by another user with its client id replays only what that user may subscribe to', async () => {
    const ops = await as(0, 'ops')
    // bob's own session comes back with what was queued for it
    const own = `bob-own-${id}`
    const first = await as(1, 'bob', { clientId: own, clean: false })
    await first.subscribeAsync('users/bob/#', { qos: 1 })
    await end(first)
    await ops.publishAsync('users/bob/queued', `queued-own-${id}`, { qos: 1 })
    const again = await as(2, 'bob', { clientId: own, clean: false })
    const gotAgain = collect(again)
    await until(() => gotAgain.some(m => m.payload === `queued-own-${id}`), 20000, 'bob\'s queued message at bob')
    // alice takes the client id of bob's other session: bob's queued message stays bob's
    const victim = `bob-dev-${id}`
    const bob = await as(1, 'bob', { clientId: victim, clean: false })
    await bob.subscribeAsync('users/bob/#', { qos: 1 })
    await end(bob)
    await ops.publishAsync('users/bob/private', `queued-${id}`, { qos: 1 })
    const alice = await as(2, 'alice', { clientId: victim, clean: false })
    const got = collect(alice)
    await alice.subscribeAsync('users/alice/#', { qos: 1 })
    await ops.publishAsync('users/alice/marker', `takeover-marker-${id}`, { qos: 1 })
    await until(() => got.some(m => m.payload === `takeover-marker-${id}`), 20000, 'the marker at alice')
    assert.ok(!got.some(m => m.payload === `queued-${id}`), 'bob\'s queued message did not reach alice')
    await node(2).waitForLog('dropped from the session')
  })

  it('zero-length client ids: clean session 0 gets CONNACK 0x02, clean session 1 gets an id of its own; over-long ids and user names are refused', async () => {
    const port = node(0).mqttPort
    assert.equal(await rawConnack(port, { clientId: '', clean: false, username: 'alice', password: users.alice }), 2)
    assert.equal(await rawConnack(port, { clientId: '', clean: true, username: 'alice', password: users.alice, protocolVersion: 3 }), 2, 'MQTT 3.1 requires an id')
    assert.equal(await rawConnack(port, { clientId: '', clean: true, username: 'alice', password: users.alice }), 0)
    assert.equal(await rawConnack(port, { clientId: 'x'.repeat(257), clean: true, username: 'alice', password: users.alice }), 2, 'mqtt.max_client_id_length 256')
    assert.equal(await rawConnack(port, { clientId: 'x'.repeat(256), clean: true, username: 'alice', password: users.alice }), 0)
    assert.equal(await rawConnack(port, { clientId: 'long-user', clean: true, username: 'u'.repeat(1025), password: 'x' }), 4, 'mqtt.max_username_length 1024')
    // two clients without ids, on two nodes at once: each has its own id, neither takes the other over
    const a = await login(node(0).mqttPort, { clientId: '', clean: true, username: 'alice', password: users.alice })
    const b = await login(node(1).mqttPort, { clientId: '', clean: true, username: 'alice', password: users.alice })
    const c = await login(node(0).mqttPort, { clientId: '', clean: true, username: 'alice', password: users.alice })
    assert.deepEqual([a.code, b.code, c.code], [0, 0, 0])
    const [ca, cb, cc] = [a.client, b.client, c.client] as MqttClient[]
    clients.push(ca as MqttClient, cb as MqttClient, cc as MqttClient)
    const got = [ca, cb, cc].map(x => collect(x as MqttClient))
    await Promise.all([ca, cb, cc].map(x => (x as MqttClient).subscribeAsync('users/alice/noid', { qos: 1 })))
    await (cb as MqttClient).publishAsync('users/alice/noid', `noid-${id}`, { qos: 1 })
    await until(() => got.every(g => g.some(m => m.payload === `noid-${id}`)), 20000, 'the message at all three id-less clients')
    assert.ok([ca, cb, cc].every(x => (x as MqttClient).connected), 'none took another over')
  })

  it('no password appears in any node\'s log', () => {
    const all = nodes.flatMap(n => n.lines)
    assert.ok(all.length > 50)
    for (const p of passwords) assert.ok(!all.some(l => l.includes(p)), 'a password in a log line')
    assert.ok(!all.some(l => l.includes(pepper)), 'the pepper in a log line')
  })
})

/** A mosquitto_sub that prints `topic payload` lines (`-v`). */
function mosquittoSub (port: number, username: string, password: string, filter: string): MosquittoSubscriber {
  return mosquittoSubscriber(['-p', String(port), '-u', username, '-P', password, '-t', filter, '-q', '1', '-v'])
}

/** The SUBACK return codes of one SUBSCRIBE, by filter (mqtt.js rejects the promise when one is 0x80). */
function suback (client: MqttClient, filters: Record<string, { qos: 0 | 1 | 2 }>): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    client.subscribe(filters, (err, granted) => {
      const codes = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted
      if (granted !== undefined && err === null) resolve(Object.fromEntries(granted.map(g => [g.topic, g.qos])))
      else if (codes !== undefined) resolve(Object.fromEntries(Object.keys(filters).map((f, i) => [f, codes[i] as number])))
      else reject(err ?? new Error('no SUBACK'))
    })
  })
}
