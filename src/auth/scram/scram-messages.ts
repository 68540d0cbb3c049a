/*
 * The SCRAM messages of RFC 5802 (section 7) as the server reads and writes them. Channel binding
 * is not offered (no `-PLUS` mechanism): a client asking for it (`p=`) is refused, one that could
 * but thinks the server cannot (`y`) or does not (`n`) is accepted. An authorization identity
 * (`a=`) is not supported. Pure functions.
 */

/** A message that does not follow RFC 5802's grammar (the client is refused as a failed login). */
export class ScramMessageError extends Error {
  override readonly name = 'ScramMessageError'
}

export interface ClientFirst {
  /** the user name, `=2C` and `=3D` decoded */
  username: string
  nonce: string
  /** `client-first-message-bare`, part of the AuthMessage */
  bare: string
  /** the GS2 header (`n,,`), which the client-final-message's `c=` must repeat */
  gs2Header: string
}

export interface ClientFinal {
  /** `c=` decoded */
  channelBinding: Buffer
  nonce: string
  proof: Buffer
  /** `client-final-message-without-proof`, part of the AuthMessage */
  withoutProof: string
}

/** `saslname`: `=2C` is `,` and `=3D` is `=`; any other `=` is malformed. */
function decodeSaslName (s: string): string {
  if (/=(?!2C|3D)/.test(s)) throw new ScramMessageError('user name with a bad = escape')
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=')
}

function attribute (part: string | undefined, name: string): string {
  if (part === undefined || !part.startsWith(`${name}=`)) throw new ScramMessageError(`expected ${name}=`)
  return part.slice(name.length + 1)
}

const PRINTABLE_NONCE = /^[\x21-\x2B\x2D-\x7E]+$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

export function parseClientFirst (message: string): ClientFirst {
  const parts = message.split(',')
  const cbFlag = parts[0]
  if (cbFlag !== 'n' && cbFlag !== 'y') throw new ScramMessageError(cbFlag?.startsWith('p=') === true ? 'channel binding is not offered' : 'bad GS2 header')
  if (parts[1] !== '') throw new ScramMessageError('an authorization identity is not supported')
  const bareParts = parts.slice(2)
  if (bareParts[0]?.startsWith('m=') === true) throw new ScramMessageError('mandatory extension not supported')
  const username = decodeSaslName(attribute(bareParts[0], 'n'))
  const nonce = attribute(bareParts[1], 'r')
  if (username === '' || !PRINTABLE_NONCE.test(nonce)) throw new ScramMessageError('empty user name or bad nonce')
  return { username, nonce, bare: bareParts.join(','), gs2Header: `${cbFlag},,` }
}

export function parseClientFinal (message: string): ClientFinal {
  const parts = message.split(',')
  const c = attribute(parts[0], 'c')
  const nonce = attribute(parts[1], 'r')
  const p = attribute(parts[parts.length - 1], 'p')
  if (parts.length < 3 || !BASE64.test(c) || !BASE64.test(p) || p === '') throw new ScramMessageError('bad client-final-message')
  return { channelBinding: Buffer.from(c, 'base64'), nonce, proof: Buffer.from(p, 'base64'), withoutProof: parts.slice(0, -1).join(',') }
}

export function serverFirst (nonce: string, salt: Buffer, iterations: number): string {
  return `r=${nonce},s=${salt.toString('base64')},i=${iterations}`
}

export function serverFinal (serverSignature: Buffer): string {
  return `v=${serverSignature.toString('base64')}`
}
