import { compileTopicFilter, type TopicMatcher } from '../protocol/topic-filter.js'
import {
  hasOptions, matchSubscriptions, subscriptionOptionsOf, type HeldSubscription, type SubscriptionMatch, type SubscriptionOptions
} from '../protocol/subscription-options.js'
import { tpKey, splitTpKey } from '../kafka/topic-partition.js'
import type { Owner, SessionRecord, SessionSubscription, UnackedDelivery } from './session-record.js'

import type { Qos } from '../protocol/message.js'

/** Where a delivered message came from: one record of a data topic. */
export interface LogPosition {
  /** "topic:partition" */
  tp: string
  offset: bigint
}

interface Unacked { tp: string; offset: bigint; qos: 1 | 2; rel: boolean }
interface Handed { counter: number; tp: string; offset: bigint; qos: 1 | 2 }

/** What to do with a record read during a resume. */
export type ReplayDecision =
  | { send: false }
  | { send: true; qos: Qos; messageId?: number; dup: boolean; retainAsPublished: boolean; ids: number[] }

/** A subscription of the session: its options, and its filter compiled. */
interface SessionSub extends HeldSubscription { matches: TopicMatcher }

/**
 * The state of one persistent session (clean session = 0) while this node owns it: subscriptions,
 * and per data-topic partition the cursor up to which the session has been served, plus the QoS 1/2
 * deliveries not completed yet. Deliveries are de-duplicated by log position, so a record reaches
 * the session once whether it comes from a resume (replay) or from live delivery. Pure state: the
 * MQTT edge feeds it, the session manager persists it.
 */
export class PersistentSession {
  /**
   * resuming: a replay round runs, live deliveries are held back; live: delivered as they come;
   * behind: the client had no room, live deliveries are left in Kafka (`owe`) until a round catches up
   */
  state: 'resuming' | 'live' | 'behind' | 'closed' = 'resuming'
  readonly subs = new Map<string, SessionSub>()
  readonly cursors = new Map<string, bigint>()
  readonly unacked = new Map<number, Unacked>()
  /** handed to the MQTT engine at QoS 1/2, packet id not assigned yet (FIFO, by packet counter) */
  private handed: Handed[] = []
  /** unacknowledged deliveries of the record resumed from, by "tp@offset": sent again with DUP */
  private readonly toResend = new Map<string, number>()
  /** bumped on every change worth writing */
  version = 0
  /** records delivered by the current resume that were new to the session */
  replayedNew = 0
  /**
   * per partition, the offset the next replay round must read up to at least: live records the
   * session let go (no room, or too many held back) are in Kafka below it
   */
  private readonly owed = new Map<string, bigint>()
  disconnectedAt: number | undefined

  constructor (
    readonly clientId: string,
    public owner: Owner,
    /** seconds the session outlives its client (0 = never); an MQTT 5 DISCONNECT may change it */
    public expiryS: number
  ) {}

  static fromRecord (record: SessionRecord, owner: Owner, expiryS: number): PersistentSession {
    const s = new PersistentSession(record.clientId, owner, expiryS)
    // a record written before subscription options existed has pairs: 3.1.1's defaults
    for (const [filter, qos, options] of record.subs) s.addSub(filter, qos, subscriptionOptionsOf(options))
    for (const [topic, parts] of Object.entries(record.cursors)) {
      for (const [p, o] of Object.entries(parts)) s.cursors.set(tpKey(topic, Number(p)), BigInt(o))
    }
    for (const u of record.unacked) {
      const tp = tpKey(u.t, u.p)
      if (u.id > 0) {
        s.unacked.set(u.id, { tp, offset: BigInt(u.o), qos: u.qos, rel: u.rel })
        if (!u.rel) s.toResend.set(`${tp}@${u.o}`, u.id)
      } else s.lowerCursor(tp, BigInt(u.o)) // handed over but never written: deliver it again as new
    }
    return s
  }

  addSub (filter: string, qos: Qos, options: SubscriptionOptions = {}): void {
    this.subs.set(filter, { ...options, qos, matches: compileTopicFilter(filter) })
    this.version++
  }

  removeSub (filter: string): void {
    if (this.subs.delete(filter)) this.version++
  }

  /** The QoS a message of `topic` published at `qos` (by `publisher`) is delivered at, or -1 when nothing takes it. */
  effectiveQos (topic: string, qos: Qos, publisher?: string): Qos | -1 {
    return this.match(topic, qos, publisher)?.qos ?? -1
  }

  /**
   * What a message of `topic` published at `qos` by `publisher` becomes for this session (its QoS,
   * RETAIN kept or not, subscription identifiers), or undefined when no subscription takes it
   * (none matches, or only No Local ones and the session's own client published it).
   */
  match (topic: string, qos: Qos, publisher: string | undefined): SubscriptionMatch | undefined {
    return matchSubscriptions(this.subs, matcherOf, topic, qos, publisher === this.clientId)
  }

  /** Has the session had this record already (it is below the cursor)? */
  had (pos: LogPosition): boolean {
    const cursor = this.cursors.get(pos.tp)
    return cursor !== undefined && pos.offset < cursor
  }

  /**
   * A live record the session does not take now (its client has no room, or a round holds back
   * too much): it stays in Kafka and the next replay round reads up to it. The cursor stays below
   * it (a partition without a cursor gets one there).
   */
  owe (pos: LogPosition): void {
    const o = this.owed.get(pos.tp)
    if (o === undefined || pos.offset >= o) this.owed.set(pos.tp, pos.offset + 1n)
    if (!this.cursors.has(pos.tp)) this.cursors.set(pos.tp, pos.offset)
  }

  /** Live records were let go since the current round's target was taken. */
  owes (): boolean {
    return this.owed.size > 0
  }

  /** The target of a replay round: `positions`, raised to what the session owes (which it then no longer owes). */
  roundTarget (positions: ReadonlyMap<string, bigint>): Map<string, bigint> {
    const target = new Map(positions)
    for (const [tp, o] of this.owed) {
      const at = target.get(tp)
      if (at === undefined || o > at) target.set(tp, o)
    }
    this.owed.clear()
    return target
  }

  /** A round stopped before its end: what it did not deliver is owed again. */
  carryOver (target: ReadonlyMap<string, bigint>): void {
    for (const [tp, at] of target) {
      const o = this.owed.get(tp)
      if (o === undefined || at > o) this.owed.set(tp, at)
    }
  }

  /** Caught up: live delivery from now on (the offline-message budget starts over). */
  wentLive (): void {
    this.state = 'live'
    this.replayedNew = 0
  }

  /**
   * A record of the log is about to be handed to the client (live or replayed). False when the
   * session has had it already. `counter` identifies the packet until it gets its packet id.
   */
  admit (pos: LogPosition, qos: Qos, counter: number, messageId?: number): boolean {
    const cursor = this.cursors.get(pos.tp)
    if (cursor !== undefined && pos.offset < cursor) return false
    this.cursors.set(pos.tp, pos.offset + 1n)
    if (qos > 0) {
      // a packet id taken before the write (see `Delivery`): unacknowledged from now on
      if (messageId !== undefined) this.unacked.set(messageId, { tp: pos.tp, offset: pos.offset, qos: qos as 1 | 2, rel: false })
      else this.handed.push({ counter, tp: pos.tp, offset: pos.offset, qos: qos as 1 | 2 })
    }
    this.version++
    return true
  }

  /**
   * A resent unacknowledged delivery was handed to the client again (same packet id follows;
   * `announced` false: the MQTT engine will not report it, it is still listed as unacknowledged).
   */
  readmit (pos: LogPosition, qos: 1 | 2, counter: number, announced = true): void {
    if (announced) this.handed.push({ counter, tp: pos.tp, offset: pos.offset, qos })
  }

  /** The MQTT engine gave the packet `counter` its packet id (QoS 1/2 write). */
  packetId (counter: number, messageId: number): void {
    // not one of this session's log deliveries (e.g. a shared-subscription message): not tracked here
    const i = this.handed.findIndex(h => h.counter === counter)
    if (i < 0) return
    const h = this.handed[i] as Handed
    // entries before it were written at QoS 0 after all (no packet id): served
    this.handed.splice(0, i + 1)
    this.unacked.set(messageId, { tp: h.tp, offset: h.offset, qos: h.qos, rel: false })
    this.version++
  }

  /** PUBREC for a QoS 2 delivery: PUBREL sent, PUBCOMP outstanding. */
  released (messageId: number): void {
    const u = this.unacked.get(messageId)
    if (u !== undefined && !u.rel) {
      u.rel = true
      this.version++
    }
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2). */
  completed (messageId: number): void {
    if (this.unacked.delete(messageId)) this.version++
  }

  /** QoS 2 deliveries waiting for PUBCOMP: PUBREL is sent again on resume. */
  pendingReleases (): number[] {
    const ids: number[] = []
    for (const [id, u] of this.unacked) if (u.rel) ids.push(id)
    return ids
  }

  /** The highest packet id in use, so that new ids do not collide with resent ones. */
  highestPacketId (): number {
    let max = 0
    for (const id of this.unacked.keys()) if (id > max) max = id
    return max
  }

  /**
   * Live and subscribed: every record below `positions` has been offered to this session, so its
   * cursors may move there (unacknowledged deliveries are listed on their own).
   */
  advanceTo (positions: ReadonlyMap<string, bigint>): void {
    // not a change worth a write of its own: it rides along with the next one (or the final one)
    for (const [tp, at] of positions) {
      const cursor = this.cursors.get(tp)
      if (cursor === undefined || at > cursor) this.cursors.set(tp, at)
    }
  }

  /** Past the offline-message limit: skip the rest of the backlog up to `positions`. */
  skipTo (positions: ReadonlyMap<string, bigint>): void {
    this.advanceTo(positions)
    this.version++
  }

  /** Start from `positions` where the session has no cursor yet (a new session, a new partition). */
  startAt (positions: ReadonlyMap<string, bigint>): void {
    for (const [tp, at] of positions) if (!this.cursors.has(tp)) this.cursors.set(tp, at)
  }

  /** Where a resume must read from, per partition: the cursor, or lower for unacknowledged ones. */
  replayStarts (): Map<string, bigint> {
    const starts = new Map(this.cursors)
    for (const u of this.unacked.values()) {
      if (u.rel) continue
      const s = starts.get(u.tp)
      if (s === undefined || u.offset < s) starts.set(u.tp, u.offset)
    }
    return starts
  }

  /** Decide what a replayed record of `topic` at `qos`, published by `publisher`, becomes for this session. */
  replay (pos: LogPosition, topic: string, qos: Qos, publisher?: string): ReplayDecision {
    const key = `${pos.tp}@${pos.offset}`
    const id = this.toResend.get(key)
    const m = this.match(topic, qos, publisher)
    if (id !== undefined) {
      this.toResend.delete(key)
      const u = this.unacked.get(id)
      // a delivery that had started goes out again even if the subscription is gone meanwhile
      if (u !== undefined && !u.rel) return { send: true, qos: u.qos, messageId: id, dup: true, retainAsPublished: m?.retainAsPublished ?? false, ids: m?.ids ?? [] }
    }
    const cursor = this.cursors.get(pos.tp)
    if (cursor !== undefined && pos.offset < cursor) return { send: false }
    // QoS 0 messages are not queued for offline sessions (as in Mosquitto's default)
    if (m === undefined || m.qos === 0) return { send: false }
    return { send: true, qos: m.qos, dup: false, retainAsPublished: m.retainAsPublished, ids: m.ids }
  }

  /** A resend `replay` decided on did not go out (the round stopped): the next round sends it. */
  notResent (pos: LogPosition, messageId: number): void {
    this.toResend.set(`${pos.tp}@${pos.offset}`, messageId)
  }

  /** Unacknowledged deliveries whose records are gone from Kafka: forget them. */
  dropUnackedBelow (tp: string, low: bigint): number {
    let dropped = 0
    for (const [id, u] of this.unacked) {
      if (!u.rel && u.tp === tp && u.offset < low) { this.unacked.delete(id); dropped++ }
    }
    return dropped
  }

  toRecord (connected: boolean, now: number): SessionRecord {
    const cursors: Record<string, Record<string, string>> = {}
    for (const [tp, at] of this.cursors) {
      const { topic, partition } = splitTpKey(tp)
      ;(cursors[topic] ??= {})[partition] = at.toString()
    }
    const unacked: UnackedDelivery[] = []
    for (const [id, u] of this.unacked) unacked.push(entry(u.tp, u.offset, id, u.qos, u.rel))
    for (const h of this.handed) unacked.push(entry(h.tp, h.offset, 0, h.qos, false))
    const record: SessionRecord = {
      v: 1,
      clientId: this.clientId,
      owner: this.owner,
      connected,
      at: now,
      expiryS: this.expiryS,
      subs: [...this.subs].map(([filter, s]) => recordSub(filter, s)),
      cursors,
      unacked
    }
    if (!connected) record.disconnectedAt = this.disconnectedAt ?? now
    return record
  }

  private lowerCursor (tp: string, offset: bigint): void {
    const c = this.cursors.get(tp)
    if (c === undefined || offset < c) this.cursors.set(tp, offset)
  }
}

const matcherOf = (_filter: string, sub: SessionSub): TopicMatcher => sub.matches

/** A subscription as the record keeps it: the options only when there are any (3.1.1 records stay pairs). */
function recordSub (filter: string, s: SessionSub): SessionSubscription {
  const options = subscriptionOptionsOf(s)
  return hasOptions(options) ? [filter, s.qos, options] : [filter, s.qos]
}

function entry (tp: string, offset: bigint, id: number, qos: 1 | 2, rel: boolean): UnackedDelivery {
  const { topic, partition } = splitTpKey(tp)
  return { t: topic, p: partition, o: offset.toString(), id, qos, rel }
}
