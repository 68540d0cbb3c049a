/**
 * The records of the nodes topic (`wharf.nodes`): heartbeats and leaves keyed by node name, claims
 * on dead nodes' wills keyed `wills:<node>`, takeover signals keyed by `takeover:<clientId>` so that every takeover of one client id lands in one
 * partition, in log order. Values are JSON with a version field; unknown records are skipped.
 */

/** A listener in a heartbeat; `kind` (tcp, ssl, ws, wss) is absent in records of older versions (tcp only). */
export interface ListenerInfo { name: string; kind?: string; host: string; port: number }

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

export type NodeRecord = HeartbeatRecord | LeaveRecord | TakeoverRecord | WillsClaimRecord

export function willsClaimKey (node: string): string {
  return `wills:${node}`
}

export function takeoverKey (clientId: string): string {
  return `takeover:${clientId}`
}

export function encodeNodeRecord (record: NodeRecord): Buffer {
  return Buffer.from(JSON.stringify(record))
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The record, or undefined when the value is not a version-1 record this code understands. */
export function decodeNodeRecord (value: Buffer | null): NodeRecord | undefined {
  if (value === null || value.length === 0) return undefined
  let v: unknown
  try {
    v = JSON.parse(value.toString('utf8'))
  } catch {
    return undefined
  }
  if (!isObject(v) || v.v !== 1 || typeof v.node !== 'string' || typeof v.at !== 'number') return undefined
  switch (v.type) {
    case 'heartbeat':
      if (!Array.isArray(v.listeners) || typeof v.startedAt !== 'number' || typeof v.connections !== 'number' || typeof v.version !== 'string') return undefined
      return v as unknown as HeartbeatRecord
    case 'leave':
      return v as unknown as LeaveRecord
    case 'takeover':
      if (typeof v.clientId !== 'string' || typeof v.conn !== 'string') return undefined
      return v as unknown as TakeoverRecord
    case 'wills':
      if (typeof v.inc !== 'string' || typeof v.by !== 'string' || typeof v.byInc !== 'string') return undefined
      return v as unknown as WillsClaimRecord
    default:
      return undefined
  }
}
