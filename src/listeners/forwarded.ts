import type { IncomingHttpHeaders } from 'node:http'
import { BlockList, isIP, isIPv4 } from 'node:net'
import { tryParseCidr } from '../config/cidr.js'
import type { Endpoint } from './connection.js'

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i

/** The peers whose proxy headers are believed (`websocket.trusted_proxies`). */
export class TrustedProxies {
  private readonly blocks = new BlockList()
  readonly empty: boolean

  /** `cidrs` were checked by the configuration schema; an unreadable one is skipped. */
  constructor (cidrs: readonly string[]) {
    let added = 0
    for (const text of cidrs) {
      const cidr = tryParseCidr(text)
      if (cidr === undefined) continue
      this.blocks.addSubnet(cidr.address, cidr.prefix, cidr.family)
      added++
    }
    this.empty = added === 0
  }

  /** True for an address inside one of the blocks; `::ffff:a.b.c.d` also counts as `a.b.c.d`. */
  has (address: string): boolean {
    if (this.empty) return false
    const mapped = MAPPED_V4.exec(address)?.[1]
    if (mapped !== undefined && this.blocks.check(mapped, 'ipv4')) return true
    const family = isIP(address)
    return family !== 0 && this.blocks.check(address, family === 4 ? 'ipv4' : 'ipv6')
  }
}

/** An X-Forwarded-For entry as an address: brackets and a port (`[::1]:80`, `1.2.3.4:80`) dropped. */
function entryAddress (entry: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry)?.[1]
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(entry)?.[1]
  const address = bracketed ?? v4WithPort ?? entry
  return isIP(address) === 0 ? undefined : address
}

function headerText (headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value.join(',') : value
}

export interface ForwardedOptions {
  /** `proxy_address_header`, lowercase (x-forwarded-for) */
  addressHeader: string
  /** `proxy_port_header`, lowercase; absent = the port is unknown (0) */
  portHeader?: string | undefined
  trusted: TrustedProxies
}

/**
 * The client behind HTTP proxies. The header is believed only when `peer` (the TCP peer, or the
 * PROXY header's source) is a trusted proxy; then the list is walked from the right — each entry
 * was appended by the hop before — past the trusted proxies, and the first untrusted address is
 * the client. An entry that is not an address stops the walk at the hop after it: whatever is
 * left of it may have been written by the client itself.
 */
export function forwardedPeer (peer: Endpoint, headers: IncomingHttpHeaders, o: ForwardedOptions): Endpoint {
  if (!o.trusted.has(peer.address)) return peer
  const text = headerText(headers, o.addressHeader)
  if (text === undefined) return peer
  let client: string | undefined
  for (const entry of text.split(',').map((e) => e.trim()).reverse()) {
    const address = entryAddress(entry)
    if (address === undefined) break
    client = address
    if (!o.trusted.has(address)) break
  }
  if (client === undefined) return peer
  const portText = o.portHeader === undefined ? undefined : headerText(headers, o.portHeader)?.split(',').pop()?.trim()
  const port = portText !== undefined && /^\d{1,5}$/.test(portText) && Number(portText) <= 65535 ? Number(portText) : 0
  return { address: isIPv4(client) ? client : client.toLowerCase(), port }
}
