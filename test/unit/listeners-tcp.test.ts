import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import { MqttClient } from 'mqtt'
import { WebSocket, createWebSocketStream } from 'ws'
import { startBroker, type TestBroker } from '../support/listener-broker.js'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { makeCa, makeCert, type CertFiles } from '../support/test-certs.js'

/*
 * The PROXY protocol in front of tcp, ssl and ws listeners (hand-written v1 and v2 headers from a
 * raw socket, then a real mqtt.js client on the same connection), and max_connections.
 */

let dir = ''
let ca: CertFiles
let server: CertFiles
const LOCAL = '127.0.0.1:0'

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wharf-proxy-'))
  ca = makeCa(dir)
  server = makeCert(dir, 'server', ca, '/CN=localhost', true)
})
after(() => { rmSync(dir, { recursive: true, force: true }) })

/** PROXY v2, PROXY command, TCP over IPv4, `src:sport -> dst:dport`, with one NOOP TLV. */
function proxyV2 (src: number[], sport: number, dst: number[], dport: number): Buffer {
  const body = [...src, ...dst, sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0x04, 0x00, 0x01, 0x00]
  return Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, body.length, ...body])
}

/** A raw TCP connection that starts with `header`; whatever is written next follows it. */
function rawWith (port: number, header: Buffer | string): Socket {
  const socket = netConnect(port, '127.0.0.1')
  socket.on('error', () => {})
  socket.write(header)
  return socket
}

/** mqtt.js (MQTT 3.1.1) over a stream the test made; resolves on CONNACK. */
async function mqttOver (stream: Duplex, clientId: string): Promise<MqttClient> {
  const client = new MqttClient(() => stream, { protocolVersion: 4, reconnectPeriod: 0, clientId, connectTimeout: 10000 })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return client
}

describe('PROXY protocol', () => {
  let b: TestBroker
  before(async () => {
    b = await startBroker({
      tcp: {
        plain: { bind: LOCAL },
        proxied: { bind: LOCAL, proxy_protocol: true, proxy_protocol_timeout: '200ms' }
      },
      ssl: { proxied: { bind: LOCAL, proxy_protocol: true, ssl_options: { certfile: server.cert, keyfile: server.key } } },
      ws: { proxied: { bind: LOCAL, proxy_protocol: true } }
    })
  })
  after(async () => { await b.close() })

  /** The Connection whose stream aedes' client `clientId` reads (its `conn`). */
  const streams = new Map<string, unknown>()
  before(() => { b.aedes.on('client', (client) => { streams.set(client.id, client.conn) }) })
  const connectionOf = (clientId: string) => b.connections.find((c) => streams.get(clientId) === c.stream)

  it('v1 on a tcp listener: the header\'s source is the peer; the MQTT bytes after it arrive unchanged', async () => {
    const port = b.port('tcp:proxied')
    const client = await mqttOver(rawWith(port, 'PROXY TCP4 203.0.113.7 198.51.100.1 40001 1883\r\n'), 'v1-client')
    const sub = await connect(`mqtt://127.0.0.1:${b.port('tcp:plain')}`)
    try {
      const c = connectionOf('v1-client')
      assert.deepEqual(c?.peer, { address: '203.0.113.7', port: 40001 })
      assert.deepEqual(c?.local, { address: '198.51.100.1', port: 1883 })
      const got = collect(sub)
      await sub.subscribeAsync('proxy/t', { qos: 1 })
      await client.publishAsync('proxy/t', 'through the header', { qos: 1 })
      await until(() => got.length === 1, 10000, 'the message')
    } finally {
      await end(client, sub)
    }
  })

  it('v2 on a tcp listener', async () => {
    const client = await mqttOver(rawWith(b.port('tcp:proxied'), proxyV2([192, 0, 2, 10], 51000, [198, 51, 100, 1], 1883)), 'v2-client')
    try {
      assert.deepEqual(connectionOf('v2-client')?.peer, { address: '192.0.2.10', port: 51000 })
    } finally {
      await end(client)
    }
  })

  it('v2 on an ssl listener comes before the TLS handshake, as HAProxy sends it', async () => {
    const raw = rawWith(b.port('ssl:proxied'), proxyV2([192, 0, 2, 20], 52000, [198, 51, 100, 1], 8883))
    const secure = tlsConnect({ socket: raw, ca: readFileSync(ca.cert), servername: 'localhost' })
    const client = await mqttOver(secure, 'v2-tls-client')
    try {
      const c = connectionOf('v2-tls-client')
      assert.deepEqual(c?.peer, { address: '192.0.2.20', port: 52000 })
      assert.equal(c?.kind, 'ssl')
      assert.match(c?.tls?.protocol ?? '', /^TLSv1\.[23]$/)
    } finally {
      await end(client)
    }
  })

  it('v1 on a ws listener comes before the HTTP upgrade', async () => {
    const raw = rawWith(b.port('ws:proxied'), 'PROXY TCP6 2001:db8::7 2001:db8::1 40002 8083\r\n')
    const ws = new WebSocket(`ws://127.0.0.1:${b.port('ws:proxied')}/mqtt`, ['mqtt'], { createConnection: () => raw })
    await once(ws, 'open')
    const client = await mqttOver(createWebSocketStream(ws), 'v1-ws-client')
    try {
      assert.deepEqual(connectionOf('v1-ws-client')?.peer, { address: '2001:db8::7', port: 40002 })
    } finally {
      await end(client)
    }
  })

  it('a connection without a valid header is closed and counted; one that sends none, after the timeout', async () => {
    const before = b.connections.length
    const closedBefore = b.closed.length
    // plain MQTT (a CONNECT's first bytes) where a header is expected
    const direct = rawWith(b.port('tcp:proxied'), Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54]))
    direct.resume()
    await once(direct, 'close')
    const silent = netConnect(b.port('tcp:proxied'), '127.0.0.1')
    silent.on('error', () => {})
    silent.resume()
    await once(silent, 'close')
    assert.deepEqual(b.closed.slice(closedBefore).map((e) => `${e.listener} ${e.reason}`), ['tcp:proxied proxy_protocol_invalid', 'tcp:proxied proxy_protocol_timeout'])
    assert.equal(b.connections.length, before)
    const stats = b.listeners.stats()['tcp:proxied']
    assert.equal(stats?.closed.proxy_protocol_invalid, 1)
    assert.equal(stats?.closed.proxy_protocol_timeout, 1)
  })
})

describe('max_connections', () => {
  let b: TestBroker
  before(async () => { b = await startBroker({ tcp: { limited: { bind: LOCAL, max_connections: 2 } } }) })
  after(async () => { await b.close() })

  it('refuses the connection over the limit at once and serves the others', async () => {
    const url = `mqtt://127.0.0.1:${b.port('tcp:limited')}`
    const first = await connect(url)
    const second = await connect(url)
    try {
      const third = netConnect(b.port('tcp:limited'), '127.0.0.1')
      third.on('error', () => {})
      third.resume()
      await once(third, 'close')
      assert.deepEqual(b.closed.map((e) => e.reason), ['max_connections'])
      assert.equal(b.listeners.describe()[0]?.current_connections, 2)
      const got = collect(first)
      await first.subscribeAsync('limit/t', { qos: 1 })
      await second.publishAsync('limit/t', 'the two serve on', { qos: 1 })
      await until(() => got.length === 1, 10000, 'the message')
      const stats = b.listeners.stats()['tcp:limited']
      assert.deepEqual(stats, { current: 2, total: 2, handedOn: 2, throttled: 0, closed: { max_connections: 1 } })
    } finally {
      await end(first, second)
    }
    // a place freed is a place taken again
    await until(() => b.listeners.describe()[0]?.current_connections === 0, 10000, 'the connections to close')
    const third = await connect(url)
    await end(third)
  })
})

describe('addresses', () => {
  it('an IPv4 client of a dual-stack listener is reported as plain IPv4', async () => {
    const b = await startBroker({ tcp: { dual: { bind: '[::]:0' } } })
    const client = await connect(`mqtt://127.0.0.1:${b.port('tcp:dual')}`)
    try {
      assert.equal(b.connections[0]?.peer.address, '127.0.0.1')
      assert.equal(b.connections[0]?.local.address, '127.0.0.1')
    } finally {
      await end(client)
      await b.close()
    }
  })
})
