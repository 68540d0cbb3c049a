/**
 * The records of the nodes topic (`wharf.nodes`): heartbeats and leaves keyed by node name, claims
 * on dead nodes' wills keyed `wills:<node>`, takeover signals keyed by `takeover:<clientId>` so that every takeover of one client id lands in one
 * partition, in log order. Values are JSON with a version field; unknown records are skipped.
 */
import { readJsonObject } from '../util/json-record.js'

/** A listener in a heartbeat; `kind` (tcp, ssl, ws, wss) is absent in records of older versions (tcp only). */
export interface ListenerInfo { name: string; kind?: string; host: string; port: number }

/**
 * A node's running totals in its heartbeats (absent in older records): readers compute rates from
 * two heartbeats. `ackMs`: the mean wait for Kafka's acknowledgement over the last interval.
 */
export interface NodeCounters {
  /** PUBLISH packets received from clients, sent to clients */
  received: number
  sent: number
  /** messages dropped (refused PUBLISHes, records that cannot be delivered) */
  dropped: number
  /** MQTT bytes */
  bytesIn: number
  bytesOut: number
  /** bytes waiting for Kafka's acknowledgement now */
  pendingBytes: number
  ackMs: number | null
}

export interface HeartbeatRecord {
  v: 1
  type: 'heartbeat'
  node: string
  listeners: ListenerInfo[]
  startedAt: number
  /** this run of the node (a restart with the same name is another incarnation); absent before 0.2 */
  inc?: string
  connections: number
  version: string
  counters?: NodeCounters
  at: number
}

export interface LeaveRecord { v: 1; type: 'leave'; node: string; at: number }

export interface TakeoverRecord {
  v: 1
  type: 'takeover'
  clientId: string
  node: string
  /** one connection of that client id on that node: tells this connection's record from older ones */
  conn: string
  at: number
}

/**
 * An operator asks the node that owns a connection to close it (REST API, `wharf clients kick`):
 * key `takeover:<clientId>` like the takeover records, so it is read in order with them. Only the
 * connection `conn` on `node` is closed; a later connection of the same client id is left alone.
 */
export interface KickRecord {
  v: 1
  type: 'kick'
  clientId: string
  /** the owning node and connection */
  node: string
  conn: string
  /** who asked (an API key's name) */
  by: string
  at: number
}

/**
 * A survivor offers to publish the wills of a dead node's clients (one incarnation of it). The first
 * claim for that incarnation in the log wins; key `wills:<dead node>`.
 */
export interface WillsClaimRecord {
  v: 1
  type: 'wills'
  /** the dead node and its incarnation */
  node: string
  inc: string
  /** the claimer */
  by: string
  byInc: string
  /** 0 for the first claim; one more for each claim after the previous winner died itself */
  round?: number
  at: number
}

export type NodeRecord = HeartbeatRecord | LeaveRecord | TakeoverRecord | KickRecord | WillsClaimRecord

export function willsClaimKey (node: string): string {
  return `wills:${node}`
}

export function takeoverKey (clientId: string): string {
  return `takeover:${clientId}`
}

export function encodeNodeRecord (record: NodeRecord): Buffer {
  return Buffer.from(JSON.stringify(record))
}

/** The record, or undefined when the value is not a version-1 record this code understands. */
export function decodeNodeRecord (value: Buffer | null): NodeRecord | undefined {
  const v = readJsonObject(value)
  if (v === null || v === undefined || v.v !== 1 || typeof v.node !== 'string' || typeof v.at !== 'number') return undefined
  switch (v.type) {
    case 'heartbeat':
      if (!Array.isArray(v.listeners) || typeof v.startedAt !== 'number' || typeof v.connections !== 'number' || typeof v.version !== 'string') return undefined
      return v as unknown as HeartbeatRecord
    case 'leave':
      return v as unknown as LeaveRecord
    case 'takeover':
      if (typeof v.clientId !== 'string' || typeof v.conn !== 'string') return undefined
      return v as unknown as TakeoverRecord
    case 'kick':
      if (typeof v.clientId !== 'string' || typeof v.conn !== 'string' || typeof v.by !== 'string') return undefined
      return v as unknown as KickRecord
    case 'wills':
      if (typeof v.inc !== 'string' || typeof v.by !== 'string' || typeof v.byInc !== 'string') return undefined
      return v as unknown as WillsClaimRecord
    default:
      return undefined
  }
}
