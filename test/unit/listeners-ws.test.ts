import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket, type ClientOptions } from 'ws'
import mqttPacket from 'mqtt-packet'
import { TrustedProxies, forwardedPeer } from '../../src/listeners/forwarded.js'
import { startBroker, type TestBroker } from '../support/listener-broker.js'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { makeCa, makeCert, type CertFiles } from '../support/test-certs.js'

/*
 * ws and wss listeners in front of an in-memory aedes: mqtt.js over ws:// and wss:// with a plain
 * TCP client on the other side, and what the HTTP upgrade refuses (path, origin, subprotocol),
 * text frames, and the client address from a trusted proxy's header.
 */

let dir = ''
let ca: CertFiles
let server: CertFiles
let client: CertFiles
let b: TestBroker
const LOCAL = '127.0.0.1:0'

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wharf-ws-'))
  ca = makeCa(dir)
  server = makeCert(dir, 'server', ca, '/CN=localhost', true)
  client = makeCert(dir, 'client', ca, '/O=Acme/CN=browser-1')
  b = await startBroker({
    tcp: { plain: { bind: LOCAL } },
    ws: {
      default: { bind: LOCAL },
      origins: { bind: LOCAL, websocket: { check_origin_enable: true, allow_origin_absence: false, allowed_origins: ['https://app.example.com'] } },
      behind: { bind: LOCAL, websocket: { mqtt_path: '/ws', trusted_proxies: ['127.0.0.1', '10.0.0.0/8'], proxy_port_header: 'X-Forwarded-Port' } }
    },
    wss: {
      default: { bind: LOCAL, ssl_options: { certfile: server.cert, keyfile: server.key } },
      mutual: { bind: LOCAL, ssl_options: { certfile: server.cert, keyfile: server.key, cacertfile: ca.cert, verify: 'verify_peer', fail_if_no_peer_cert: true } }
    }
  })
})
after(async () => {
  await b.close()
  rmSync(dir, { recursive: true, force: true })
})

const wsUrl = (listener: string, path = '/mqtt'): string => `ws://127.0.0.1:${b.port(listener)}${path}`
const tcpUrl = (): string => `mqtt://127.0.0.1:${b.port('tcp:plain')}`

/** What the server answered to a WebSocket upgrade: 101 (open) or the refusal's status. */
async function upgradeStatus (url: string, protocols: string[], options: ClientOptions = {}): Promise<number> {
  const ws = new WebSocket(url, protocols, options)
  try {
    return await new Promise<number>((resolve, reject) => {
      ws.once('open', () => resolve(101))
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.once('error', reject)
    })
  } finally {
    ws.terminate()
  }
}

describe('ws and wss listeners with mqtt.js', () => {
  it('mqtt.js over ws:// publishes to a TCP subscriber and receives from a TCP publisher', async () => {
    const tcp = await connect(tcpUrl())
    const ws = await connect(wsUrl('ws:default'))
    try {
      const gotTcp = collect(tcp)
      const gotWs = collect(ws)
      await tcp.subscribeAsync('ws/up', { qos: 1 })
      await ws.subscribeAsync('ws/down', { qos: 1 })
      await ws.publishAsync('ws/up', 'from the browser side', { qos: 1 })
      await tcp.publishAsync('ws/down', 'to the browser side', { qos: 1 })
      await until(() => gotTcp.length === 1 && gotWs.length === 1, 10000, 'both messages')
      assert.equal(gotTcp[0]?.payload, 'from the browser side')
      assert.equal(gotWs[0]?.payload, 'to the browser side')
      const c = b.connections.find((x) => x.listener === 'ws:default')
      assert.equal(c?.kind, 'ws')
      assert.equal(c?.peer.address, '127.0.0.1')
      assert.equal(c?.local.port, b.port('ws:default'))
    } finally {
      await end(tcp, ws)
    }
  })

  it('mqtt.js over wss:// (MQTT 3.1, subprotocol mqttv3.1) delivers to a TCP subscriber', async () => {
    const tcp = await connect(tcpUrl())
    const wss = await connect(`wss://127.0.0.1:${b.port('wss:default')}/mqtt`, { ca: readFileSync(ca.cert), protocolId: 'MQIsdp', protocolVersion: 3 })
    try {
      const got = collect(tcp)
      await tcp.subscribeAsync('wss/up', { qos: 1 })
      await wss.publishAsync('wss/up', 'over wss', { qos: 1 })
      await until(() => got.length === 1, 10000, 'the message')
      assert.equal(got[0]?.payload, 'over wss')
      const c = b.connections.find((x) => x.listener === 'wss:default')
      assert.equal(c?.kind, 'wss')
      assert.match(c?.tls?.protocol ?? '', /^TLSv1\.[23]$/)
    } finally {
      await end(tcp, wss)
    }
  })
})

describe('wss listener with mutual TLS', () => {
  it('exposes the verified client certificate; without one the handshake fails', async () => {
    const url = `wss://127.0.0.1:${b.port('wss:mutual')}/mqtt`
    const tls = { ca: readFileSync(ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key) }
    const c = await connect(url, tls)
    try {
      const made = b.connections.find((x) => x.listener === 'wss:mutual')
      assert.equal(made?.tls?.peerCertificate?.cn, 'browser-1')
      assert.equal(made?.tls?.peerCertificate?.subject, 'CN=browser-1,O=Acme')
    } finally {
      await end(c)
    }
    const closedBefore = b.closed.length
    assert.equal(await upgradeStatus(url, ['mqtt'], { ca: tls.ca }).catch(() => 'refused'), 'refused')
    await until(() => b.closed.length > closedBefore, 10000, 'the refusal to be counted')
    assert.match(b.closed.slice(closedBefore).map((e) => `${e.listener} ${e.reason}`).join(), /^wss:mutual handshake_failed:/)
  })
})

describe('ws listener: what the upgrade refuses', () => {
  it('answers another path 404, a plain request 426, garbage 400, and serves on', async () => {
    const closedBefore = b.closed.length
    assert.equal(await upgradeStatus(wsUrl('ws:default', '/other'), ['mqtt']), 404)
    const plain = await new Promise<number>((resolve, reject) => {
      request(wsUrl('ws:default').replace('ws:', 'http:'), (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject).end()
    })
    assert.equal(plain, 426)
    const garbage = netConnect(b.port('ws:default'), '127.0.0.1')
    garbage.on('error', () => {})
    garbage.resume()
    garbage.end('\x10\x0c\x00\x04MQTT not HTTP\r\n\r\n')
    await once(garbage, 'close')
    await until(() => b.closed.length === closedBefore + 3, 10000, 'the garbage to be counted')
    assert.deepEqual(b.closed.slice(closedBefore).map((e) => e.reason), ['ws_bad_path', 'ws_not_websocket', 'http_bad_request'])
    assert.equal(await upgradeStatus(wsUrl('ws:default'), ['mqtt']), 101)
  })

  it('refuses a subprotocol that is not MQTT, and none at all', async () => {
    assert.equal(await upgradeStatus(wsUrl('ws:default'), ['chat']), 400)
    assert.equal(await upgradeStatus(wsUrl('ws:default'), []), 400)
    assert.equal(await upgradeStatus(wsUrl('ws:default'), ['chat', 'mqttv5']), 101)
  })

  it('checks the origin when enabled', async () => {
    const closedBefore = b.closed.length
    assert.equal(await upgradeStatus(wsUrl('ws:origins'), ['mqtt'], { headers: { origin: 'https://app.example.com' } }), 101)
    assert.equal(await upgradeStatus(wsUrl('ws:origins'), ['mqtt'], { headers: { origin: 'https://evil.example.com' } }), 403)
    assert.equal(await upgradeStatus(wsUrl('ws:origins'), ['mqtt']), 403) // allow_origin_absence: false
    assert.deepEqual(b.closed.slice(closedBefore).map((e) => `${e.listener} ${e.reason}`), ['ws:origins ws_bad_origin', 'ws:origins ws_bad_origin'])
  })

  it('a text frame closes that connection (1003) and reaches nothing; other clients serve on', async () => {
    const steady = await connect(wsUrl('ws:default'))
    const clients: string[] = []
    const onClient = (c: { id: string }): void => { clients.push(c.id) }
    b.aedes.on('client', onClient)
    try {
      const got = collect(steady)
      await steady.subscribeAsync('ws/text', { qos: 1 })
      const ws = new WebSocket(wsUrl('ws:default'), ['mqtt'])
      await once(ws, 'open')
      const closing = once(ws, 'close')
      // a whole MQTT CONNECT, sent as text: had it reached aedes, a client "text-frame" would appear
      ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'text-frame', clean: true, keepalive: 30 }).toString('latin1'))
      const [code] = await closing as [number]
      assert.equal(code, 1003)
      const marker = await connect(wsUrl('ws:default'), { clientId: 'marker-after-text' })
      await until(() => clients.includes('marker-after-text'), 10000, 'the marker client')
      assert.deepEqual(clients, ['marker-after-text'])
      await marker.publishAsync('ws/text', 'still serving', { qos: 1 })
      await until(() => got.length === 1, 10000, 'the steady client to get the message')
      assert.ok(b.closed.some((e) => e.reason === 'ws_text_frame'))
      await end(marker)
    } finally {
      b.aedes.off('client', onClient)
      await end(steady)
    }
  })
})

describe('ws listener: an upgrade that never comes', () => {
  it('is closed after upgradeTimeoutMs and counted', async () => {
    const slow = await startBroker({ tcp: {}, ws: { default: { bind: LOCAL } } }, { upgradeTimeoutMs: 200 })
    try {
      const socket = netConnect(slow.port('ws:default'), '127.0.0.1')
      socket.on('error', () => {})
      socket.resume()
      socket.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n') // and never the end of the headers
      await once(socket, 'close')
      assert.deepEqual(slow.closed.map((e) => e.reason), ['ws_upgrade_timeout'])
    } finally {
      await slow.close()
    }
  })
})

describe('ws listener: the client address behind a proxy', () => {
  it('takes proxy_address_header from a trusted proxy, walking past trusted hops', async () => {
    const headers = { 'x-forwarded-for': '203.0.113.9, 198.51.100.7, 10.1.2.3', 'x-forwarded-port': '40123' }
    const before = b.connections.length
    const behind = await connect(wsUrl('ws:behind', '/ws'), { wsOptions: { headers } })
    const direct = await connect(wsUrl('ws:default'), { wsOptions: { headers } })
    try {
      const made = b.connections.slice(before)
      assert.deepEqual(made.find((c) => c.listener === 'ws:behind')?.peer, { address: '198.51.100.7', port: 40123 })
      assert.equal(made.find((c) => c.listener === 'ws:default')?.peer.address, '127.0.0.1', 'no trusted proxies: the header is ignored')
    } finally {
      await end(behind, direct)
    }
  })

  describe('forwardedPeer', () => {
    const trusted = new TrustedProxies(['10.0.0.0/8', '2001:db8::/32', '192.0.2.1'])
    const opts = { addressHeader: 'x-forwarded-for', portHeader: 'x-forwarded-port', trusted }
    const proxy = { address: '10.0.0.2', port: 5555 }

    it('ignores the header from an untrusted peer', () => {
      assert.deepEqual(forwardedPeer({ address: '203.0.113.1', port: 1 }, { 'x-forwarded-for': '1.2.3.4' }, opts), { address: '203.0.113.1', port: 1 })
      assert.deepEqual(forwardedPeer({ address: '203.0.113.1', port: 1 }, {}, { ...opts, trusted: new TrustedProxies([]) }), { address: '203.0.113.1', port: 1 })
    })

    it('takes the rightmost untrusted entry: what the client wrote itself on the left is not believed', () => {
      assert.equal(forwardedPeer(proxy, { 'x-forwarded-for': '6.6.6.6, 198.51.100.7' }, opts).address, '198.51.100.7')
      assert.equal(forwardedPeer(proxy, { 'x-forwarded-for': '198.51.100.7, 10.9.9.9, 192.0.2.1' }, opts).address, '198.51.100.7')
      // all trusted: the leftmost
      assert.equal(forwardedPeer(proxy, { 'x-forwarded-for': '10.1.1.1, 10.2.2.2' }, opts).address, '10.1.1.1')
    })

    it('stops at an entry that is not an address; reads ports and brackets; mapped IPv4 peers', () => {
      assert.equal(forwardedPeer(proxy, { 'x-forwarded-for': '198.51.100.7, unknown, 10.1.1.1' }, opts).address, '10.1.1.1')
      assert.equal(forwardedPeer(proxy, { 'x-forwarded-for': 'garbage' }, opts).address, '10.0.0.2')
      assert.equal(forwardedPeer(proxy, { 'x-forwarded-for': '[2001:DB9::1]:443' }, opts).address, '2001:db9::1')
      assert.equal(forwardedPeer(proxy, { 'x-forwarded-for': '198.51.100.7:1234' }, opts).address, '198.51.100.7')
      assert.equal(forwardedPeer({ address: '::ffff:10.0.0.2', port: 1 }, { 'x-forwarded-for': '198.51.100.7' }, opts).address, '198.51.100.7')
      assert.equal(forwardedPeer({ address: '2001:db8::5', port: 1 }, { 'x-forwarded-for': '198.51.100.7' }, opts).address, '198.51.100.7')
    })

    it('takes the port from proxy_port_header, else 0', () => {
      assert.deepEqual(forwardedPeer(proxy, { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-port': '40000' }, opts), { address: '198.51.100.7', port: 40000 })
      assert.deepEqual(forwardedPeer(proxy, { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-port': 'x' }, opts), { address: '198.51.100.7', port: 0 })
      assert.deepEqual(forwardedPeer(proxy, { 'x-forwarded-for': '198.51.100.7' }, { ...opts, portHeader: undefined }), { address: '198.51.100.7', port: 0 })
    })
  })
})
