import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readJsonObject } from '../../util/json-record.js'

/*
 * The records of the API keys topic (`wharf.api-keys`, compacted): key = the key's name, value =
 * JSON with a version field; an empty value deletes the key. A record holds a salted HMAC-SHA256
 * of the secret, never the secret. The secrets are 32 random bytes made by `wharf api-keys add`
 * (not chosen by people), so one fast keyed hash is enough: guessing 256 bits is not a threat that
 * slow hashing would change, and checking a key costs every API request microseconds.
 */

export const API_KEY_RECORD_VERSION = 1

export interface ApiKeyRecord {
  v: 1
  name: string
  /** base64 */
  salt: string
  /** base64 HMAC-SHA256(salt, secret) */
  hash: string
  desc: string
  /** epoch ms */
  createdAt: number
  /** epoch ms; null = never */
  expiresAt: number | null
}

/** Letters, digits, `_`, `.`, `-`; 1 to 64 (no `:`, which separates name and secret in basic auth). */
export const API_KEY_NAME = /^[A-Za-z0-9_.-]{1,64}$/

/** A new random secret: 32 bytes, base64url (43 characters). */
export function newSecret (): string {
  return randomBytes(32).toString('base64url')
}

function digest (salt: Buffer, secret: string): Buffer {
  return createHmac('sha256', salt).update(secret, 'utf8').digest()
}

/** The record of a new key `name` with `secret`. */
export function apiKeyRecord (name: string, secret: string, desc: string, expiresAt: number | null, now = Date.now()): ApiKeyRecord {
  const salt = randomBytes(16)
  return { v: 1, name, salt: salt.toString('base64'), hash: digest(salt, secret).toString('base64'), desc, createdAt: now, expiresAt }
}

/** Does `secret` match the record (constant time)? */
export function secretMatches (record: Pick<ApiKeyRecord, 'salt' | 'hash'>, secret: string): boolean {
  const expected = Buffer.from(record.hash, 'base64')
  const actual = digest(Buffer.from(record.salt, 'base64'), secret)
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

export function encodeApiKeyRecord (record: ApiKeyRecord): Buffer {
  const { v, name, salt, hash, desc, createdAt, expiresAt } = record
  return Buffer.from(JSON.stringify({ v, name, salt, hash, desc, createdAt, expiresAt }))
}

/** The record, null for a tombstone, undefined for a value this version cannot read. */
export function decodeApiKeyRecord (key: string, value: Buffer | null): ApiKeyRecord | null | undefined {
  const r = readJsonObject(value)
  if (r === null || r === undefined) return r
  if (r.v !== API_KEY_RECORD_VERSION || r.name !== key || typeof r.salt !== 'string' || typeof r.hash !== 'string') return undefined
  if (typeof r.desc !== 'string' || typeof r.createdAt !== 'number' || !(r.expiresAt === null || typeof r.expiresAt === 'number')) return undefined
  return { v: 1, name: key, salt: r.salt, hash: r.hash, desc: r.desc, createdAt: r.createdAt, expiresAt: r.expiresAt }
}
