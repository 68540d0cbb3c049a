import { isIPv4, isIPv6 } from 'node:net'
import type { Endpoint } from './connection.js'

/*
 * The PROXY protocol (HAProxy, cloud load balancers): a header a proxy writes first on the TCP
 * connection it opens to us, naming the client it accepted. Version 1 is a text line, version 2
 * binary. Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */

/** What a PROXY header says. `source`/`destination` are absent when the real endpoints apply. */
export interface ProxyHeader {
  version: 1 | 2
  /** `local`: the proxy's own connection (e.g. a health check), not a relayed client. */
  command: 'proxy' | 'local'
  source?: Endpoint
  destination?: Endpoint
}

/** The outcome of reading the bytes received so far. */
export type ProxyParse =
  | { kind: 'incomplete' }
  | { kind: 'invalid', reason: string }
  /** `length`: the header's bytes; what follows belongs to the connection. */
  | { kind: 'header', header: ProxyHeader, length: number }

const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
/** The longest v1 line, CRLF included (spec section 2.1). */
const V1_MAX = 107
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V2_FIXED = 16
const PORT = /^(0|[1-9][0-9]{0,4})$/

const INCOMPLETE: ProxyParse = { kind: 'incomplete' }
const invalid = (reason: string): ProxyParse => ({ kind: 'invalid', reason })

/** True when `data` is a prefix of `expected` or starts with all of it. */
function startsLike (data: Buffer, expected: Buffer): boolean {
  const n = Math.min(data.length, expected.length)
  return data.subarray(0, n).equals(expected.subarray(0, n))
}

function port (text: string): number | undefined {
  if (!PORT.test(text)) return undefined
  const n = Number(text)
  return n <= 65535 ? n : undefined
}

/** `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN ...\r\n`. */
function parseV1 (data: Buffer): ProxyParse {
  const end = data.subarray(0, V1_MAX).indexOf('\r\n')
  if (end < 0) return data.length >= V1_MAX ? invalid('v1 line without CRLF in 107 bytes') : INCOMPLETE
  const fields = data.subarray(0, end).toString('latin1').split(' ')
  const length = end + 2
  if (fields[1] === 'UNKNOWN') return { kind: 'header', header: { version: 1, command: 'proxy' }, length }
  const [, family, src, dst, sport, dport] = fields
  if (fields.length !== 6 || (family !== 'TCP4' && family !== 'TCP6')) return invalid('v1 line is not "PROXY TCP4|TCP6 src dst sport dport"')
  const isFamily = family === 'TCP4' ? isIPv4 : isIPv6
  if (src === undefined || dst === undefined || !isFamily(src) || !isFamily(dst)) return invalid(`v1 addresses are not ${family}`)
  const sourcePort = port(sport ?? '')
  const destinationPort = port(dport ?? '')
  if (sourcePort === undefined || destinationPort === undefined) return invalid('v1 ports are not 0 to 65535')
  return {
    kind: 'header',
    header: { version: 1, command: 'proxy', source: { address: src, port: sourcePort }, destination: { address: dst, port: destinationPort } },
    length
  }
}

/** An IPv6 address in the short form Node uses (`::ffff:1.2.3.4` for a mapped IPv4 address). */
export function formatIPv6 (bytes: Buffer): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i))
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${[...bytes.subarray(12, 16)].join('.')}`
  // the longest run of two or more zero groups becomes "::" (the first such run on a tie)
  let best = { at: -1, len: 1 }
  for (let i = 0; i < 8;) {
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > best.len) best = { at: i, len: j - i }
    i = j === i ? i + 1 : j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best.at < 0) return hex.join(':')
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`
}

/** The v2 address block for TCP over IPv4 or IPv6 (family 0x11 / 0x21). */
function v2Addresses (family: number, block: Buffer): { source: Endpoint, destination: Endpoint } | undefined {
  if (family === 0x11 && block.length >= 12) {
    return {
      source: { address: [...block.subarray(0, 4)].join('.'), port: block.readUInt16BE(8) },
      destination: { address: [...block.subarray(4, 8)].join('.'), port: block.readUInt16BE(10) }
    }
  }
  if (family === 0x21 && block.length >= 36) {
    return {
      source: { address: formatIPv6(block.subarray(0, 16)), port: block.readUInt16BE(32) },
      destination: { address: formatIPv6(block.subarray(16, 32)), port: block.readUInt16BE(34) }
    }
  }
  return undefined
}

/** Signature, version/command, family/transport, length, addresses, then TLVs (skipped). */
function parseV2 (data: Buffer): ProxyParse {
  if (data.length < V2_FIXED) return INCOMPLETE
  const versionCommand = data[12] ?? 0
  const family = data[13] ?? 0
  const length = V2_FIXED + data.readUInt16BE(14)
  if (versionCommand >> 4 !== 2) return invalid(`v2 version ${versionCommand >> 4}`)
  const command = versionCommand & 0x0f
  if (command > 1) return invalid(`v2 command ${command}`)
  if (data.length < length) return INCOMPLETE
  if (command === 0) return { kind: 'header', header: { version: 2, command: 'local' }, length }
  const transport = family & 0x0f
  if (family >> 4 > 3 || transport > 2) return invalid(`v2 family/transport 0x${family.toString(16)}`)
  if (transport === 2) return invalid('v2 datagram transport on a stream connection')
  if (family === 0x11 || family === 0x21) {
    const addresses = v2Addresses(family, data.subarray(V2_FIXED, length))
    if (addresses === undefined) return invalid('v2 address block shorter than its family needs')
    return { kind: 'header', header: { version: 2, command: 'proxy', ...addresses }, length }
  }
  // UNSPEC or UNIX sockets: a relayed connection whose endpoints mean nothing here (spec 2.2)
  return { kind: 'header', header: { version: 2, command: 'proxy' }, length }
}

/**
 * Reads a PROXY protocol v1 or v2 header from the first bytes of a connection. Call again with
 * more bytes while the result is `incomplete`. Anything that starts otherwise is `invalid` at once.
 */
export function parseProxyHeader (data: Buffer): ProxyParse {
  if (data.length === 0) return INCOMPLETE
  if (data[0] === V2_SIGNATURE[0]) {
    if (!startsLike(data, V2_SIGNATURE)) return invalid('not a PROXY protocol v2 signature')
    return data.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(data)
  }
  if (!startsLike(data, V1_PREFIX)) return invalid('neither a PROXY protocol v1 nor v2 header')
  return data.length < V1_PREFIX.length ? INCOMPLETE : parseV1(data)
}
