import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import bcrypt from 'bcryptjs'

/*
 * Password hashing with EMQX's `password_hash_algorithm` shapes. A stored hash says its algorithm
 * and parameters (a HashRecord), so users hashed under older settings keep verifying after the
 * defaults change; only new and changed passwords take the current settings.
 *
 * The pepper (`authentication.password_hash_salt`, a node-wide secret kept out of Kafka): when set,
 * the password is first replaced by HMAC-SHA256(pepper, password) and that goes into the
 * algorithm. A copy of the users topic alone then cannot be brute-forced. The record keeps a
 * short pepper id (HMAC of a constant under the pepper, not the pepper), so a record hashed under
 * another pepper is recognised as such and reported instead of failing silently. Changing the
 * pepper makes every peppered password fail: users must be given new passwords (`wharf users
 * passwd`). Records written without a pepper (imports, or before one was set) keep verifying
 * without it.
 */

const pbkdf2Async = promisify(pbkdf2)

export const HASH_ALGORITHMS = ['pbkdf2', 'bcrypt', 'sha256', 'sha512', 'plain'] as const
export type HashAlgorithmName = typeof HASH_ALGORITHMS[number]

/** `authentication.password_hash_algorithm`: how new passwords are hashed. */
export type HashSettings =
  | { name: 'pbkdf2'; mac_fun: 'sha256' | 'sha512'; iterations: number; dk_length: number }
  | { name: 'bcrypt'; salt_rounds: number }
  | { name: 'sha256' | 'sha512'; salt_position: 'prefix' | 'suffix' }
  | { name: 'plain' }

/** The default: PBKDF2-HMAC-SHA256 (cost per login: docs/benchmarks.md, "Authentication cost"). */
export const DEFAULT_HASH_SETTINGS: HashSettings = { name: 'pbkdf2', mac_fun: 'sha256', iterations: 27500, dk_length: 32 }

/** Salt and hash are base64; `pepper` is the id of the pepper mixed in (absent: none). */
export type HashRecord =
  | { alg: 'pbkdf2'; mac_fun: 'sha256' | 'sha512'; iterations: number; dk_length: number; salt: string; hash: string; pepper?: string }
  | { alg: 'bcrypt'; hash: string; pepper?: string }
  | { alg: 'sha256' | 'sha512'; salt_position: 'prefix' | 'suffix'; salt: string; hash: string; pepper?: string }
  | { alg: 'plain'; hash: string }

const SALT_BYTES = 16

/** The short id of a pepper that a record keeps (8 hex digits; reveals nothing usable about it). */
export function pepperId (pepper: string): string {
  return createHmac('sha256', pepper).update('wharf password_hash_salt id').digest('hex').slice(0, 8)
}

function mix (password: Buffer, pepper: string | undefined): Buffer {
  return pepper === undefined ? password : createHmac('sha256', pepper).update(password).digest()
}

/** bcrypt reads at most this many bytes and ignores the rest. */
const BCRYPT_MAX_BYTES = 72

/** A password bcrypt would cut short (without a pepper): refused rather than silently truncated. */
export class PasswordTooLongError extends Error {
  override readonly name = 'PasswordTooLongError'
  constructor () {
    super(`bcrypt uses only the first ${BCRYPT_MAX_BYTES} bytes of a password; use a shorter one, pbkdf2, or a password_hash_salt`)
  }
}

/**
 * bcrypt takes a string: the peppered bytes as base64 (44 characters, under bcrypt's 72-byte
 * limit), or the password itself, which must then fit in 72 bytes.
 */
function bcryptInput (password: Buffer, pepper: string | undefined): string | undefined {
  if (pepper !== undefined) return mix(password, pepper).toString('base64')
  return password.length > BCRYPT_MAX_BYTES ? undefined : password.toString('utf8')
}

function saltedDigest (alg: 'sha256' | 'sha512', position: 'prefix' | 'suffix', salt: Buffer, input: Buffer): Buffer {
  const h = createHash(alg)
  if (position === 'prefix') h.update(salt).update(input)
  else h.update(input).update(salt)
  return h.digest()
}

/** Hashes a new password with a fresh random salt; `pepper` is `password_hash_salt` when set. */
export async function hashPassword (password: Buffer, settings: HashSettings, pepper?: string): Promise<HashRecord> {
  const id = pepper === undefined ? {} : { pepper: pepperId(pepper) }
  switch (settings.name) {
    case 'pbkdf2': {
      const salt = randomBytes(SALT_BYTES)
      const dk = await pbkdf2Async(mix(password, pepper), salt, settings.iterations, settings.dk_length, settings.mac_fun)
      return { alg: 'pbkdf2', mac_fun: settings.mac_fun, iterations: settings.iterations, dk_length: settings.dk_length, salt: salt.toString('base64'), hash: dk.toString('base64'), ...id }
    }
    case 'bcrypt': {
      const input = bcryptInput(password, pepper)
      if (input === undefined) throw new PasswordTooLongError()
      return { alg: 'bcrypt', hash: await bcrypt.hash(input, settings.salt_rounds), ...id }
    }
    case 'sha256':
    case 'sha512': {
      const salt = randomBytes(SALT_BYTES)
      const hash = saltedDigest(settings.name, settings.salt_position, salt, mix(password, pepper))
      return { alg: settings.name, salt_position: settings.salt_position, salt: salt.toString('base64'), hash: hash.toString('base64'), ...id }
    }
    case 'plain':
      return { alg: 'plain', hash: password.toString('base64') }
  }
}

/** Equal in constant time for equal lengths; different lengths are unequal (the length is not secret). */
export function constantTimeEqual (a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a)
    return false
  }
  return timingSafeEqual(a, b)
}

/** Why verification could not even be tried; `ok: false` alone is a wrong password. */
export type VerifyResult = { ok: boolean; problem?: 'pepper_missing' | 'pepper_changed' }

/**
 * Checks a password against a stored record, with the parameters the record names. A record
 * hashed under a pepper that is not (or no longer) configured cannot verify: `problem` says so, for
 * the operator's log (the client only sees a wrong password).
 */
export async function verifyPassword (password: Buffer, record: HashRecord, pepper?: string): Promise<VerifyResult> {
  let usePepper: string | undefined
  if (record.alg !== 'plain' && record.pepper !== undefined) {
    if (pepper === undefined) return { ok: false, problem: 'pepper_missing' }
    if (pepperId(pepper) !== record.pepper) return { ok: false, problem: 'pepper_changed' }
    usePepper = pepper
  }
  switch (record.alg) {
    case 'pbkdf2': {
      const expected = Buffer.from(record.hash, 'base64')
      const dk = await pbkdf2Async(mix(password, usePepper), Buffer.from(record.salt, 'base64'), record.iterations, expected.length, record.mac_fun)
      return { ok: constantTimeEqual(dk, expected) }
    }
    case 'bcrypt': {
      const input = bcryptInput(password, usePepper)
      return { ok: input !== undefined && await bcrypt.compare(input, record.hash) }
    }
    case 'sha256':
    case 'sha512': {
      const digest = saltedDigest(record.alg, record.salt_position, Buffer.from(record.salt, 'base64'), mix(password, usePepper))
      return { ok: constantTimeEqual(digest, Buffer.from(record.hash, 'base64')) }
    }
    case 'plain':
      return { ok: constantTimeEqual(password, Buffer.from(record.hash, 'base64')) }
  }
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const isB64 = (v: unknown): v is string => typeof v === 'string' && BASE64.test(v)
const isPosInt = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max

/** A HashRecord read from Kafka, or undefined when it is not one this version can verify. */
export function parseHashRecord (v: unknown): HashRecord | undefined {
  if (!isObject(v)) return undefined
  const pepper = typeof v.pepper === 'string' ? { pepper: v.pepper } : {}
  switch (v.alg) {
    case 'pbkdf2':
      if ((v.mac_fun !== 'sha256' && v.mac_fun !== 'sha512') || !isPosInt(v.iterations, 100_000_000) || !isPosInt(v.dk_length, 1024) || !isB64(v.salt) || !isB64(v.hash)) return undefined
      return { alg: 'pbkdf2', mac_fun: v.mac_fun, iterations: v.iterations, dk_length: v.dk_length, salt: v.salt, hash: v.hash, ...pepper }
    case 'bcrypt':
      if (typeof v.hash !== 'string' || !/^\$2[abxy]?\$\d\d\$/.test(v.hash)) return undefined
      return { alg: 'bcrypt', hash: v.hash, ...pepper }
    case 'sha256':
    case 'sha512':
      if ((v.salt_position !== 'prefix' && v.salt_position !== 'suffix') || !isB64(v.salt) || !isB64(v.hash)) return undefined
      return { alg: v.alg, salt_position: v.salt_position, salt: v.salt, hash: v.hash, ...pepper }
    case 'plain':
      return isB64(v.hash) ? { alg: 'plain', hash: v.hash } : undefined
    default:
      return undefined
  }
}
