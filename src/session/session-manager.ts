import type { BatchingProducer } from '../kafka/batching-producer.js'
import type { Watermarks } from '../kafka/topic-partition.js'
import type { RangeReader } from '../kafka/range-reader.js'
import type { RecordDecoder } from '../mapping/mapping.js'
import type { Logger } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'
import { PersistentSession } from './persistent-session.js'
import { replay, type ReplayDeliver, type ReplayItem, type ReplayOutcome } from './replay.js'
import { encodeSessionRecord, sessionKey, type Owner, type SessionRecord } from './session-record.js'
import type { SessionView } from './session-view.js'

export interface SessionManagerOptions {
  node: string
  /** this node process' incarnation id */
  inc: string
  /** the sessions topic */
  topic: string
  /** `mqtt.session_expiry_interval`, seconds; 0 = never */
  expiryS: number
  /** `mqtt.max_offline_messages`; 0 = no limit */
  maxOfflineMessages: number
  checkpointIntervalMs: number
  takeoverTimeoutMs: number
}

export interface SessionManagerDeps {
  producer: BatchingProducer
  view: SessionView
  /** resolves when the view holds every session record acknowledged before the call */
  syncView: () => Promise<void>
  /** per data-topic partition, the offset below which every record has been offered to local subscribers */
  deliveredPositions: () => Map<string, bigint>
  /** low and high watermarks of these data-topic partitions ("topic:partition"), as of the call */
  dataWatermarks: (partitions: Iterable<string>) => Promise<Watermarks>
  reader: RangeReader
  decoder: RecordDecoder
  /** is the connection named by `owner` possibly still alive (its node incarnation live)? */
  ownerLive: (owner: Owner) => boolean
  /** the node that deletes expired sessions last owned by `node` (that node if live, else one chosen survivor) */
  sweeperFor: (node: string) => string | undefined
  metrics: Metrics
}

export type { ReplayItem, ReplayOutcome }

export interface Opened {
  /** absent for clean sessions */
  session?: PersistentSession
  /** a stored session was found (CONNACK session present) */
  present: boolean
}

/**
 * Owner of the persistent sessions of this node's clients: opens a session on CONNECT (after the
 * previous owner handed it over), resumes it from the log, checkpoints it to the sessions topic,
 * writes its final state when the client goes, and deletes expired sessions it is responsible for.
 */
export class SessionManager {
  private readonly local = new Map<string, PersistentSession>()
  private readonly closing = new Map<string, Promise<void>>()
  private readonly writes = new WeakMap<PersistentSession, { chain: Promise<void>; written: number }>()
  private readonly log: Logger
  private timer: NodeJS.Timeout | undefined
  private sweepTimer: NodeJS.Timeout | undefined
  /** delivered positions at the previous checkpoint: live sessions may move their cursors there */
  private lastPositions = new Map<string, bigint>()
  private liveAtLastTick = new WeakSet<PersistentSession>()

  constructor (private readonly opts: SessionManagerOptions, private readonly deps: SessionManagerDeps, logger: Logger) {
    this.log = logger.child({ component: 'sessions' })
  }

  start (): void {
    this.timer = setInterval(() => this.checkpoint(), this.opts.checkpointIntervalMs)
    this.timer.unref()
    const sweepMs = this.opts.expiryS === 0 ? 60000 : Math.min(60000, Math.max(1000, this.opts.expiryS * 250))
    this.sweepTimer = setInterval(() => { void this.sweep() }, sweepMs)
    this.sweepTimer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    clearInterval(this.sweepTimer)
  }

  get size (): number { return this.local.size }

  /** The open persistent session of a client connected to this node. */
  get (clientId: string): PersistentSession | undefined {
    const s = this.local.get(clientId)
    return s?.state === 'closed' ? undefined : s
  }

  /**
   * A CONNECT for `clientId` (already claimed cluster-wide as connection `conn`): waits until the
   * previous owner, if it is alive, has written its final record (or `takeoverTimeoutMs`), then
   * opens the persistent session (clean = false) or deletes a stored one (clean = true).
   * MQTT 5 (`v5`): a Clean Start discards the stored session and opens a new one that lives
   * `expiryS` seconds after the disconnect (its Session Expiry Interval, already capped; 0 = never).
   * Clean Start 0 with Session Expiry Interval 0 (`clean` true) resumes a stored session, which the
   * caller ends when the connection ends.
   */
  async open (clientId: string, clean: boolean, conn: string, v5?: { cleanStart: boolean; expiryS: number }): Promise<Opened> {
    await this.closing.get(clientId)
    await this.deps.syncView()
    await this.awaitHandover(clientId, conn)
    const stored = this.deps.view.sessions.get(clientId)
    const usable = stored !== undefined && v5?.cleanStart !== true && !this.expired(stored, Date.now())
    // MQTT 5 Clean Start 0 with Session Expiry Interval 0 resumes a stored session, which then ends
    // with this connection [MQTT-3.1.2-4, MQTT-3.1.2-5]; without one it is a clean session
    const resumeOnce = clean && v5 !== undefined && usable
    if (clean && !resumeOnce) {
      if (stored !== undefined) await this.send(clientId, null)
      return { present: false }
    }
    const owner: Owner = { node: this.opts.node, inc: this.opts.inc, conn }
    // a session that ends with its connection is written with the shortest expiry (1 s): should this
    // node die under it, the sweep deletes it as its connection ended (0 would mean "never")
    const expiryS = resumeOnce ? 1 : v5?.expiryS ?? this.opts.expiryS
    const session = usable
      ? PersistentSession.fromRecord(stored, owner, expiryS)
      : new PersistentSession(clientId, owner, expiryS)
    session.startAt(this.deps.deliveredPositions())
    this.local.set(clientId, session)
    this.deps.metrics.localSessions.set(this.local.size)
    if (usable) this.deps.metrics.sessionsResumed.inc()
    else this.deps.metrics.sessionsCreated.inc()
    try {
      await this.write(session, true)
    } catch (err) {
      this.local.delete(clientId)
      throw err
    }
    this.log.debug({ clientId, present: usable, subs: session.subs.size, unacked: session.unacked.size }, 'session opened')
    return { session, present: usable }
  }

  /** A subscription change: resolves when it is in Kafka (SUBACK / UNSUBACK wait for it). */
  changed (session: PersistentSession): Promise<void> {
    return this.write(session, true)
  }

  /**
   * One replay round of a session (after its CONNACK, or to catch up after it fell behind): every
   * record from its cursors (and unacknowledged deliveries) up to the delivered positions of now
   * and what it owes, in partition order, through `deliver` (false = no room: the round stops; a
   * promise: the round waits for room). Live
   * deliveries that arrive meanwhile are the caller's to hold back until this resolves.
   */
  resume (session: PersistentSession, deliver: ReplayDeliver): Promise<ReplayOutcome> {
    return replay(session, deliver, { ...this.deps, maxOfflineMessages: this.opts.maxOfflineMessages, logger: this.log })
  }

  /**
   * The client went away: write the final state, after `before` settles (its will goes first);
   * resolves when Kafka has it. A CONNECT of the same client id on this node waits for it.
   */
  close (session: PersistentSession, before: Promise<unknown> = Promise.resolve(), endNow = false): Promise<void> {
    if (session.state === 'closed') return this.closing.get(session.clientId) ?? Promise.resolve()
    session.state = 'closed'
    session.disconnectedAt = Date.now()
    // endNow: the session ends with its connection (an MQTT 5 DISCONNECT set its expiry to 0)
    const done: Promise<void> = before.catch(() => undefined).then(() => endNow ? this.send(session.clientId, null) : this.write(session, false))
      .catch(err => this.log.warn({ err, clientId: session.clientId }, 'final session state not written to Kafka'))
      .finally(() => {
        if (this.local.get(session.clientId) === session) this.local.delete(session.clientId)
        if (this.closing.get(session.clientId) === done) this.closing.delete(session.clientId)
        this.deps.metrics.localSessions.set(this.local.size)
      })
    this.closing.set(session.clientId, done)
    return done
  }

  private async awaitHandover (clientId: string, conn: string): Promise<void> {
    const deadline = Date.now() + this.opts.takeoverTimeoutMs
    for (;;) {
      const stored = this.deps.view.sessions.get(clientId)
      const will = this.deps.view.wills.get(clientId)
      const busy = (stored !== undefined && stored.connected && stored.owner.conn !== conn && this.deps.ownerLive(stored.owner)) ||
        // a will waiting out its delay belongs to a connection that is gone: nothing to hand over
        (will !== undefined && will.disconnectedAt === undefined && will.owner.conn !== conn && this.deps.ownerLive(will.owner))
      if (!busy) return
      const left = deadline - Date.now()
      if (left <= 0) {
        this.deps.metrics.takeoverTimeouts.inc()
        this.log.warn({ clientId, previousNode: stored?.owner.node ?? will?.owner.node, timeoutMs: this.opts.takeoverTimeoutMs }, 'previous owner did not hand the session over in time; resuming from its last record')
        return
      }
      // membership may declare the previous owner dead meanwhile: look again at least twice a second
      await this.deps.view.nextChange(clientId, Math.min(500, left))
    }
  }

  private expired (record: SessionRecord, now: number): boolean {
    if (record.expiryS === 0) return false
    const since = record.connected
      ? (this.deps.ownerLive(record.owner) ? undefined : record.at)
      : record.disconnectedAt ?? record.at
    return since !== undefined && now - since > record.expiryS * 1000
  }

  private checkpoint (): void {
    const positions = this.deps.deliveredPositions()
    for (const session of this.local.values()) {
      if (session.state === 'closed' || session.state === 'resuming') continue
      // positions of the previous tick were taken while this session was live and subscribed (or
      // behind: then everything below them it did not take was owed, and a completed round
      // delivered it before the session went live again); a session behind keeps its cursors
      if (session.state === 'live') {
        if (this.liveAtLastTick.has(session)) session.advanceTo(this.lastPositions)
        this.liveAtLastTick.add(session)
      }
      const w = this.writes.get(session)
      if (w === undefined || w.written !== session.version) {
        this.write(session, true).catch(err => this.log.warn({ err, clientId: session.clientId }, 'session checkpoint not written'))
      }
    }
    this.lastPositions = positions
  }

  private async sweep (): Promise<void> {
    const now = Date.now()
    for (const [clientId, record] of this.deps.view.sessions) {
      if (this.local.has(clientId) || !this.expired(record, now)) continue
      if (this.deps.sweeperFor(record.owner.node) !== this.opts.node) continue
      try {
        await this.send(clientId, null)
        this.deps.metrics.sessionsExpired.inc()
        this.log.info({ clientId, lastOwner: record.owner.node, expiryS: record.expiryS }, 'session expired and deleted')
      } catch (err) {
        this.log.warn({ err, clientId }, 'expired session not deleted yet')
      }
    }
  }

  /** Writes of one session are serialized, in order; each writes the state of its moment. */
  private write (session: PersistentSession, connected: boolean): Promise<void> {
    const w = this.writes.get(session) ?? { chain: Promise.resolve(), written: -1 }
    const run = async (): Promise<void> => {
      const version = session.version
      if (connected && session.state === 'closed') return // the final write follows
      await this.send(session.clientId, encodeSessionRecord(session.toRecord(connected, Date.now())))
      w.written = version
    }
    const next = w.chain.then(run, run)
    w.chain = next.catch(() => undefined)
    this.writes.set(session, w)
    return next
  }

  private send (clientId: string, value: Buffer | null): Promise<void> {
    return this.deps.producer.send({ topic: this.opts.topic, key: sessionKey(clientId), value })
  }
}
