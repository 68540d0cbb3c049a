import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { promisify } from 'node:util'
import SwaggerParser from '@apidevtools/swagger-parser'
import type { IClientOptions, MqttClient } from 'mqtt'
import { collect, connect, end, until, untilAsync } from '../support/mqtt-client.js'
import { addApiKey, apiCall } from '../support/ops-api.js'
import { runWharf } from '../support/wharf-cli.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/*
 * The operations side on three real edges sharing one Kafka: presence in the clients topic, the
 * REST API answering for the whole cluster from any node (list, show, kick a client of another
 * node; publish to a subscriber of another node; users and bans), API keys, errors, the OpenAPI
 * document, $SYS topics, the metrics, and the CLI commands that call the API.
 */

const run = promisify(execFile)

interface ApiClient { clientid: string; node: string; connected: boolean; username: string | null; clean_start: boolean; disconnect_reason: string | null; subscriptions?: Array<{ topic: string; qos: number }>; session?: unknown }
interface Page<T> { data: T[]; meta: { page: number; limit: number; count: number; hasnext: boolean } }
interface ClientRecordJson { clientId: string; node: string; connected: boolean; reason?: string; subs: Array<[string, number]> }

/** Every record of a topic, in order, as `[key, value or null]` (kcat; a tombstone is null). */
async function topicRecords (brokers: string[], topic: string): Promise<Array<[string, string | null]>> {
  const { stdout } = await run('kcat', ['-b', brokers.join(','), '-t', topic, '-C', '-e', '-q', '-Z', '-f', '%k\t%S\t%s\n'])
  return stdout.split('\n').filter(l => l !== '').map(l => {
    const [k, size, ...v] = l.split('\t')
    return [k as string, size === '-1' ? null : v.join('\t')]
  })
}

/** Does a client get in (it is closed again at once)? */
async function canConnect (url: string, opts: IClientOptions): Promise<boolean> {
  try {
    await end(await connect(url, opts))
    return true
  } catch {
    return false
  }
}

/** A metric's value summed over the label sets that contain `labels`. */
function metric (text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  let seen = false
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    seen = true
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  if (!seen) throw new Error(`no metric ${name} ${JSON.stringify(labels)}`)
  return sum
}

describe('operations: presence, REST API, $SYS, metrics, CLI (three edges)', () => {
  const brokers = testBrokers()
  const topics = uniqueTopics('ops')
  const id = randomUUID().slice(0, 6)
  const names = [1, 2, 3].map(i => `ops${i}-${id}`)
  const env = {
    WHARF_CLUSTER__NODE_TIMEOUT_MS: '3000',
    WHARF_CLUSTER__HEARTBEAT_INTERVAL_MS: '500',
    WHARF_SYS_TOPICS__SYS_HEARTBEAT_INTERVAL: '1s',
    WHARF_SYS_TOPICS__SYS_MSG_INTERVAL: '1s',
    // anonymous clients get in; a client with a user name must be a user of the users topic
    WHARF_AUTHENTICATION__CHAIN: 'built_in_database'
  }
  let nodes: WharfProcess[] = []
  let key = ''
  const n = (i: number): WharfProcess => nodes[i] as WharfProcess
  const api = <T = unknown>(i: number, method: string, path: string, body?: unknown) => apiCall<T>(n(i).httpPort, key, method, path, body)
  const cliEnv = (i: number): Record<string, string> => ({ WHARF_API_URL: `http://127.0.0.1:${n(i).httpPort}`, WHARF_API_KEY: key })

  before(async () => {
    const first = await WharfProcess.start({ brokers, topics, nodeName: names[0], env })
    const rest = await Promise.all(names.slice(1).map(nodeName => WharfProcess.start({ brokers, topics, nodeName, env })))
    nodes = [first, ...rest]
    key = await addApiKey(brokers, topics, `ops-${id}`)
    // every node has read the key and sees the three nodes live
    for (let i = 0; i < 3; i++) {
      await untilAsync(async () => {
        const r = await api<{ data: Array<{ status: string }> }>(i, 'GET', '/nodes')
        return r.status === 200 && r.body.data.filter(s => s.status === 'live').length === 3
      }, 30000, `node ${i + 1} to accept the key and see three live nodes`)
    }
  })
  after(async () => {
    await Promise.all(nodes.map(w => w.stop()))
  })

  it('answers 401 without a valid API key, on every path under /api and for the OpenAPI document', async () => {
    const [name, secret] = key.split(':') as [string, string]
    for (const k of [undefined, `${name}:wrong-${secret}`, `nobody:${secret}`, name]) {
      for (const path of ['/nodes', '/clients', '/openapi.json']) {
        const r = await apiCall<{ code: string }>(n(0).httpPort, k, 'GET', path)
        assert.equal(r.status, 401, `${String(k)} ${path}`)
        assert.equal(r.body.code, 'UNAUTHORIZED')
        assert.match(r.headers.get('www-authenticate') ?? '', /^Basic/)
      }
    }
    const publish = await apiCall(n(0).httpPort, undefined, 'POST', '/publish', { topic: 'x', payload: 'y' })
    assert.equal(publish.status, 401)
    // health, readiness and metrics stay open (prometheus.enable_basic_auth is false by default)
    for (const path of ['/health', '/ready', '/metrics']) assert.equal((await fetch(`http://127.0.0.1:${n(0).httpPort}${path}`)).status, 200, path)
  })

  it('lists, shows and kicks a client of node 2 through node 1; presence records mark each step', async () => {
    const clientId = `dev-${id}`
    assert.equal((await api(0, 'POST', '/users', { username: `alice-${id}`, password: 'wonderland' })).status, 201)
    const client = await connect(n(1).url, { clientId, clean: false, username: `alice-${id}`, password: 'wonderland' })
    await client.subscribeAsync(['devices/a/#', 'devices/b/+'], { qos: 1 })
    // node 1 sees it through the clients topic, with the subscriptions made after the CONNACK
    await untilAsync(async () => (await api<ApiClient>(0, 'GET', `/clients/${clientId}`)).body.subscriptions?.length === 2, 15000, 'the client and its subscriptions on node 1')
    const list = await api<Page<ApiClient>>(0, 'GET', `/clients?clientid_prefix=dev-${id}&connected=true`)
    assert.equal(list.status, 200)
    assert.deepEqual(list.body.data.map(c => [c.clientid, c.node, c.connected, c.username, c.clean_start]), [[clientId, names[1], true, `alice-${id}`, false]])
    assert.equal(list.body.meta.count, 1)
    assert.equal((await api<Page<ApiClient>>(0, 'GET', `/clients?node=${names[2]}&clientid_prefix=dev-${id}`)).body.meta.count, 0)
    const shown = await api<ApiClient & { session: { subscriptions: unknown[] } | null }>(0, 'GET', `/clients/${clientId}`)
    assert.deepEqual(shown.body.subscriptions, [{ topic: 'devices/a/#', qos: 1 }, { topic: 'devices/b/+', qos: 1 }])
    assert.ok(shown.body.session !== null, 'a persistent session is shown with the client')
    const subs = await api<Page<{ clientid: string; topic: string }>>(0, 'GET', `/subscriptions?clientid=${clientId}`)
    assert.deepEqual(subs.body.data.map(s => s.topic).sort(), ['devices/a/#', 'devices/b/+'])

    const closed = new Promise<void>(resolve => client.once('close', () => resolve()))
    const kick = await api(0, 'DELETE', `/clients/${clientId}`)
    assert.equal(kick.status, 204)
    await closed
    const after = await api<ApiClient>(2, 'GET', `/clients/${clientId}`)
    assert.equal(after.body.connected, false)
    assert.equal(after.body.disconnect_reason, 'kicked')
    assert.equal((await api<{ code: string }>(0, 'DELETE', `/clients/${clientId}`)).body.code, 'CLIENT_NOT_CONNECTED')
    assert.equal((await api<{ code: string }>(0, 'GET', '/clients/no-such-client')).status, 404)
    await end(client)

    const records = (await topicRecords(brokers, topics.clients)).filter(([k]) => k === clientId).map(([, v]) => (v === null ? null : JSON.parse(v) as ClientRecordJson))
    const first = records[0] as ClientRecordJson
    const last = records[records.length - 1] as ClientRecordJson
    assert.equal(first.connected, true)
    assert.equal(first.node, names[1])
    assert.equal(last.connected, false)
    assert.equal(last.reason, 'kicked')
    assert.deepEqual(last.subs, [['devices/a/#', 1], ['devices/b/+', 1]], 'a persistent session keeps its record, marked disconnected')
  })

  it('a clean-session client\'s record is marked disconnected (with the reason), then removed', async () => {
    const clientId = `clean-${id}`
    const client = await connect(n(2).url, { clientId, clean: true })
    await untilAsync(async () => (await api(0, 'GET', `/clients/${clientId}`)).status === 200, 15000, 'the clean client on node 1')
    await client.endAsync() // with DISCONNECT
    await untilAsync(async () => (await api(0, 'GET', `/clients/${clientId}`)).status === 404, 15000, 'the clean client gone from node 1\'s view')
    const records = (await topicRecords(brokers, topics.clients)).filter(([k]) => k === clientId).map(([, v]) => v)
    assert.equal(records[records.length - 1], null, 'a tombstone last')
    const disconnect = JSON.parse(records[records.length - 2] as string) as ClientRecordJson
    assert.equal(disconnect.connected, false)
    assert.equal(disconnect.reason, 'normal', 'the client sent DISCONNECT')
  })

  it('POST /publish on node 1 reaches a subscriber on node 2; retained and base64 too; /topics lists the retained topic', async () => {
    const sub = await connect(n(1).url)
    const got = collect(sub)
    let binary: Buffer | undefined
    sub.on('message', (topic, payload) => { if (topic.endsWith('/bin')) binary = payload })
    await sub.subscribeAsync(`api/${id}/#`, { qos: 1 })
    const r = await api<{ topic: string; bytes: number }>(0, 'POST', '/publish', { topic: `api/${id}/hello`, payload: 'from the API', qos: 1 })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, { topic: `api/${id}/hello`, qos: 1, retain: false, bytes: 12 })
    const bulk = await api<unknown[]>(0, 'POST', '/publish/bulk', [
      { topic: `api/${id}/bin`, payload: Buffer.from([0, 255, 1]).toString('base64'), payload_encoding: 'base64', qos: 1 },
      { topic: `api/${id}/kept`, payload: 'retained', qos: 1, retain: true }
    ])
    assert.equal(bulk.status, 200)
    await until(() => got.length >= 3, 15000, 'three messages at the subscriber on node 2')
    // three MQTT topics, three partitions: no order between them
    assert.deepEqual(got.map(m => [m.topic, m.qos]).sort(), [[`api/${id}/bin`, 1], [`api/${id}/hello`, 1], [`api/${id}/kept`, 1]])
    assert.equal(got.find(m => m.topic.endsWith('/hello'))?.payload, 'from the API')
    assert.deepEqual(binary, Buffer.from([0, 255, 1]), 'base64 payload delivered as its bytes')
    await untilAsync(async () => (await api<Page<unknown>>(2, 'GET', `/topics?match=api/${id}/%23`)).body.meta.count === 1, 15000, 'the retained topic on node 3')
    const retained = await api<Page<{ topic: string; payload: string }>>(2, 'GET', `/topics?match=api/${id}/%23`)
    assert.deepEqual(retained.body.data.map(t => [t.topic, t.payload]), [[`api/${id}/kept`, 'retained']])
    await end(sub)
  })

  it('answers 400 naming the field for bad input', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/publish', { topic: 't', payload: 'p', qos: 5 }, 'qos'],
      ['POST', '/publish', { payload: 'p' }, 'topic'],
      ['POST', '/publish', { topic: 't', payload: 'p', colour: 'red' }, 'colour'],
      ['POST', '/publish', { topic: 'a/+/b', payload: 'p' }, 'topic'],
      ['POST', '/publish', { topic: '$SYS/x', payload: 'p' }, 'topic'],
      ['POST', '/publish', { topic: 't', payload: 'not base64!', payload_encoding: 'base64' }, 'payload'],
      ['POST', '/publish/bulk', [{ topic: 'ok', payload: 'p' }, { topic: 'x/#', payload: 'p' }], '[1].topic'],
      ['POST', '/publish/bulk', [{ topic: 'ok', payload: 'p' }, { payload: 'p' }], '[1].topic'],
      ['GET', '/clients?limit=0', undefined, 'limit'],
      ['GET', '/clients?connected=maybe', undefined, 'connected'],
      ['GET', '/clients?colour=red', undefined, 'colour'],
      ['POST', '/banned', { as: 'peerhost', who: 'not-an-ip' }, 'who'],
      ['POST', '/banned', { as: 'planet', who: 'x' }, 'as'],
      ['POST', '/users', { username: 'u' }, 'password']
    ]
    for (const [method, path, body, field] of cases) {
      const r = await api<{ code: string; message: string; field: string }>(0, method, path, body)
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`)
      assert.equal(r.body.code, 'BAD_REQUEST')
      assert.equal(r.body.field, field, `${method} ${path} ${JSON.stringify(body)}: ${r.body.message}`)
      assert.ok(r.body.message.startsWith(`${field}:`), r.body.message)
    }
    const notJson = await apiCall(n(0).httpPort, key, 'POST', '/publish', '{"topic":')
    assert.equal(notJson.status, 400)
  })

  it('serves a valid OpenAPI 3 document describing every route', async () => {
    const r = await api<{ openapi: string; paths: Record<string, unknown> }>(0, 'GET', '/openapi.json')
    assert.equal(r.status, 200)
    assert.match(r.body.openapi, /^3\./)
    // swagger-parser checks it against the OpenAPI 3.0 schema and resolves every $ref
    await SwaggerParser.validate(structuredClone(r.body) as never)
    const paths = Object.keys(r.body.paths).sort()
    for (const p of ['/nodes', '/clients', '/clients/{clientid}', '/subscriptions', '/topics', '/stats', '/metrics', '/publish', '/publish/bulk', '/banned', '/banned/{as}/{who}', '/users', '/users/{username}', '/listeners']) {
      assert.ok(paths.includes(p), `${p} in ${paths.join(' ')}`)
    }
  })

  it('GET /nodes, /listeners, /stats answer for the cluster from any node', async () => {
    const nodesReply = await api<{ data: Array<{ node: string; status: string; this_node: boolean; listeners: unknown[]; rates: unknown }> }>(2, 'GET', '/nodes')
    assert.deepEqual(nodesReply.body.data.map(s => [s.node, s.status, s.this_node]), names.map((name, i) => [name, 'live', i === 2]))
    assert.ok(nodesReply.body.data.every(s => s.listeners.length === 1 && s.rates !== null))
    const listeners = await api<{ data: Array<{ node: string; port: number }> }>(0, 'GET', '/listeners')
    assert.deepEqual(listeners.body.data.map(l => [l.node, l.port]).sort(), nodes.map((w, i) => [names[i], w.mqttPort]).sort())
    const stats = await api<{ node: string; cluster: { nodes_live: number } }>(1, 'GET', '/stats')
    assert.equal(stats.body.node, names[1])
    assert.equal(stats.body.cluster.nodes_live, 3)
    const json = await api<Array<{ name: string }>>(1, 'GET', '/metrics')
    assert.ok(json.body.some(m => m.name === 'wharf_messages_received_total'))
  })

  it('manages users and bans through the API: a user added on node 1 logs in on node 3, a ban refuses it', async () => {
    const user = `u-${id}`
    const added = await api<{ username: string; algorithm: string }>(0, 'POST', '/users', { username: user, password: 'correct horse', superuser: false })
    assert.equal(added.status, 201)
    assert.equal(added.body.algorithm, 'pbkdf2-sha256')
    assert.equal((await api<{ code: string }>(0, 'POST', '/users', { username: user, password: 'x' })).status, 409)
    await untilAsync(() => canConnect(n(2).url, { username: user, password: 'correct horse' }), 15000, 'the new user to log in on node 3')
    await assert.rejects(connect(n(2).url, { username: user, password: 'wrong' }), /Bad username or password/)
    assert.equal((await api(0, 'PUT', `/users/${user}`, { password: 'battery staple' })).status, 200)
    await untilAsync(() => canConnect(n(2).url, { username: user, password: 'battery staple' }), 15000, 'the new password on node 3')
    const listed = await api<{ data: Array<Record<string, unknown>> }>(0, 'GET', '/users')
    const entry = listed.body.data.find(u => u.username === user)
    assert.ok(entry !== undefined && !('hash' in entry), 'listed, without a hash')
    const ban = await api(0, 'POST', '/banned', { as: 'clientid', who: `banned-${id}`, reason: 'test' })
    assert.equal(ban.status, 201)
    await untilAsync(async () => !await canConnect(n(2).url, { clientId: `banned-${id}` }), 15000, 'the ban to count on node 3')
    await assert.rejects(connect(n(2).url, { clientId: `banned-${id}` }), /Not authorized/)
    assert.equal((await api(0, 'DELETE', `/banned/clientid/banned-${id}`)).status, 204)
    assert.equal((await api(0, 'DELETE', `/banned/clientid/banned-${id}`)).status, 404)
    assert.equal((await api(0, 'DELETE', `/users/${user}`)).status, 204)
  })

  it('publishes $SYS uptime at sys_heartbeat_interval and client events, to subscribers of that node only', async () => {
    const watcher = await connect(n(1).url)
    const got = collect(watcher)
    const sysNode = names[1] as string
    await watcher.subscribeAsync([`$SYS/brokers/${sysNode}/uptime`, `$SYS/brokers/${sysNode}/stats/connections/count`, `$SYS/brokers/+/clients/#`, '$SYS/brokers'], { qos: 0 })
    const other = await connect(n(2).url)
    const otherGot = collect(other)
    await other.subscribeAsync(`$SYS/brokers/${sysNode}/#`, { qos: 0 })
    const visitor = await connect(n(1).url, { clientId: `visitor-${id}` })
    await visitor.endAsync() // with DISCONNECT
    await until(() => got.filter(m => m.topic.endsWith('/uptime')).length >= 3, 15000, 'three uptime messages')
    const uptimes = got.filter(m => m.topic.endsWith('/uptime')).map(m => Number(m.payload))
    assert.ok(uptimes.every(Number.isInteger), uptimes.join(','))
    assert.deepEqual([...uptimes].sort((a, b) => a - b), uptimes, 'uptime never goes back')
    await until(() => got.some(m => m.topic === `$SYS/brokers/${sysNode}/clients/visitor-${id}/disconnected`), 15000, 'the visitor\'s disconnected event')
    const connected = got.find(m => m.topic === `$SYS/brokers/${sysNode}/clients/visitor-${id}/connected`)
    assert.ok(connected !== undefined)
    assert.equal((JSON.parse(connected.payload) as { clientid: string }).clientid, `visitor-${id}`)
    const disconnected = JSON.parse(got.find(m => m.topic.endsWith(`visitor-${id}/disconnected`))?.payload ?? '{}') as { reason: string }
    assert.equal(disconnected.reason, 'normal')
    assert.ok(got.some(m => m.topic === '$SYS/brokers' && m.payload.split(',').length === 3), 'the live nodes')
    assert.ok(got.some(m => m.topic.endsWith('/stats/connections/count') && Number(m.payload) >= 1))
    // node 3 publishes its own $SYS only: nothing of node 2 reaches its subscriber (marker: its own uptime)
    await other.subscribeAsync(`$SYS/brokers/${names[2]}/uptime`, { qos: 0 })
    await until(() => otherGot.some(m => m.topic === `$SYS/brokers/${names[2]}/uptime`), 15000, 'node 3\'s own uptime (the marker)')
    assert.deepEqual(otherGot.filter(m => m.topic.includes(sysNode)), [])
    await end(watcher, other)
  })

  it('the metrics EMQX users look for are there and move under load', async () => {
    const scrape = async (): Promise<string> => await (await fetch(`http://127.0.0.1:${n(0).httpPort}/metrics`)).text()
    const before = await scrape()
    for (const name of ['wharf_connections', 'wharf_connections_max', 'wharf_sessions_stored', 'wharf_subscriptions', 'wharf_retained_messages', 'wharf_kafka_pending_bytes', 'wharf_kafka_produce_latency_seconds_count', 'wharf_kafka_fetched_records_total', 'wharf_shared_rebalances_total', 'wharf_authz_total']) {
      metric(before, name)
    }
    const sub = await connect(n(0).url, { clientId: `load-sub-${id}` })
    await sub.subscribeAsync(`load/${id}`, { qos: 1 })
    const got = collect(sub)
    const pub: MqttClient = await connect(n(0).url, { clientId: `load-pub-${id}` })
    await Promise.all(Array.from({ length: 500 }, (_, i) => pub.publishAsync(`load/${id}`, `m${i}`, { qos: 1 })))
    await until(() => got.length >= 500, 30000, '500 messages back')
    const during = await scrape()
    assert.ok(metric(during, 'wharf_messages_received_total', { qos: '1' }) - metric(before, 'wharf_messages_received_total', { qos: '1' }) >= 500)
    assert.ok(metric(during, 'wharf_messages_sent_total', { qos: '1' }) - metric(before, 'wharf_messages_sent_total', { qos: '1' }) >= 500)
    assert.ok(metric(during, 'wharf_packets_received_total', { type: 'publish' }) - metric(before, 'wharf_packets_received_total', { type: 'publish' }) >= 500)
    assert.ok(metric(during, 'wharf_packets_sent_total', { type: 'puback' }) - metric(before, 'wharf_packets_sent_total', { type: 'puback' }) >= 500)
    assert.ok(metric(during, 'wharf_bytes_received_total') - metric(before, 'wharf_bytes_received_total') > 500 * 10)
    assert.ok(metric(during, 'wharf_bytes_sent_total') > metric(before, 'wharf_bytes_sent_total'))
    assert.ok(metric(during, 'wharf_kafka_produce_latency_seconds_count') > metric(before, 'wharf_kafka_produce_latency_seconds_count'))
    assert.ok(metric(during, 'wharf_listener_clients') >= 2)
    assert.ok(metric(during, 'wharf_connections_max') >= 2)
    assert.ok(metric(during, 'wharf_subscriptions', { kind: 'plain' }) >= 1)
    assert.ok(metric(during, 'wharf_kafka_consumer_lag', { reader: 'messages' }) >= 0)
    await end(sub, pub)
  })

  it('wharf clients list|show|kick and wharf publish call a node\'s API', async () => {
    const clientId = `cli-${id}`
    const client = await connect(n(2).url, { clientId })
    await client.subscribeAsync(`cli/${id}`, { qos: 1 })
    const got = collect(client)
    await untilAsync(async () => (await api<ApiClient>(0, 'GET', `/clients/${clientId}`)).body.subscriptions?.length === 1, 15000, 'the client on node 1')
    const list = await runWharf(['clients', 'list', '--prefix', clientId], { env: cliEnv(0) })
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(`${clientId}\\s+${names[2]}\\s+connected`))
    const show = await runWharf(['clients', 'show', clientId, '--json'], { env: cliEnv(0) })
    assert.equal((JSON.parse(show.stdout) as ApiClient).node, names[2])
    const pub = await runWharf(['publish', `cli/${id}`, 'from the CLI', '--qos', '1'], { env: cliEnv(1) })
    assert.equal(pub.code, 0, pub.stderr)
    await until(() => got.length === 1, 15000, 'the CLI\'s message')
    assert.equal(got[0]?.payload, 'from the CLI')
    const closed = new Promise<void>(resolve => client.once('close', () => resolve()))
    const kick = await runWharf(['clients', 'kick', clientId], { env: cliEnv(0) })
    assert.equal(kick.code, 0, kick.stderr)
    assert.match(kick.stdout, new RegExp(`kicked ${clientId} \\(on ${names[2]}\\)`))
    await closed
    const missing = await runWharf(['clients', 'show', 'nobody-here'], { env: cliEnv(0) })
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /404 CLIENT_NOT_FOUND/)
    const noKey = await runWharf(['clients', 'list'], { env: { WHARF_API_URL: cliEnv(0).WHARF_API_URL as string, WHARF_API_KEY: '' } })
    assert.equal(noKey.code, 2)
    await end(client)
  })

  it('a survivor marks the clients of a node that died disconnected (node_down)', async () => {
    const clientId = `orphan-${id}`
    const client = await connect(n(2).url, { clientId, clean: false, reconnectPeriod: 0 })
    await untilAsync(async () => (await api<ApiClient>(0, 'GET', `/clients/${clientId}`)).body.connected === true, 15000, 'the client on node 1')
    client.on('error', () => undefined)
    await n(2).kill()
    await untilAsync(async () => {
      const r = await api<ApiClient>(0, 'GET', `/clients/${clientId}`)
      return r.body.connected === false && r.body.disconnect_reason === 'node_down'
    }, 30000, 'the client of the dead node marked node_down')
    await untilAsync(async () => {
      const records = (await topicRecords(brokers, topics.clients)).filter(([k]) => k === clientId)
      const last = records[records.length - 1]?.[1]
      return last !== null && last !== undefined && (JSON.parse(last) as ClientRecordJson).reason === 'node_down'
    }, 15000, 'the node_down record in the clients topic')
    await end(client)
  })
})
