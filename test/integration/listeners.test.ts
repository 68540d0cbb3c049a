import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { WebSocket } from 'ws'
import { startBrowserStand } from '../support/browser-page.js'
import { collect, connect, end, until, untilAsync, type Received } from '../support/mqtt-client.js'
import { mosquitto, mosquittoSubscriber, rawConnack, untilSubscribed } from '../support/mqtt-login.js'
import { makeCa, makeCert, type CertFiles } from '../support/test-certs.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/*
 * The listeners on real edges (the built CLI, a real Kafka, real clients): TLS with mosquitto's
 * --cafile, mutual TLS whose certificate CN is the user name an ACL rule sees, mqtt.js over ws://
 * and wss:// reaching a plain TCP subscriber on another edge, PROXY protocol v1 and v2 headers
 * (hand-written bytes) whose address an ACL ipaddr rule matches, a certificate swapped on disk,
 * connections that break the protocol closed alone, and a headless Chromium page.
 *
 * Edge A has every kind of listener and an ACL file (no_match: deny); edge B has plain TCP only,
 * no rules, and a watcher client subscribed to everything the tests publish.
 */
describe('listeners on real edges: TLS, mutual TLS, WebSocket, PROXY protocol', () => {
  const topics = uniqueTopics('listen')
  const id = randomUUID().slice(0, 6)
  const dir = mkdtempSync(join(tmpdir(), 'wharf-listen-'))
  /** the folder the edge watches: the server certificate and key only */
  const serverDir = join(dir, 'server')
  const serverCert = join(serverDir, 'server.pem')
  const serverKey = join(serverDir, 'server.key')
  let ca: CertFiles
  let device: CertFiles
  let stranger: CertFiles
  let a: WharfProcess
  let b: WharfProcess
  let watcher: MqttClient
  let seen: Received[]
  const clients: MqttClient[] = []
  const keep = (c: MqttClient): MqttClient => { clients.push(c); return c }
  const payloads = (prefix: string): string[] => seen.filter(m => m.topic.startsWith(prefix)).map(m => m.payload)
  const caPem = (): Buffer => readFileSync(ca.cert)
  const tcpOnB = async (opts: IClientOptions = {}): Promise<MqttClient> => keep(await connect(b.url, opts))

  /** Every `wharf_listener_closed_total` of edge A, as `listener reason` -> count. */
  async function closedCounts (): Promise<Map<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text()
    const counts = new Map<string, number>()
    for (const line of text.split('\n')) {
      if (!line.startsWith('wharf_listener_closed_total{')) continue
      const listener = /listener="([^"]+)"/.exec(line)?.[1]
      const reason = /reason="([^"]+)"/.exec(line)?.[1]
      counts.set(`${listener} ${reason}`, Number(line.slice(line.lastIndexOf(' ') + 1)))
    }
    return counts
  }

  before(async () => {
    mkdirSync(serverDir)
    ca = makeCa(dir)
    const server = makeCert(dir, 'server-1', ca, '/CN=wharf-edge-1', true)
    renameSync(server.cert, serverCert)
    renameSync(server.key, serverKey)
    device = makeCert(dir, 'device', ca, `/O=Acme/CN=device-${id}`)
    const otherCa = makeCa(dir, 'other-ca', '/CN=Someone Else CA')
    stranger = makeCert(dir, 'stranger', otherCa, `/CN=device-${id}`)
    const acl = join(dir, 'acl.yaml')
    writeFileSync(acl, [
      '- permission: allow',
      '  action: all',
      '  topics: ["devices/${username}/#"]',
      '- permission: allow',
      '  who: { ipaddr: 198.51.100.7 }',
      '  action: publish',
      '  topics: ["proxied/v1"]',
      '- permission: allow',
      '  who: { ipaddr: "2001:db8::7" }',
      '  action: publish',
      '  topics: ["proxied/v2"]',
      '- permission: allow',
      '  action: publish',
      '  topics: ["open/#"]',
      '- permission: allow',
      '  action: subscribe',
      '  topics: ["#"]'
    ].join('\n') + '\n')
    const ssl = `{ certfile: ${serverCert}, keyfile: ${serverKey} }`
    const config = join(dir, 'edge-a.yaml')
    writeFileSync(config, [
      'listeners:',
      '  tcp:',
      '    default: { bind: 127.0.0.1:0 }',
      '    proxied: { bind: 127.0.0.1:0, proxy_protocol: true, proxy_protocol_timeout: 5s }',
      '  ssl:',
      `    default: { bind: 127.0.0.1:0, ssl_options: ${ssl} }`,
      '    mutual:',
      '      bind: 127.0.0.1:0',
      `      ssl_options: { certfile: ${serverCert}, keyfile: ${serverKey}, cacertfile: ${ca.cert}, verify: verify_peer, fail_if_no_peer_cert: true }`,
      '  ws:',
      '    default: { bind: 127.0.0.1:0 }',
      '  wss:',
      `    default: { bind: 127.0.0.1:0, ssl_options: ${ssl} }`,
      'mqtt:',
      '  peer_cert_as_username: cn',
      'authorization:',
      `  file: ${acl}`,
      '  no_match: deny'
    ].join('\n') + '\n')
    ;[a, b] = await Promise.all([
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `listen-a-${id}`, args: ['--config', config] }),
      WharfProcess.start({ brokers: testBrokers(), topics, nodeName: `listen-b-${id}` })
    ])
    watcher = await tcpOnB({ clientId: `watcher-${id}` })
    seen = collect(watcher)
    await watcher.subscribeAsync('#', { qos: 1 })
  })

  after(async () => {
    await end(...clients)
    await Promise.all([a?.stop(), b?.stop()])
    rmSync(dir, { recursive: true, force: true })
  })

  it('opens every listener: the ready line and /ready name each with its kind and port', async () => {
    assert.deepEqual([...a.ports.keys()], ['tcp:default', 'tcp:proxied', 'ssl:default', 'ssl:mutual', 'ws:default', 'wss:default'])
    const ready = await (await fetch(`http://127.0.0.1:${a.httpPort}/ready`)).json() as { listeners: Array<{ listener: string, kind: string, port: number, proxy_protocol: boolean, current_connections: number, connections_total: number, closed: object }> }
    assert.deepEqual(ready.listeners.map(l => [l.listener, l.kind, l.port, l.proxy_protocol]), [...a.ports].map(([l, port]) => [l, l.split(':')[0], port, l === 'tcp:proxied']))
    // edge B's watcher is the only client so far; edge A has counted nothing
    assert.deepEqual(ready.listeners.map(l => [l.current_connections, l.connections_total, l.closed]), ready.listeners.map(() => [0, 0, {}]))
  })

  it('mosquitto_pub and mosquitto_sub with --cafile over TLS; a client that does not trust the CA is refused', async () => {
    const port = String(a.port('ssl:default'))
    const sub = mosquittoSubscriber(['-h', '127.0.0.1', '-p', port, '--cafile', ca.cert, '-t', 'open/tls/#', '-q', '1', '-v'])
    try {
      await untilSubscribed(sub, await tcpOnB(), 'open/tls/probe')
      const pub = await mosquitto('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '--cafile', ca.cert, '-t', 'open/tls/hello', '-m', `over TLS ${id}`, '-q', '1'])
      assert.equal(pub.code, 0, pub.stderr)
      await until(() => sub.lines().includes(`open/tls/hello over TLS ${id}`), 20000, 'the message at mosquitto_sub over TLS')
      await until(() => payloads('open/tls/hello').includes(`over TLS ${id}`), 20000, 'the message on the other edge')
    } finally {
      sub.stop()
    }
    const untrusted = await mosquitto('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '--cafile', join(dir, 'other-ca.pem'), '-t', 'open/tls/hello', '-m', 'untrusted'])
    assert.notEqual(untrusted.code, 0)
    assert.match(untrusted.stderr, /certificate verify failed|TLS/i)
  })

  it('mutual TLS: a device certificate is accepted and its CN is the user name ACL rules see; none, or one of another CA, is refused', async () => {
    const port = String(a.port('ssl:mutual'))
    const withCert = (cert: CertFiles, args: string[]): Promise<{ code: number, stderr: string }> =>
      mosquitto('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '--cafile', ca.cert, '--cert', cert.cert, '--key', cert.key, '-q', '1', ...args])
    const before = await closedCounts()
    // the user name the client sends is replaced by the certificate's CN: ${username} is device-<id>
    const own = await withCert(device, ['-u', 'someone-else', '-t', `devices/device-${id}/temp`, '-m', `own-${id}`])
    assert.equal(own.code, 0, own.stderr)
    const other = await withCert(device, ['-u', 'someone-else', '-t', 'devices/someone-else/temp', '-m', `not-own-${id}`])
    assert.equal(other.code, 0, 'a denied PUBLISH is acknowledged (deny_action: ignore)')
    const none = await mosquitto('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '--cafile', ca.cert, '-u', `device-${id}`, '-t', `devices/device-${id}/temp`, '-m', `no-cert-${id}`, '-q', '1'])
    assert.notEqual(none.code, 0, 'no certificate: refused')
    const foreign = await withCert(stranger, ['-t', `devices/device-${id}/temp`, '-m', `stranger-${id}`])
    assert.notEqual(foreign.code, 0, 'a certificate of another CA: refused')
    const marker = await withCert(device, ['-t', `devices/device-${id}/marker`, '-m', `marker-${id}`])
    assert.equal(marker.code, 0, marker.stderr)
    await until(() => payloads('devices/').includes(`marker-${id}`), 20000, 'the marker')
    assert.deepEqual(payloads('devices/'), [`own-${id}`, `marker-${id}`])
    const after = await closedCounts()
    const refused = [...after].filter(([k, n]) => k.startsWith('ssl:mutual handshake_failed:') && n > (before.get(k) ?? 0)).map(([k]) => k)
    assert.ok(refused.length >= 1, `refusals counted by reason in /metrics (${[...after.keys()].join(', ')})`)
    console.log(`# mutual TLS refusals in /metrics: ${refused.join(', ')}`)
  })

  it('mqtt.js over ws:// and wss:// on one edge reaches a plain TCP subscriber on another edge, and back', async () => {
    const ws = keep(await connect(`ws://127.0.0.1:${a.port('ws:default')}/mqtt`))
    const wss = keep(await connect(`wss://127.0.0.1:${a.port('wss:default')}/mqtt`, { ca: caPem() }))
    const wsGot = collect(ws)
    const wssGot = collect(wss)
    await ws.subscribeAsync('open/down/ws', { qos: 1 })
    await wss.subscribeAsync('open/down/wss', { qos: 1 })
    await ws.publishAsync('open/up/ws', `over ws ${id}`, { qos: 1 })
    await wss.publishAsync('open/up/wss', `over wss ${id}`, { qos: 1 })
    await until(() => payloads('open/up/').length === 2, 20000, 'both messages on edge B')
    assert.deepEqual(payloads('open/up/').sort(), [`over ws ${id}`, `over wss ${id}`])
    const publisher = await tcpOnB()
    await publisher.publishAsync('open/down/ws', `to ws ${id}`, { qos: 1 })
    await publisher.publishAsync('open/down/wss', `to wss ${id}`, { qos: 1 })
    await until(() => wsGot.length === 1 && wssGot.length === 1, 20000, 'the messages from edge B')
    assert.deepEqual([wsGot[0]?.payload, wssGot[0]?.payload], [`to ws ${id}`, `to wss ${id}`])
  })

  it('PROXY protocol v1 and v2 headers set the peer address the ACL ipaddr rules match; no header is refused', async () => {
    const port = a.port('tcp:proxied')
    const v1 = Buffer.from(`PROXY TCP4 198.51.100.7 127.0.0.1 40001 ${port}\r\n`)
    const v2 = Buffer.concat([
      Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]), // signature
      Buffer.from([0x21, 0x21, 0x00, 36]), // v2 PROXY, TCP over IPv6, 36 address bytes
      Buffer.from('20010db8000000000000000000000007', 'hex'), // source 2001:db8::7
      Buffer.from('00000000000000000000000000000001', 'hex'), // destination ::1
      Buffer.from([0x9c, 0x42, port >> 8, port & 0xff]) // source port 40002, destination port
    ])
    const behindProxy = async (header: Buffer, clientId: string): Promise<MqttClient> => {
      const client = new mqtt.MqttClient(() => {
        const socket = netConnect(port, '127.0.0.1')
        socket.write(header) // before mqtt.js writes its CONNECT
        return socket
      }, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10000, clientId })
      await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject) })
      return keep(client)
    }
    const one = await behindProxy(v1, `v1-${id}`)
    const two = await behindProxy(v2, `v2-${id}`)
    const direct = keep(await connect(a.url, { clientId: `direct-${id}` }))
    await one.publishAsync('proxied/v1', `v1-allowed-${id}`, { qos: 1 })
    await one.publishAsync('proxied/v2', `v1-denied-${id}`, { qos: 1 })
    await two.publishAsync('proxied/v2', `v2-allowed-${id}`, { qos: 1 })
    await two.publishAsync('proxied/v1', `v2-denied-${id}`, { qos: 1 })
    await direct.publishAsync('proxied/v1', `direct-denied-${id}`, { qos: 1 })
    for (const c of [one, two, direct]) await c.publishAsync('open/proxied-marker', `${c.options.clientId ?? ''}`, { qos: 1 })
    await until(() => payloads('open/proxied-marker').length === 3, 20000, 'the three markers')
    assert.deepEqual(payloads('proxied/').sort(), [`v1-allowed-${id}`, `v2-allowed-${id}`])
    // a client that sends MQTT at once (no header) is closed before any CONNACK
    const before = (await closedCounts()).get('tcp:proxied proxy_protocol_invalid') ?? 0
    assert.equal(await rawConnack(port, { clientId: `no-header-${id}`, clean: true }), 'closed')
    assert.equal((await closedCounts()).get('tcp:proxied proxy_protocol_invalid'), before + 1)
  })

  it('garbage on the TLS port, a WebSocket upgrade to a wrong path, a text frame: each closes that connection only', async () => {
    const tls = keep(await connect(`mqtts://127.0.0.1:${a.port('ssl:default')}`, { ca: caPem(), clientId: `tls-steady-${id}` }))
    const ws = keep(await connect(`ws://127.0.0.1:${a.port('ws:default')}/mqtt`, { clientId: `ws-steady-${id}` }))
    const tlsGot = collect(tls)
    const wsGot = collect(ws)
    await tls.subscribeAsync('open/steady', { qos: 1 })
    await ws.subscribeAsync('open/steady', { qos: 1 })
    const before = await closedCounts()

    const garbage = netConnect(a.port('ssl:default'), '127.0.0.1')
    garbage.on('error', () => {})
    garbage.resume()
    garbage.write('\x10\x0c\x00\x04MQTT this is not a TLS ClientHello\r\n\r\n')
    await once(garbage, 'close')

    const wrongPath = new WebSocket(`ws://127.0.0.1:${a.port('ws:default')}/not-mqtt`, ['mqtt'])
    wrongPath.on('error', () => {}) // terminate() reports the upgrade it abandons
    const [, response] = await once(wrongPath, 'unexpected-response') as [unknown, { statusCode: number }]
    wrongPath.terminate()
    assert.equal(response.statusCode, 404)

    const text = new WebSocket(`ws://127.0.0.1:${a.port('ws:default')}/mqtt`, ['mqtt'])
    await once(text, 'open')
    const closing = once(text, 'close')
    text.send('MQTT as text')
    const [code] = await closing as [number]
    assert.equal(code, 1003)

    // the connections already open serve on, both ways
    const publisher = await tcpOnB()
    await publisher.publishAsync('open/steady', `after-${id}`, { qos: 1 })
    await tls.publishAsync('open/steady-back', `tls-back-${id}`, { qos: 1 })
    await ws.publishAsync('open/steady-back', `ws-back-${id}`, { qos: 1 })
    await until(() => tlsGot.length === 1 && wsGot.length === 1, 20000, 'the marker at the TLS and WebSocket clients')
    await until(() => payloads('open/steady-back').length === 2, 20000, 'their messages on edge B')
    const after = await closedCounts()
    const grew = [...after].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k]) => k).sort()
    assert.equal(grew.length, 3, grew.join(', '))
    assert.match(grew[0] as string, /^ssl:default handshake_failed:/)
    assert.deepEqual(grew.slice(1), ['ws:default ws_bad_path', 'ws:default ws_text_frame'])
  })

  it('a certificate swapped on disk is used by the next connection; a connection already open stays up', async () => {
    const port = a.port('ssl:default')
    const old = keep(await connect(`mqtts://127.0.0.1:${port}`, { ca: caPem(), clientId: `before-swap-${id}` }))
    const oldGot = collect(old)
    await old.subscribeAsync('open/swap', { qos: 1 })
    const cnOf = async (): Promise<string> => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: caPem() })
      try {
        await once(socket, 'secureConnect')
        return String((socket as TLSSocket).getPeerCertificate().subject.CN)
      } finally {
        socket.destroy()
      }
    }
    assert.equal(await cnOf(), 'wharf-edge-1')
    // a new key and certificate, moved over the old files (what a renewal does)
    const next = makeCert(dir, 'server-2', ca, '/CN=wharf-edge-2', true)
    renameSync(next.key, serverKey)
    renameSync(next.cert, serverCert)
    const swapped = Date.now()
    await untilAsync(async () => await cnOf() === 'wharf-edge-2', 20000, 'the new certificate on a new connection', 100)
    console.log(`# the new certificate served ${Date.now() - swapped} ms after the files were replaced (1 s debounce)`)
    await a.waitForLog('TLS certificate reloaded')
    const pub = await mosquitto('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '--cafile', ca.cert, '-t', 'open/swap', '-m', `after-swap-${id}`, '-q', '1'])
    assert.equal(pub.code, 0, pub.stderr)
    await until(() => oldGot.some(m => m.payload === `after-swap-${id}`), 20000, 'the message at the connection made before the swap')
    assert.equal(((old.stream as Socket) as TLSSocket).getPeerCertificate().subject.CN, 'wharf-edge-1', 'the open connection keeps its certificate')
    assert.ok(old.connected)
  })

  it('a headless Chromium page connects over ws:// to one edge and receives a message published over TCP on another', async () => {
    const stand = await startBrowserStand()
    try {
      const page = await stand.open(`ws://127.0.0.1:${a.port('ws:default')}/mqtt`, 'open/browser', `chromium-${id}`)
      assert.equal(page.state, 'subscribed')
      const publisher = await tcpOnB()
      await publisher.publishAsync('open/browser', `hello, browser ${id}`, { qos: 1 })
      assert.deepEqual(await page.received(1), [{ topic: 'open/browser', payload: `hello, browser ${id}` }])
    } finally {
      await stand.close()
    }
  })
})
