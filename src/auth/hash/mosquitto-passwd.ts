import type { HashRecord } from './password-hash.js'

/*
 * Mosquitto password files (`mosquitto_passwd`), one `user:hash` a line:
 *   `$7$<iterations>$<base64 salt>$<base64 hash>`: PBKDF2-HMAC-SHA512, 64-byte key (Mosquitto >= 2.0)
 *   `$6$<base64 salt>$<base64 hash>`: SHA512(password + salt) (Mosquitto 1.x, `-H sha512`)
 * Both map onto Wharf's own algorithms (pbkdf2 sha512 / sha512 with the salt as suffix, no
 * pepper), so imported users log in with their existing passwords and need nothing special.
 */

export interface MosquittoUser {
  username: string
  hash: HashRecord
}

/** A line that is not a Mosquitto password entry: the file's line number and why (never the line itself). */
export class MosquittoPasswdError extends Error {
  override readonly name = 'MosquittoPasswdError'
  constructor (readonly line: number, problem: string) {
    super(`line ${line}: ${problem}`)
  }
}

const B64 = '([A-Za-z0-9+/]+={0,2})'
const SHA512_PBKDF2 = new RegExp(`^\\$7\\$(\\d{1,9})\\$${B64}\\$${B64}$`)
const SHA512 = new RegExp(`^\\$6\\$${B64}\\$${B64}$`)

/** One entry's hash part as a HashRecord, or undefined when it is neither `$6$` nor `$7$`. */
export function parseMosquittoHash (hash: string): HashRecord | undefined {
  const p = SHA512_PBKDF2.exec(hash)
  if (p !== null) {
    const iterations = Number(p[1])
    const dk = Buffer.from(p[3] as string, 'base64')
    if (iterations < 1 || dk.length === 0) return undefined
    return { alg: 'pbkdf2', mac_fun: 'sha512', iterations, dk_length: dk.length, salt: p[2] as string, hash: p[3] as string }
  }
  const s = SHA512.exec(hash)
  if (s !== null) return { alg: 'sha512', salt_position: 'suffix', salt: s[1] as string, hash: s[2] as string }
  return undefined
}

/**
 * Every user of a Mosquitto password file. Blank lines and `#` comments are skipped; anything
 * else that is not `name:$6$...` or `name:$7$...` (e.g. a plain-text file never run through
 * `mosquitto_passwd -U`) throws naming the line.
 */
export function parseMosquittoPasswd (text: string): MosquittoUser[] {
  const users: MosquittoUser[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim()
    if (line === '' || line.startsWith('#')) continue
    const cut = line.indexOf(':')
    if (cut <= 0) throw new MosquittoPasswdError(i + 1, 'expected user:hash')
    const hash = parseMosquittoHash(line.slice(cut + 1))
    if (hash === undefined) throw new MosquittoPasswdError(i + 1, 'not a $6$ or $7$ hash (plain-text passwords are not imported; run mosquitto_passwd -U first)')
    users.push({ username: line.slice(0, cut), hash })
  }
  return users
}
