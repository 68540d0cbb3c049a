import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, connect, type Socket } from 'node:net'
import { formatIPv6, parseProxyHeader, type ProxyParse } from '../../src/listeners/proxy-protocol.js'
import { ProxyHeaderError, readProxyHeader } from '../../src/listeners/proxy-stream.js'

/*
 * The PROXY protocol parser over hand-written bytes (HAProxy's proxy-protocol.txt), whole and
 * split at every byte, and the stream wrapper over a real socket pair.
 */

const V2_SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]

/** A v2 header: signature, version/command, family/transport, length, then `body`. */
function v2 (command: number, family: number, body: number[]): Buffer {
  return Buffer.from([...V2_SIG, 0x20 | command, family, body.length >> 8, body.length & 0xff, ...body])
}

const u16 = (n: number): number[] => [n >> 8, n & 0xff]

/** 192.0.2.10:51000 -> 198.51.100.1:1883 over TCP/IPv4, with one TLV (type 0x04 NOOP, 3 bytes). */
const V2_TCP4 = v2(1, 0x11, [192, 0, 2, 10, 198, 51, 100, 1, ...u16(51000), ...u16(1883), 0x04, 0x00, 0x03, 0xaa, 0xbb, 0xcc])
/** 2001:db8::1:51001 -> 2001:db8::2:8883 over TCP/IPv6. */
const V2_TCP6 = v2(1, 0x21, [
  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
  ...u16(51001), ...u16(8883)
])

function header (result: ProxyParse): Extract<ProxyParse, { kind: 'header' }> {
  assert.equal(result.kind, 'header', JSON.stringify(result))
  return result as Extract<ProxyParse, { kind: 'header' }>
}

/** Feeds `bytes` one more byte at a time: incomplete until the last header byte, then the header. */
function parsedByteByByte (bytes: Buffer, headerLength: number): ProxyParse {
  for (let n = 1; n < headerLength; n++) {
    assert.deepEqual(parseProxyHeader(bytes.subarray(0, n)), { kind: 'incomplete' }, `after ${n} of ${headerLength} bytes`)
  }
  return parseProxyHeader(bytes)
}

describe('parseProxyHeader: version 1', () => {
  it('reads TCP4 and TCP6 lines and tells where the MQTT bytes start', () => {
    const mqtt = Buffer.from([0x10, 0x0c])
    const line = Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 40001 1883\r\n')
    const r = header(parseProxyHeader(Buffer.concat([line, mqtt])))
    assert.equal(r.length, line.length)
    assert.deepEqual(r.header, { version: 1, command: 'proxy', source: { address: '203.0.113.7', port: 40001 }, destination: { address: '192.0.2.1', port: 1883 } })
    const six = header(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 65535 8883\r\n')))
    assert.deepEqual(six.header.source, { address: '2001:db8::7', port: 65535 })
  })

  it('reads UNKNOWN (with or without addresses) as "use the real endpoints"', () => {
    assert.deepEqual(header(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).header, { version: 1, command: 'proxy' })
    const r = header(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n')))
    assert.equal(r.header.source, undefined)
  })

  it('waits for more bytes at every split of the line', () => {
    const line = Buffer.from('PROXY TCP4 10.1.2.3 10.0.0.1 1234 1883\r\n')
    const r = header(parsedByteByByte(Buffer.concat([line, Buffer.from('MQTT')]), line.length))
    assert.deepEqual(r.header.source, { address: '10.1.2.3', port: 1234 })
  })

  it('refuses malformed lines', () => {
    for (const text of [
      'PROXY TCP4 10.1.2.3 10.0.0.1 1234\r\n', // a port missing
      'PROXY TCP4 10.1.2.3  10.0.0.1 1234 1883\r\n', // two spaces
      'PROXY TCP4 2001:db8::1 10.0.0.1 1234 1883\r\n', // an IPv6 address in TCP4
      'PROXY TCP6 10.1.2.3 10.0.0.1 1234 1883\r\n',
      'PROXY TCP4 10.1.2.3 10.0.0.1 65536 1883\r\n', // port out of range
      'PROXY TCP4 10.1.2.3 10.0.0.1 01234 1883\r\n', // leading zero
      'PROXY UDP4 10.1.2.3 10.0.0.1 1234 1883\r\n',
      `PROXY TCP4 ${'1'.repeat(120)}\r\n` // no CRLF in 107 bytes
    ]) {
      assert.equal(parseProxyHeader(Buffer.from(text)).kind, 'invalid', text)
    }
  })

  it('refuses a connection that starts with anything else at its first byte', () => {
    assert.equal(parseProxyHeader(Buffer.from([0x10, 0x0c, 0x00])).kind, 'invalid') // an MQTT CONNECT
    assert.equal(parseProxyHeader(Buffer.from('GET /mqtt HTTP/1.1\r\n')).kind, 'invalid')
    assert.equal(parseProxyHeader(Buffer.from('PROXX')).kind, 'invalid')
    assert.equal(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01])).kind, 'invalid') // a TLS ClientHello
  })
})

describe('parseProxyHeader: version 2', () => {
  it('reads TCP over IPv4, skipping TLVs, at every split', () => {
    const bytes = Buffer.concat([V2_TCP4, Buffer.from([0x10, 0x0c])])
    const r = header(parsedByteByByte(bytes, V2_TCP4.length))
    assert.equal(r.length, V2_TCP4.length)
    assert.deepEqual(r.header, { version: 2, command: 'proxy', source: { address: '192.0.2.10', port: 51000 }, destination: { address: '198.51.100.1', port: 1883 } })
  })

  it('reads TCP over IPv6', () => {
    const r = header(parseProxyHeader(V2_TCP6))
    assert.deepEqual(r.header.source, { address: '2001:db8::1', port: 51001 })
    assert.deepEqual(r.header.destination, { address: '2001:db8::2', port: 8883 })
  })

  it('reads LOCAL (a health check by the proxy itself) as "use the real endpoints"', () => {
    const r = header(parseProxyHeader(v2(0, 0x00, [])))
    assert.deepEqual(r.header, { version: 2, command: 'local' })
    assert.equal(r.length, 16)
  })

  it('reads UNSPEC and UNIX families without addresses', () => {
    assert.equal(header(parseProxyHeader(v2(1, 0x00, []))).header.source, undefined)
    assert.equal(header(parseProxyHeader(v2(1, 0x31, new Array<number>(216).fill(0)))).header.source, undefined)
  })

  it('refuses a bad signature, version, command, datagram transport or short address block', () => {
    assert.equal(parseProxyHeader(Buffer.from([...V2_SIG.slice(0, 5), 0x99])).kind, 'invalid')
    const bad = (b: Buffer, at: number, value: number): Buffer => { const c = Buffer.from(b); c[at] = value; return c }
    assert.equal(parseProxyHeader(bad(V2_TCP4, 12, 0x11)).kind, 'invalid') // version 1 in a v2 header
    assert.equal(parseProxyHeader(bad(V2_TCP4, 12, 0x22)).kind, 'invalid') // command 2
    assert.equal(parseProxyHeader(bad(V2_TCP4, 13, 0x12)).kind, 'invalid') // UDP over IPv4
    assert.equal(parseProxyHeader(bad(V2_TCP4, 13, 0x51)).kind, 'invalid') // family 5
    assert.equal(parseProxyHeader(v2(1, 0x21, new Array<number>(12).fill(1))).kind, 'invalid') // IPv6 needs 36 bytes
  })
})

describe('formatIPv6', () => {
  it('writes the short form, and mapped IPv4 as Node does', () => {
    const hex = (text: string): Buffer => Buffer.from(text.replace(/\s/g, ''), 'hex')
    assert.equal(formatIPv6(hex('20010db8 00000000 00000000 00000001')), '2001:db8::1')
    assert.equal(formatIPv6(hex('00000000 00000000 00000000 00000000')), '::')
    assert.equal(formatIPv6(hex('00000000 00000000 00000000 00000001')), '::1')
    assert.equal(formatIPv6(hex('20010db8 00010000 00010000 00000001')), '2001:db8:1:0:1::1')
    assert.equal(formatIPv6(hex('20010000 00000001 00000000 00000001')), '2001:0:0:1::1')
    assert.equal(formatIPv6(hex('20010000 00000001 00000000 00010001')), '2001::1:0:0:1:1') // a tie: the first run
    assert.equal(formatIPv6(hex('00000000 00000000 0000ffff c0000201')), '::ffff:192.0.2.1')
    assert.equal(formatIPv6(hex('fe800000 00000000 02000000 00000000')), 'fe80::200:0:0:0')
  })
})

describe('readProxyHeader over a socket', () => {
  /** A server socket and a client socket connected to it. */
  async function socketPair (): Promise<{ server: Socket, client: Socket, close: () => void }> {
    const srv = createServer()
    srv.listen(0, '127.0.0.1')
    await once(srv, 'listening')
    const address = srv.address()
    assert.ok(typeof address === 'object' && address !== null)
    const client = connect(address.port, '127.0.0.1')
    const [server] = await once(srv, 'connection') as [Socket]
    return { server, client, close: () => { client.destroy(); server.destroy(); srv.close() } }
  }

  it('takes the header off a stream written in pieces and hands on the rest unchanged', async () => {
    const { server, client, close } = await socketPair()
    try {
      const payload = Buffer.from('after the header: MQTT bytes \x00\x01\x02')
      const all = Buffer.concat([V2_TCP6, payload])
      const reading = readProxyHeader(server, 5000)
      // split inside the signature, inside the addresses and inside the payload
      for (const [from, to] of [[0, 5], [5, 30], [30, V2_TCP6.length + 4], [V2_TCP6.length + 4, all.length]] as const) {
        client.write(all.subarray(from, to))
        await new Promise((resolve) => setImmediate(resolve))
      }
      const h = await reading
      assert.deepEqual(h.source, { address: '2001:db8::1', port: 51001 })
      const rest: Buffer[] = []
      let length = 0
      server.on('data', (chunk: Buffer) => { rest.push(chunk); length += chunk.length })
      server.resume()
      while (length < payload.length) await once(server, 'data')
      assert.deepEqual(Buffer.concat(rest), payload)
    } finally {
      close()
    }
  })

  it('rejects invalid bytes, a timeout and an early close, each with its reason', async () => {
    const cases: Array<[string, (client: Socket) => void, number]> = [
      ['invalid', (c) => c.write('HELLO\r\n'), 5000],
      ['timeout', (c) => c.write('PROXY TCP4 '), 50],
      ['closed', (c) => c.end('PROXY TCP4 '), 5000]
    ]
    for (const [reason, act, timeoutMs] of cases) {
      const { server, client, close } = await socketPair()
      try {
        const reading = readProxyHeader(server, timeoutMs)
        act(client)
        await assert.rejects(reading, (err: unknown) => err instanceof ProxyHeaderError && err.reason === reason)
      } finally {
        close()
      }
    }
  })
})
