import type { Aedes, AuthenticateHandler, Client } from 'aedes'
import { loggableUsername, type Authenticate, type EnhancedOutcome, type Authorize, type AuthzSubject, type RefusalReason } from '../auth/hooks.js'
import type { Claim, LocalConnection } from '../cluster/takeover.js'
import type { Logger } from '../observability/logger.js'
import type { PersistentSession } from '../session/persistent-session.js'
import type { SessionManager } from '../session/session-manager.js'
import type { WillStore } from '../session/will-store.js'
import { discardIncoming } from './aedes-hardening.js'
import { cleanStartOf, connectRefusal, connectedClient, endConnection, type ConnackRefusal } from './aedes-internals.js'
import { closeAtExpiry } from './auth-expiry.js'
import { refuseConnectV5, sessionPresentOn } from './mqtt5-wire.js'
import { connackReasonCode, REASON } from '../protocol/reason-codes.js'
import type { CatchUp } from './catch-up.js'
import type { ConnectRules } from './connect-rules.js'
import { dropUnauthorizedSubscriptions } from './session-authz.js'
import type { Delivery } from './delivery.js'
import type { ClientSubscriptions } from './subscriptions.js'

export interface ConnectOptions {
  aedes: () => Aedes
  authenticate: Authenticate
  /** a resuming session's stored subscriptions are authorized again for the client that resumes it */
  authorize: Authorize
  /** resolves once the client id is claimed cluster-wide (the takeover record is in Kafka) */
  claim: (clientId: string, connection: LocalConnection) => Promise<Claim>
  sessions: SessionManager
  wills: WillStore
  delivery: Delivery
  /** replays a resumed session's backlog from Kafka, then takes it live */
  catchUp: CatchUp
  subscriptions: ClientSubscriptions
  /** the listener name and peer address of a connection's stream */
  connectionOf: (client: Client) => { listener: string; peerhost: string }
  /** the CONNECT rules aedes does not apply (zero-length client ids, lengths) */
  rules: ConnectRules
  /** how a client's MQTT 5 enhanced authentication ended, when it had one (enhanced-auth.ts) */
  enhancedOf?: (client: Client) => EnhancedOutcome | undefined
  /** `mqtt.reason_strings`: MQTT 5 refusals say why in a reason string */
  reasonStrings: boolean
  logger: Logger
}

/** What the edge keeps per connection from its CONNECT on. */
export interface Connected {
  claim: Claim
  subject: AuthzSubject
  /** the persistent session (clean session = 0) */
  session?: PersistentSession
}

const CONNACK: Record<RefusalReason, ConnackRefusal> = {
  bad_credentials: 4,
  not_authorized: 5,
  banned: 5,
  server_unavailable: 3
}

/**
 * What the takeover closes when the client id is claimed elsewhere: an MQTT 5 client is told
 * (DISCONNECT 0x8E). An object holding only the client: a closure made in the CONNECT's callbacks
 * would keep their whole scope (aedes' `done` among it) for as long as the connection lives.
 */
class TakenOver implements LocalConnection {
  constructor (private readonly client: Client) {}

  close (): void { endConnection(this.client, REASON.sessionTakenOver) }
}

/** aedes' "never expires" Session Expiry Interval (0xFFFFFFFF); Wharf says 0. */
const NEVER_EXPIRES = 0xFFFFFFFF

/** An MQTT 5 client's Session Expiry Interval as Wharf keeps it (0 = never; aedes caps it at `mqtt.session_expiry_interval`). */
export function sessionExpiryS (client: Client): number {
  const interval = client.sessionExpiryInterval
  return interval >= NEVER_EXPIRES ? 0 : interval
}

/** An MQTT 5 client's Clean Start and Session Expiry Interval. */
function v5Session (client: Client): { cleanStart: boolean; expiryS: number } {
  return { cleanStart: cleanStartOf(client), expiryS: sessionExpiryS(client) }
}

/**
 * The CONNECT of one client, before its CONNACK (aedes' authenticate hook): authenticate ->
 * claim the client id cluster-wide (takeover) -> close a local connection of the same id -> open
 * the persistent session (the previous owner hands it over first) or drop a stored one for clean = 1
 * -> discard a stale will of a dead connection. After the CONNACK (`resume`): replay the session's
 * backlog from the log, then go live. Owns what it learns per connection (`connected(client)`).
 */
export class ConnectFlow {
  private readonly byClient = new WeakMap<Client, Connected>()
  private readonly log: Logger

  constructor (private readonly opts: ConnectOptions) {
    this.log = opts.logger
  }

  /** The connection's claim, identity and session, once its CONNECT went through. */
  connected (client: Client): Connected | undefined {
    return this.byClient.get(client)
  }

  /** The persistent session bound to a connected client. */
  sessionOf (client: Client): PersistentSession | undefined {
    return this.byClient.get(client)?.session
  }

  readonly authenticate: AuthenticateHandler = (client, username, password, done) => {
    const clientId = client.id
    const { listener, peerhost } = this.opts.connectionOf(client)
    const name = username === undefined || username === null || username === '' ? undefined : username
    const refuse = (reason: RefusalReason, err?: unknown): void => {
      if (reason === 'server_unavailable') this.log.warn({ clientId, err }, 'CONNECT refused: the client id could not be claimed in Kafka')
      // the authenticator logs its own refusals (auth-chain.ts: "login refused")
      else this.log.debug({ clientId, username: loggableUsername(name), peerhost, reason }, 'CONNECT refused')
      this.refuse(client, CONNACK[reason], reason, done)
    }
    const breach = this.opts.rules.breachOf(client)
    if (breach !== undefined) {
      this.log.debug({ clientId, peerhost, reason: breach.reason }, 'CONNECT refused')
      this.refuse(client, breach.returnCode, breach.reason, done)
      return
    }
    const enhanced = this.opts.enhancedOf?.(client)
    Promise.resolve(this.opts.authenticate.authenticate({ clientId, username: name, password: password ?? undefined, peerhost, listener, enhanced }))
      .then(decision => {
        if (!decision.allow) { refuse(decision.reason); return }
        const subject: AuthzSubject = { clientId, username: name, peerhost, superuser: decision.superuser, acl: decision.acl }
        if (decision.expiresAt !== undefined) closeAtExpiry(client, decision.expiresAt, this.log)
        // taken over on another node: an MQTT 5 client is told so (DISCONNECT 0x8E)
        this.opts.claim(clientId, new TakenOver(client))
          .then(claim => this.open(client, claim, subject))
          .then(() => done(null, true), (err: unknown) => refuse('server_unavailable', err))
      }, (err: unknown) => {
        this.log.warn({ clientId, err }, 'authentication failed with an error')
        refuse('server_unavailable', err)
      })
  }

  /**
   * Refuses the CONNECT: 3.1.1's return code through aedes; an MQTT 5 client gets the reason code
   * of `reason` (aedes itself maps only the 3.1.1 codes 2-5).
   */
  private refuse (client: Client, returnCode: ConnackRefusal, reason: string, done: Parameters<AuthenticateHandler>[3]): void {
    if (client.version === 5 && !client.closed) refuseConnectV5(client, connackReasonCode(reason), this.opts.reasonStrings ? reason : undefined)
    done(connectRefusal(returnCode, reason), false)
  }

  private async open (client: Client, claim: Claim, subject: AuthzSubject): Promise<void> {
    // the connection may have gone while the claim was written
    if (client.closed) { claim.release(); return }
    const connected: Connected = { claim, subject }
    this.byClient.set(client, connected)
    const previous = connectedClient(this.opts.aedes(), client.id)
    if (previous !== undefined && previous !== client) endConnection(previous, REASON.sessionTakenOver)
    // [MQTT-3.1.2-4] (3.1.1: [MQTT-3.1.2-6]): a clean start discards the inbound QoS 2 ids of an earlier connection too
    if (cleanStartOf(client)) await discardIncoming(this.opts.aedes(), client)
    const opened = await this.opts.sessions.open(client.id, client.clean, claim.conn, client.version === 5 ? v5Session(client) : undefined)
    await this.opts.wills.discardStale(client.id, claim.conn)
    if (opened.session === undefined) return
    if (client.closed) { void this.opts.sessions.close(opened.session); return }
    connected.session = opened.session
    if (opened.present) sessionPresentOn(client.conn)
    // the node reads what the session's subscriptions need before the CONNACK; partitions the
    // session has no cursor for yet start where the node reads them now
    const subscriptions = this.opts.subscriptions
    await Promise.all([...opened.session.subs.keys()].map(filter => subscriptions.hold(client, filter)))
    opened.session.startAt(subscriptions.positions())
    this.opts.delivery.prepare(client, opened.session)
  }

  /** CONNACK sent and aedes' own queue done (aedes' `clientReady`): replay from the log, then go live. */
  resume (client: Client): void {
    const connected = this.byClient.get(client)
    const session = connected?.session
    if (connected === undefined || session === undefined) return
    dropUnauthorizedSubscriptions(session, connected.subject, this.opts.authorize, this.log)
    this.opts.catchUp.start(client, session)
  }
}
