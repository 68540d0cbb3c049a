import { DISCONNECT_REASONS, type DisconnectReason, type Subscription } from './client-events.js'
import { readJsonObject } from '../util/json-record.js'

/*
 * The records of the clients topic (`wharf.clients`, compacted): key = client id, value = JSON with
 * a version field (a reader skips versions it does not know); an empty value is a tombstone. The
 * owning node writes one when a client's CONNACK went out, when its subscriptions change, and when
 * it goes; backends may read the topic as the cluster's client lifecycle stream.
 */

export const CLIENT_RECORD_VERSION = 1

export interface ClientRecord {
  v: 1
  clientId: string
  /** the owning node, its incarnation (a restart is another) and the connection's id */
  node: string
  inc: string
  conn: string
  connected: boolean
  username: string | null
  peerhost: string
  listener: string
  /** 3 = MQTT 3.1, 4 = MQTT 3.1.1 */
  protoVer: number
  clean: boolean
  keepalive: number
  /** a persistent session (clean = false) outlives the disconnect this long; 0 = forever */
  expiryS: number
  /** granted subscriptions: `[filter, qos]` */
  subs: Subscription[]
  /** epoch ms, the writer's clock */
  connectedAt: number
  disconnectedAt?: number
  reason?: DisconnectReason
  /** when this record was written */
  at: number
}

export function encodeClientRecord (record: ClientRecord): Buffer {
  return Buffer.from(JSON.stringify(record))
}

const isString = (v: unknown): v is string => typeof v === 'string'
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

function isSubscription (v: unknown): v is Subscription {
  return Array.isArray(v) && v.length === 2 && isString(v[0]) && isNumber(v[1])
}

/** The record, null for a tombstone, undefined for a value this version cannot read. */
export function decodeClientRecord (key: string, value: Buffer | null): ClientRecord | null | undefined {
  const r = readJsonObject(value)
  if (r === null || r === undefined) return r
  if (r.v !== CLIENT_RECORD_VERSION || r.clientId !== key) return undefined
  if (!isString(r.node) || !isString(r.inc) || !isString(r.conn) || typeof r.connected !== 'boolean') return undefined
  if (!(r.username === null || isString(r.username)) || !isString(r.peerhost) || !isString(r.listener)) return undefined
  if (!isNumber(r.protoVer) || typeof r.clean !== 'boolean' || !isNumber(r.keepalive) || !isNumber(r.expiryS)) return undefined
  if (!Array.isArray(r.subs) || !r.subs.every(isSubscription) || !isNumber(r.connectedAt) || !isNumber(r.at)) return undefined
  if (r.disconnectedAt !== undefined && !isNumber(r.disconnectedAt)) return undefined
  if (r.reason !== undefined && !DISCONNECT_REASONS.includes(r.reason as DisconnectReason)) return undefined
  return r as unknown as ClientRecord
}
