import { isIP } from 'node:net'

/** An address block: `10.0.0.0/8`, `fd00::/8`, or one address (the whole prefix). */
export interface Cidr {
  address: string
  prefix: number
  family: 'ipv4' | 'ipv6'
}

/**
 * Reads "address/prefix" or a bare address (a block of one); undefined when the text is neither
 * or the prefix is out of range for the address family. Kept here (not in the listeners) so the
 * configuration schema can reject a bad entry at load time.
 */
export function tryParseCidr (text: string): Cidr | undefined {
  const slash = text.indexOf('/')
  const address = (slash < 0 ? text : text.slice(0, slash)).trim()
  const version = isIP(address)
  if (version === 0) return undefined
  const max = version === 4 ? 32 : 128
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1).trim()
  if (!/^[0-9]{1,3}$/.test(prefixText)) return undefined
  const prefix = Number(prefixText)
  if (prefix > max) return undefined
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' }
}
