import type { Client } from 'aedes'
import type { Logger } from '../observability/logger.js'
import type { PersistentSession } from '../session/persistent-session.js'
import type { SessionManager } from '../session/session-manager.js'
import type { Delivery } from './delivery.js'
import type { Outbound } from './outbound.js'
import type { ClientSubscriptions } from './subscriptions.js'

export interface CatchUpOptions {
  sessions: SessionManager
  delivery: Delivery
  outbound: Outbound
  subscriptions: ClientSubscriptions
  logger: Logger
}

/**
 * Brings a persistent session from its cursors up to the live stream, from Kafka: after its CONNACK
 * (the resume), and whenever it fell behind because its client had no room (`roomFor`, called when
 * the client acknowledged or drained). A run is replay rounds (`SessionManager.resume`) while live
 * deliveries are held back:
 * - a round that stops because the client has no room leaves the session behind (held-back
 *   deliveries are let go, they are in Kafka): the next run starts when the client has room;
 * - a round that completes but let go of live deliveries (it held back `mqtt.max_mqueue_len`) is
 *   followed by another, up to where those are;
 * - otherwise the held-back deliveries are handed over and the session goes live.
 * One run per session at a time; the no-gap, no-duplicate, in-order delivery of durable sessions
 * rests on the cursors and the log positions every delivery carries (edge/delivery.ts).
 */
export class CatchUp {
  private readonly running = new WeakSet<PersistentSession>()
  private readonly log: Logger

  constructor (private readonly opts: CatchUpOptions) {
    this.log = opts.logger
  }

  /** After the CONNACK: replay what the session has not had, then go live. */
  start (client: Client, session: PersistentSession): void {
    void this.run(client, session, true)
  }

  /** The client may have room again: a session behind catches up. */
  roomFor (client: Client, session: PersistentSession): void {
    if (session.state !== 'behind' || this.running.has(session) || !this.opts.outbound.roomToCatchUp(client)) return
    void this.run(client, session, false)
  }

  private async run (client: Client, session: PersistentSession, resume: boolean): Promise<void> {
    if (this.running.has(session)) return
    this.running.add(session)
    const t0 = Date.now()
    let replayed = 0
    let gap = 0n
    let rounds = 0
    try {
      for (;;) {
        session.state = 'resuming'
        const outcome = await this.opts.sessions.resume(session, item => this.opts.delivery.replay(client, item))
        rounds++
        replayed += outcome.replayed
        gap += outcome.gap
        // the connection may have ended while the round ran
        if (client.closed || isClosed(session)) return
        if (!outcome.complete || session.owes()) {
          this.opts.delivery.fallBehind(client, session)
          if (!outcome.complete) break
          continue
        }
        if (!this.opts.delivery.goLive(client, session)) break
        // partitions a SUBSCRIBE added while the replay ran start where the node reads them now
        session.startAt(this.opts.subscriptions.positions())
        const done = { clientId: client.id, replayed, gap: gap.toString(), rounds, ms: Date.now() - t0 }
        if (resume) this.log.info(done, 'session resumed')
        else this.log.debug(done, 'session caught up from Kafka')
        return
      }
    } catch (err) {
      if (client.closed) return
      this.log.warn({ clientId: client.id, err }, 'session could not be resumed from Kafka; closing the connection')
      client.close()
      return
    } finally {
      this.running.delete(session)
    }
    this.log.debug({ clientId: client.id, replayed, rounds }, 'session behind: its client has no room; the rest stays in Kafka')
    // the room may have come back while the round wound down
    setImmediate(() => this.roomFor(client, session))
  }
}

function isClosed (session: PersistentSession): boolean {
  return session.state === 'closed'
}
