import { isIPv6 } from 'node:net'

/** A parsed listen or connect address. */
export interface HostPort {
  host: string
  port: number
}

/** The host a listener binds to when its `bind` is just a port. */
export const ANY_HOST = '0.0.0.0'

const HOSTNAME = /^[A-Za-z0-9._-]+$/
const PORT = /^[0-9]{1,5}$/

/** True for a host name, an IPv4 address or a bare (unbracketed) IPv6 address. */
export function isHost (host: string): boolean {
  return HOSTNAME.test(host) || isIPv6(host)
}

function parsePort (text: string): number | undefined {
  if (!PORT.test(text)) return undefined
  const port = Number(text)
  return port <= 65535 ? port : undefined
}

/**
 * Splits "host:port" or "[ipv6]:port" (and, with `hostOptional`, a bare "port");
 * undefined when the text is none of those or the port is not 0..65535.
 */
export function tryParseHostPort (text: string, hostOptional: boolean): HostPort | undefined {
  if (hostOptional && PORT.test(text)) {
    const port = parsePort(text)
    return port === undefined ? undefined : { host: ANY_HOST, port }
  }
  const bracketed = /^\[([^\]]+)\]:([^:]+)$/.exec(text)
  if (bracketed !== null) {
    const [, host = '', port = ''] = bracketed
    const parsed = parsePort(port)
    return isIPv6(host) && parsed !== undefined ? { host, port: parsed } : undefined
  }
  const colon = text.lastIndexOf(':')
  if (colon <= 0) return undefined
  const host = text.slice(0, colon)
  const port = parsePort(text.slice(colon + 1))
  return HOSTNAME.test(host) && port !== undefined ? { host, port } : undefined
}

/**
 * Parses a listener `bind`: "host:port", "[ipv6]:port" or just "port" (host 0.0.0.0).
 * Port 0 means any free port. Throws an Error naming the bad value.
 */
export function parseBind (bind: string): HostPort {
  const parsed = tryParseHostPort(bind, true)
  if (parsed === undefined) {
    throw new Error(`invalid bind address ${JSON.stringify(bind)}: expected host:port, [ipv6]:port or port, with port 0..65535`)
  }
  return parsed
}
