import type { KafkaMessage } from 'kafkajs'
import { decodeClientRecord, type ClientRecord } from './client-record.js'

/** What a listing asks for; every given field must match. */
export interface ClientQuery {
  node?: string | undefined
  username?: string | undefined
  /** client ids that start with this */
  clientIdPrefix?: string | undefined
  /** connected now: the record says so and its node incarnation is alive */
  connected?: boolean | undefined
}

/** One page of a listing (1-based), and how many matched in all. */
export interface ClientPage {
  items: ClientRecord[]
  total: number
}

/** Called for every record read, whether the view took it or not (`applied`). */
export type PresenceListener = (clientId: string, record: ClientRecord | null, applied: boolean) => void

/** Is this incarnation of a node alive (the membership view answers). */
export type Liveness = (node: string, inc: string) => boolean

/**
 * This node's view of the clients topic: the latest record of every client id of the cluster,
 * read from the start before the node reports ready and then tailed, so any node answers "where is
 * client X" for the whole cluster. The end (disconnect record or tombstone) of another connection
 * than the one the view holds as connected is stale (an older connection ended after the client had
 * connected again, perhaps on another node) and is not taken; the owner of the live connection
 * writes its record again so that the compacted log agrees (`Presence`). A node that dies leaves
 * its clients' records connected: a survivor marks them (`PresenceSweeper`).
 */
export class PresenceView {
  private readonly byId = new Map<string, ClientRecord>()
  /** client ids sorted, rebuilt when an id came or went */
  private sorted: string[] | undefined
  private readonly listeners: PresenceListener[] = []
  private readonly waiters = new Set<() => void>()
  /** records this version could not read (newer versions, foreign writers) */
  unreadable = 0

  get size (): number { return this.byId.size }

  get (clientId: string): ClientRecord | undefined { return this.byId.get(clientId) }

  /** Every record, in no particular order. */
  values (): IterableIterator<ClientRecord> { return this.byId.values() }

  onRecord (listener: PresenceListener): void { this.listeners.push(listener) }

  apply (clientId: string, value: Buffer | null): void {
    const record = decodeClientRecord(clientId, value)
    if (record === undefined) {
      this.unreadable++
      return
    }
    const current = this.byId.get(clientId)
    // an end (disconnect or tombstone) of another connection than the connected one the view holds
    const stale = current !== undefined && current.connected && (record === null || (!record.connected && record.conn !== current.conn))
    if (!stale) {
      if (record === null) {
        if (this.byId.delete(clientId)) this.sorted = undefined
      } else {
        if (current === undefined) this.sorted = undefined
        this.byId.set(clientId, record)
      }
    }
    for (const l of this.listeners) l(clientId, record, !stale)
    for (const w of [...this.waiters]) w()
  }

  readonly onBatch = async (_topic: string, _partition: number, records: KafkaMessage[]): Promise<void> => {
    for (const m of records) if (m.key !== null) this.apply(m.key.toString('utf8'), m.value)
  }

  /** Is the client connected now: its record says so and its node incarnation is alive. */
  static isConnected (r: ClientRecord, live: Liveness): boolean {
    return r.connected && live(r.node, r.inc)
  }

  /** The clients matching `q`, sorted by client id; page is 1-based. */
  list (q: ClientQuery, page: number, limit: number, liveness: Liveness): ClientPage {
    const live = q.connected === undefined ? liveness : memoLiveness(liveness)
    const ids = this.sortedIds()
    const prefix = q.clientIdPrefix ?? ''
    let i = prefix === '' ? 0 : lowerBound(ids, prefix)
    const skip = (page - 1) * limit
    if (q.node === undefined && q.username === undefined && q.connected === undefined) {
      // every id in the prefix' range matches: the page is a slice, nothing else is looked at
      const end = prefix === '' ? ids.length : prefixEnd(ids, prefix, i)
      const items = ids.slice(Math.min(i + skip, end), Math.min(i + skip + limit, end)).map(id => this.byId.get(id) as ClientRecord)
      return { items, total: end - i }
    }
    const items: ClientRecord[] = []
    let total = 0
    for (; i < ids.length; i++) {
      const id = ids[i] as string
      if (q.clientIdPrefix !== undefined && !id.startsWith(q.clientIdPrefix)) break
      const r = this.byId.get(id) as ClientRecord
      if (q.node !== undefined && r.node !== q.node) continue
      if (q.username !== undefined && r.username !== q.username) continue
      if (q.connected !== undefined && PresenceView.isConnected(r, live) !== q.connected) continue
      if (total >= skip && items.length < limit) items.push(r)
      total++
    }
    return { items, total }
  }

  /** Resolves true once `ok` holds for the client's record (undefined = none), false after `ms`. */
  waitFor (clientId: string, ok: (r: ClientRecord | undefined) => boolean, ms: number): Promise<boolean> {
    if (ok(this.byId.get(clientId))) return Promise.resolve(true)
    return new Promise(resolve => {
      const check = (): void => {
        if (!ok(this.byId.get(clientId))) return
        done(true)
      }
      const timer = setTimeout(() => done(false), ms)
      const done = (result: boolean): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve(result)
      }
      this.waiters.add(check)
    })
  }

  private sortedIds (): string[] {
    this.sorted ??= [...this.byId.keys()].sort()
    return this.sorted
  }
}

/**
 * `live` asked once per node incarnation: a listing filtered by `connected` looks at every record,
 * and 10,000 clients live on a handful of incarnations.
 */
export function memoLiveness (live: Liveness): Liveness {
  const seen = new Map<string, Map<string, boolean>>()
  return (node, inc) => {
    let byInc = seen.get(node)
    if (byInc === undefined) {
      byInc = new Map()
      seen.set(node, byInc)
    }
    let v = byInc.get(inc)
    if (v === undefined) {
      v = live(node, inc)
      byInc.set(inc, v)
    }
    return v
  }
}

/** The first index whose id is >= `key` (ids sorted). */
function lowerBound (ids: string[], key: string): number {
  let lo = 0
  let hi = ids.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((ids[mid] as string) < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The first index from `from` (the prefix' lower bound) whose id does not start with `prefix`. */
function prefixEnd (ids: string[], prefix: string, from: number): number {
  let lo = from
  let hi = ids.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((ids[mid] as string).startsWith(prefix)) lo = mid + 1
    else hi = mid
  }
  return lo
}
