import { normalizeIp } from '../authz/acl-rule.js'
import { readJsonObject } from '../../util/json-record.js'

/*
 * The records of the banned topic (`wharf.banned`, compacted): key `clientid:<id>`,
 * `username:<name>` or `peerhost:<ip>`; value JSON `{v, by, reason, at, until}` (epoch ms; `until`
 * null = until deleted). An empty value is a tombstone (the ban is lifted). Every node applies the
 * same records, so a client banned on one node is refused on all of them.
 */

export const BAN_KINDS = ['clientid', 'username', 'peerhost'] as const
export type BanKind = typeof BAN_KINDS[number]

export interface BanRecord {
  v: 1
  kind: BanKind
  value: string
  /** who banned: `flapping_detect` (automatic), or the operator (`wharf banned add --by`) */
  by: string
  reason: string
  at: number
  until: number | null
}

export function banKey (kind: BanKind, value: string): string {
  return `${kind}:${kind === 'peerhost' ? normalizeIp(value) : value}`
}

/** The kind and value of a key, or undefined when it is not a ban key. */
export function parseBanKey (key: string): { kind: BanKind; value: string } | undefined {
  const cut = key.indexOf(':')
  const kind = key.slice(0, cut) as BanKind
  if (cut <= 0 || !BAN_KINDS.includes(kind) || cut === key.length - 1) return undefined
  return { kind, value: key.slice(cut + 1) }
}

export function encodeBanRecord (r: BanRecord): Buffer {
  return Buffer.from(JSON.stringify({ v: r.v, by: r.by, reason: r.reason, at: r.at, until: r.until }))
}

/** The record, null for a tombstone, undefined for what this version cannot read. */
export function decodeBanRecord (key: string, value: Buffer | null): BanRecord | null | undefined {
  const k = parseBanKey(key)
  if (k === undefined) return undefined
  const v = readJsonObject(value)
  if (v === null || v === undefined) return v
  if (v.v !== 1 || typeof v.by !== 'string' || typeof v.reason !== 'string' || typeof v.at !== 'number') return undefined
  if (v.until !== null && typeof v.until !== 'number') return undefined
  return { v: 1, kind: k.kind, value: k.value, by: v.by, reason: v.reason, at: v.at, until: v.until }
}
