import type { Qos } from '../protocol/message.js'
import type { SubscriptionOptions } from '../protocol/subscription-options.js'
import type { PropertiesJson } from '../mapping/properties-json.js'

/**
 * The records of the sessions topic (`wharf.sessions`, compacted). Key `<clientId>`: the persistent
 * session of a client that connected with clean session = 0 (`<clientId>#session` when the client
 * id itself ends in `#will` or `#session`, see `sessionKey`). Key `<clientId>#will`: the will of a
 * connected client (any session kind), removed (tombstone) when the will is published or discarded.
 * Values are JSON with a version field, so that a later version can read what this one wrote and
 * skip what it does not understand. Offsets are decimal strings (Kafka offsets are 64-bit).
 */

export const SESSION_RECORD_VERSION = 1

/** Who holds a session: one connection on one run (incarnation) of one node. */
export interface Owner {
  node: string
  /** the node process' incarnation id: a restarted node with the same name is another incarnation */
  inc: string
  /** the connection's id (the takeover claim's) */
  conn: string
}

/** A QoS 1/2 delivery the client has not completed yet. */
export interface UnackedDelivery {
  /** Kafka topic, partition and offset of the record delivered */
  t: string
  p: number
  o: string
  /** packet identifier used towards the client; 0 when the record was handed over but not written yet */
  id: number
  qos: 1 | 2
  /** QoS 2: PUBREC received, PUBREL sent, PUBCOMP outstanding */
  rel: boolean
}

export interface SessionRecord {
  v: 1
  clientId: string
  owner: Owner
  connected: boolean
  /** last write, by the writer's clock */
  at: number
  /** when the client went away (absent while connected) */
  disconnectedAt?: number
  /** seconds after the disconnect when the session may be deleted; 0 = never */
  expiryS: number
  /**
   * topic filter -> granted QoS, and the MQTT 5 subscription options when any differs from 3.1.1's
   * defaults (`{ nl, rap, rh, id }`, `protocol/subscription-options.ts`). The third element is
   * new in the same record version: a reader that predates it takes the first two, and a record
   * written before it reads as the defaults.
   */
  subs: SessionSubscription[]
  /**
   * Per Kafka topic, per partition: the next offset to consider. Every record below it that matches
   * the subscriptions has been served (QoS 0 sent, QoS 1/2 completed) except those in `unacked`.
   */
  cursors: Record<string, Record<string, string>>
  unacked: UnackedDelivery[]
}

/** One subscription of a session record: `[filter, qos]`, or `[filter, qos, options]` for MQTT 5 options. */
export type SessionSubscription = [string, Qos] | [string, Qos, SubscriptionOptions]

export interface WillMessage {
  topic: string
  /** base64 */
  payload: string
  qos: Qos
  retain: boolean
  /** MQTT 5 will properties that travel with the message (absent: none) */
  properties?: PropertiesJson
}

export interface WillRecord {
  v: 1
  clientId: string
  owner: Owner
  at: number
  will: WillMessage
  /**
   * MQTT 5 Will Delay Interval, seconds, capped by the Session Expiry Interval (absent or 0: the will
   * goes out as the connection ends). It counts from `disconnectedAt`, or from the owner's death.
   */
  delayS?: number
  /** when the connection ended abnormally (its will then waits `delayS`; absent while connected) */
  disconnectedAt?: number
}

const WILL_SUFFIX = '#will'
const SESSION_SUFFIX = '#session'

/**
 * The key of a client's session. A client id that ends in `#will` would otherwise collide with the
 * will key of another client (`a#will` is the will of `a`), so such ids, and those ending in
 * `#session` to keep the mapping one-to-one, get `#session` appended.
 */
export function sessionKey (clientId: string): string {
  return clientId.endsWith(WILL_SUFFIX) || clientId.endsWith(SESSION_SUFFIX) ? clientId + SESSION_SUFFIX : clientId
}
export function willKey (clientId: string): string { return `${clientId}${WILL_SUFFIX}` }

export type SessionsTopicEntry =
  | { kind: 'session'; clientId: string; record: SessionRecord | null }
  | { kind: 'will'; clientId: string; record: WillRecord | null }

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isOwner (v: unknown): v is Owner {
  return isObject(v) && typeof v.node === 'string' && typeof v.inc === 'string' && typeof v.conn === 'string'
}

export function encodeSessionRecord (record: SessionRecord | WillRecord): Buffer {
  return Buffer.from(JSON.stringify(record))
}

/**
 * A record of the sessions topic as this version understands it; a null record is a tombstone (or
 * a value this version cannot read, which is treated the same: it is not acted upon). The last
 * suffix decides: a client id may itself end in `#will` (its session is keyed `<id>#session`, its
 * will `<id>#will`).
 */
export function decodeSessionsTopicEntry (key: string, value: Buffer | null): SessionsTopicEntry {
  if (key.endsWith(WILL_SUFFIX)) {
    const clientId = key.slice(0, -WILL_SUFFIX.length)
    return { kind: 'will', clientId, record: decodeWill(clientId, value) }
  }
  const clientId = key.endsWith(SESSION_SUFFIX) ? key.slice(0, -SESSION_SUFFIX.length) : key
  return { kind: 'session', clientId, record: decodeSession(clientId, value) }
}

function parse (value: Buffer | null): Record<string, unknown> | undefined {
  if (value === null || value.length === 0) return undefined
  try {
    const v: unknown = JSON.parse(value.toString('utf8'))
    return isObject(v) && v.v === SESSION_RECORD_VERSION ? v : undefined
  } catch {
    return undefined
  }
}

function decodeSession (clientId: string, value: Buffer | null): SessionRecord | null {
  const v = parse(value)
  if (v === undefined || v.clientId !== clientId || !isOwner(v.owner) || typeof v.connected !== 'boolean' ||
    typeof v.at !== 'number' || typeof v.expiryS !== 'number' || !Array.isArray(v.subs) ||
    !isObject(v.cursors) || !Array.isArray(v.unacked)) return null
  return v as unknown as SessionRecord
}

function decodeWill (clientId: string, value: Buffer | null): WillRecord | null {
  const v = parse(value)
  if (v === undefined || v.clientId !== clientId || !isOwner(v.owner) || typeof v.at !== 'number' || !isObject(v.will)) return null
  const w = v.will
  if (typeof w.topic !== 'string' || typeof w.payload !== 'string' || ![0, 1, 2].includes(w.qos as number) || typeof w.retain !== 'boolean') return null
  if ((v.delayS !== undefined && typeof v.delayS !== 'number') || (v.disconnectedAt !== undefined && typeof v.disconnectedAt !== 'number')) return null
  return v as unknown as WillRecord
}
