import { parseHashRecord, type HashRecord } from '../hash/password-hash.js'
import { parseScramCredentials, scramJson, type ScramCredentials } from '../scram/scram-credentials.js'
import { readJsonObject } from '../../util/json-record.js'

/*
 * The records of the users topic (`wharf.users`, compacted): key = user name, value = JSON with a
 * version field (a later version skips what it cannot read); an empty value is a tombstone that
 * deletes the user. A record holds the salted hash and its parameters, never the password, and
 * (since MQTT 5 enhanced authentication) the user's SCRAM credentials, an optional field that
 * older versions ignore: a record without it is read as before.
 */

export const USER_RECORD_VERSION = 1

export interface UserRecord {
  v: 1
  username: string
  superuser: boolean
  hash: HashRecord
  /** SCRAM-SHA-256/512 credentials, computed when the password was set (absent on older records and imports) */
  scram?: ScramCredentials | undefined
  /** epoch ms */
  createdAt: number
  updatedAt: number
}

/** A user name the users topic can hold: 1 to 65535 UTF-8 bytes (MQTT's limit), no NUL. */
export function isValidUsername (name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name) <= 65535 && !name.includes('\u0000')
}

export function encodeUserRecord (record: UserRecord): Buffer {
  const { v, username, superuser, hash, scram, createdAt, updatedAt } = record
  return Buffer.from(JSON.stringify({ v, username, superuser, hash, ...(scram === undefined ? {} : { scram: scramJson(scram) }), createdAt, updatedAt }))
}

/** The record, null for a tombstone, undefined for a value this version cannot read. */
export function decodeUserRecord (key: string, value: Buffer | null): UserRecord | null | undefined {
  const r = readJsonObject(value)
  if (r === null || r === undefined) return r
  if (r.v !== USER_RECORD_VERSION || r.username !== key || typeof r.superuser !== 'boolean') return undefined
  if (typeof r.createdAt !== 'number' || typeof r.updatedAt !== 'number') return undefined
  const hash = parseHashRecord(r.hash)
  if (hash === undefined) return undefined
  const scram = parseScramCredentials(r.scram)
  return { v: 1, username: key, superuser: r.superuser, hash, ...(scram === undefined ? {} : { scram }), createdAt: r.createdAt, updatedAt: r.updatedAt }
}

/** What `wharf users list` shows of a user: never the hash or salt. */
export interface UserSummary {
  username: string
  superuser: boolean
  algorithm: string
  createdAt: number
  updatedAt: number
}

export function summarize (r: UserRecord): UserSummary {
  const algorithm = r.hash.alg === 'pbkdf2' ? `pbkdf2-${r.hash.mac_fun}` : r.hash.alg
  return { username: r.username, superuser: r.superuser, algorithm, createdAt: r.createdAt, updatedAt: r.updatedAt }
}
