import type { Qos } from '../protocol/message.js'
import type { AclRule } from './authz/acl-rule.js'

/*
 * The two questions the MQTT edge asks, as small interfaces: may this client connect, and may it
 * publish to / subscribe to this topic. The sources behind them (built-in users, JWT, HTTP, ACL
 * files) plug in here without the edge knowing which; the edge only maps refusals onto MQTT.
 */

/** A user name for a log line: not when it is long or shaped like a JWT (`jwt.from: username` puts the token there). */
export function loggableUsername (username: string | undefined): string | undefined {
  if (username === undefined) return undefined
  return username.length > 128 || /^[\w-]+\.[\w-]+\.[\w-]*$/.test(username) ? '(token)' : username
}

/** What the edge knows of a connecting client. Never logged with its password. */
export interface ConnectRequest {
  clientId: string
  username: string | undefined
  password: Buffer | undefined
  /** the client's address as the listener saw it (or as a PROXY header / trusted proxy said) */
  peerhost: string
  /** the listener's name */
  listener: string
  /**
   * MQTT 5 enhanced authentication: the exchange already ran (the edge, with an EnhancedAuthenticator)
   * and `username` is the name it proved or claimed; the chain decides on its outcome, not on a password
   */
  enhanced?: EnhancedOutcome | undefined
}

/** How an MQTT 5 enhanced authentication exchange ended, for the chain. */
export interface EnhancedOutcome {
  /** the Authentication Method (`SCRAM-SHA-256`) */
  method: string
  verified: boolean
  /** only when verified: the user's superuser flag */
  superuser?: boolean | undefined
  /** why it failed, for the server's log (never a secret) */
  why?: string | undefined
}

/** One step of an exchange: data for the client and more to come, or the end. */
export type EnhancedStep =
  | { done: false; data: Buffer }
  | { done: true; verified: true; username: string; superuser: boolean; data: Buffer }
  | { done: true; verified: false; username: string | undefined; why: string }

/** The server side of one exchange, fed the client's Authentication Data step by step. */
export interface EnhancedExchange {
  step (data: Buffer): EnhancedStep
}

/**
 * MQTT 5 enhanced authentication (the AUTH packet, MQTT 5.0 section 4.12): the Authentication
 * Methods offered, and a new exchange for one of them (undefined for a method not offered).
 */
export interface EnhancedAuthenticator {
  readonly methods: readonly string[]
  begin (method: string): EnhancedExchange | undefined
}

/** Why a CONNECT is refused; the edge picks the CONNACK code. */
export type RefusalReason = 'bad_credentials' | 'not_authorized' | 'banned' | 'server_unavailable'

export type ConnectDecision =
  | {
    allow: true
    superuser: boolean
    /** per-client ACL rules from the source (JWT `acl` claim, HTTP answer): pass them on in AuthzSubject.acl */
    acl?: AclRule[] | undefined
    /** epoch ms after which the client must be disconnected (JWT `exp`, `disconnect_after_expire`) */
    expiresAt?: number | undefined
  }
  | { allow: false; reason: RefusalReason }

export interface Authenticate {
  authenticate (request: ConnectRequest): Promise<ConnectDecision> | ConnectDecision
}

/**
 * A connected client, as authorization sees it. Made once per connection and passed as the same
 * object on every call: the ACL caches its decisions on it.
 */
export interface AuthzSubject {
  clientId: string
  username: string | undefined
  peerhost: string
  superuser: boolean
  /** ConnectDecision.acl: checked before the rules files */
  acl?: AclRule[] | undefined
}

export interface Authorize {
  /**
   * what the edge does with a denied PUBLISH (`authorization.deny_action`): `ignore` acknowledges it
   * as MQTT 3.1.1 requires and writes nothing; `disconnect` closes the connection. Default: ignore.
   */
  readonly denyAction?: 'ignore' | 'disconnect'
  /** may `subject` publish `qos`/`retain` to `topic`? Synchronous: it runs for every PUBLISH. */
  mayPublish (subject: AuthzSubject, topic: string, qos: Qos, retain: boolean): boolean
  /** may `subject` subscribe to `filter` (the filter of a `$share/g/f` subscription is `f`)? */
  maySubscribe (subject: AuthzSubject, filter: string, qos: Qos): boolean
}

/** No authentication source: every client gets in (configuration `allow_anonymous: true`, nothing else). */
export const allowEveryone: Authenticate = {
  authenticate: () => ({ allow: true, superuser: false })
}

/** No ACL: every client may publish and subscribe anywhere (the edge still keeps clients out of `$SYS/`). */
export const noAcl: Authorize = {
  mayPublish: () => true,
  maySubscribe: () => true
}
