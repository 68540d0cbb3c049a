import type { OutgoingRecord } from '../kafka/batching-producer.js'
import type { Logger } from '../observability/logger.js'
import { isShareFilter } from '../protocol/share-filter.js'
import type { ClientEvents, ConnectedClient, DisconnectReason, Subscription } from './client-events.js'
import { encodeClientRecord, type ClientRecord } from './client-record.js'
import type { PresenceView } from './presence-view.js'

export interface PresenceOptions {
  node: string
  /** this node process' incarnation id */
  inc: string
  /** the clients topic */
  topic: string
  /** `mqtt.session_expiry_interval`: how long a persistent session's record stays after the disconnect */
  sessionExpiryS: number
  /** subscription changes of one client within this many ms make one record */
  subsDebounceMs?: number
}

export interface PresenceDeps {
  producer: { send (record: OutgoingRecord): Promise<void> }
  view: PresenceView
}

interface LocalClient {
  record: ClientRecord
  /** filter -> QoS; made at the first subscription (an idle client without any holds no Map) */
  subs: Map<string, number> | undefined
  timer?: NodeJS.Timeout | undefined
}

/** Connections per listener: now, and the most at once since the node started. */
export interface ListenerConnections { current: number; max: number }

/**
 * This node's side of presence: writes a client's record to the clients topic (key = client id)
 * when its CONNACK went out, when its subscriptions change (changes within `subsDebounceMs` make one
 * record), and when it goes (with the reason). A clean-session client's record is followed by a
 * tombstone at once (nothing of it outlives the connection); a persistent session's stays, marked
 * disconnected, until the session expires (`PresenceSweeper`). A connection taken over by a later
 * CONNECT writes nothing at its end: the new owner's record stands. The owner of a live connection
 * that reads a stale disconnect record of its client (an older connection's, written late) writes
 * its own record again. Also counts connections per listener and subscriptions, for /metrics.
 */
export class Presence implements ClientEvents {
  private readonly local = new Map<string, LocalClient>()
  /** reasons noted before a close the edge will report (takeover, kick), by connection id */
  private readonly closing = new Map<string, DisconnectReason>()
  private readonly perListener = new Map<string, ListenerConnections>()
  private readonly log: Logger
  private readonly debounceMs: number
  /** the most clients connected here at once */
  peak = 0

  constructor (private readonly opts: PresenceOptions, private readonly deps: PresenceDeps, logger: Logger) {
    this.log = logger.child({ component: 'presence' })
    this.debounceMs = opts.subsDebounceMs ?? 100
    deps.view.onRecord((clientId, record, applied) => this.read(clientId, record, applied))
  }

  /** Clients connected to this node. */
  get size (): number { return this.local.size }

  /** The local connection of a client id, if it is connected here. */
  localConnection (clientId: string): ClientRecord | undefined { return this.local.get(clientId)?.record }

  /** Connections per listener (current and peak). */
  listenerConnections (): ReadonlyMap<string, ListenerConnections> { return this.perListener }

  /** Subscriptions of this node's clients: plain and shared (`$share/`, `$queue/`). */
  subscriptionCounts (): { plain: number; shared: number } {
    let plain = 0
    let shared = 0
    for (const c of this.local.values()) {
      if (c.subs === undefined) continue
      for (const f of c.subs.keys()) {
        if (isShareFilter(f)) shared++
        else plain++
      }
    }
    return { plain, shared }
  }

  /** A close is coming for this connection, and why (the takeover coordinator tells before it closes). */
  noteClosing (conn: string, reason: 'takenover' | 'kicked'): void {
    this.closing.set(conn, reason)
  }

  connected (c: ConnectedClient): void {
    const now = Date.now()
    const subs = c.subs.length === 0 ? undefined : new Map(c.subs)
    const record: ClientRecord = {
      v: 1,
      clientId: c.clientId,
      node: this.opts.node,
      inc: this.opts.inc,
      conn: c.conn,
      connected: true,
      username: c.username ?? null,
      peerhost: c.peerhost,
      listener: c.listener,
      protoVer: c.protoVer,
      clean: c.clean,
      keepalive: c.keepalive,
      expiryS: c.clean ? 0 : this.opts.sessionExpiryS,
      subs: entries(subs),
      connectedAt: now,
      at: now
    }
    const previous = this.local.get(c.clientId)
    if (previous !== undefined) clearTimeout(previous.timer)
    this.local.set(c.clientId, { record, subs })
    this.peak = Math.max(this.peak, this.local.size)
    const counts = this.perListener.get(c.listener) ?? { current: 0, max: 0 }
    counts.current++
    counts.max = Math.max(counts.max, counts.current)
    this.perListener.set(c.listener, counts)
    this.write(record)
  }

  subscribed (clientId: string, conn: string, subs: Subscription[]): void {
    const c = this.current(clientId, conn)
    if (c === undefined) return
    c.subs ??= new Map()
    for (const [filter, qos] of subs) c.subs.set(filter, qos)
    this.schedule(c)
  }

  unsubscribed (clientId: string, conn: string, filters: string[]): void {
    const c = this.current(clientId, conn)
    if (c === undefined) return
    for (const f of filters) c.subs?.delete(f)
    this.schedule(c)
  }

  disconnected (clientId: string, conn: string, edgeReason: DisconnectReason): void {
    const reason = this.closing.get(conn) ?? edgeReason
    this.closing.delete(conn)
    const c = this.current(clientId, conn)
    if (c === undefined) return
    clearTimeout(c.timer)
    this.local.delete(clientId)
    const counts = this.perListener.get(c.record.listener)
    if (counts !== undefined) counts.current--
    // the later connection's record stands (written by its node, maybe before this one ended)
    if (reason === 'takenover') return
    const now = Date.now()
    const record: ClientRecord = { ...c.record, connected: false, subs: entries(c.subs), disconnectedAt: now, reason, at: now }
    this.write(record)
    if (record.clean) this.send(clientId, null)
  }

  private current (clientId: string, conn: string): LocalClient | undefined {
    const c = this.local.get(clientId)
    return c !== undefined && c.record.conn === conn ? c : undefined
  }

  private schedule (c: LocalClient): void {
    if (c.timer !== undefined) return
    c.timer = setTimeout(() => {
      c.timer = undefined
      if (this.local.get(c.record.clientId) !== c) return
      c.record = { ...c.record, subs: entries(c.subs), at: Date.now() }
      this.write(c.record)
    }, this.debounceMs)
  }

  /** A record read from the clients topic: a stale end (disconnect, tombstone) of a client connected here is answered. */
  private read (clientId: string, record: ClientRecord | null, applied: boolean): void {
    if (applied) return
    const c = this.local.get(clientId)
    if (c === undefined || record?.conn === c.record.conn) return
    this.log.debug({ clientId, staleConn: record?.conn }, 'a stale disconnect record of a connected client: writing its record again')
    c.record = { ...c.record, subs: entries(c.subs), at: Date.now() }
    this.write(c.record)
  }

  private write (record: ClientRecord): void {
    this.send(record.clientId, encodeClientRecord(record))
  }

  private send (clientId: string, value: Buffer | null): void {
    this.deps.producer.send({ topic: this.opts.topic, key: clientId, value })
      .catch((err: unknown) => this.log.warn({ err, clientId }, 'presence record not written'))
  }
}

/** A client's subscriptions as its record lists them. */
function entries (subs: Map<string, number> | undefined): Array<[string, number]> {
  return subs === undefined ? [] : [...subs]
}
