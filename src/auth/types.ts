import type { AclRule } from './authz/acl-rule.js'

export type { AclRule }

/** What the edge knows about a connecting client; the only input authentication sources get. */
export interface ClientInfo {
  clientId: string
  username?: string | undefined
  password?: Buffer | undefined
  /** the peer's IP address (no port) */
  peerhost: string
  /** the listener's name (`default`, ...) */
  listener: string
  protocol: 'tcp' | 'ssl' | 'ws' | 'wss'
  /** from a verified TLS client certificate */
  certCommonName?: string | undefined
  certSubject?: string | undefined
}

/** Why a CONNECT was refused: bad_credentials -> CONNACK 0x04, the others -> 0x05. */
export type DenyReason = 'bad_credentials' | 'not_authorized' | 'banned'

/** The answer of the whole chain at CONNECT. */
export type AuthnResult =
  | {
    outcome: 'allow'
    superuser: boolean
    /** per-client rules from the source (JWT `acl` claim, HTTP `acl` answer), checked before the rules file */
    acl?: AclRule[] | undefined
    /** epoch ms after which the client must be disconnected (JWT `exp` with `disconnect_after_expire`) */
    expiresAt?: number | undefined
    /** the source that accepted the client (`built_in_database`, `jwt`, `http`, `anonymous`) */
    source: string
  }
  | { outcome: 'deny'; reason: DenyReason; source?: string | undefined }

/** The answer of one source of the chain: `ignore` passes the client to the next source. */
export type SourceResult = Exclude<AuthnResult, { outcome: 'allow' }> | Omit<Extract<AuthnResult, { outcome: 'allow' }>, 'source'> | { outcome: 'ignore' }

/** One source of the chain (built-in users, JWT, HTTP): knows nothing of the others. */
export interface AuthnSource {
  /** EMQX's mechanism/backend name: `built_in_database`, `jwt`, `http` */
  readonly name: string
  authenticate (client: ClientInfo): Promise<SourceResult>
  /** stops timers and watchers */
  close? (): void
}

/** What the edge calls at CONNECT: the whole chain (bans, sources, anonymous). */
export interface Authenticator {
  authenticate (client: ClientInfo): Promise<AuthnResult>
}

/**
 * A connected client as authorization sees it. Create one per connection (at CONNECT, after
 * authentication) and pass the same object on every call: its decision cache hangs off it.
 */
export interface AuthzClient {
  clientId: string
  username?: string | undefined
  peerhost: string
  superuser: boolean
  /** rules from authentication (see AuthnResult.acl) */
  acl?: AclRule[] | undefined
}

export type AuthzAction = 'publish' | 'subscribe'
export interface AuthzOptions { qos: 0 | 1 | 2; retain?: boolean | undefined }

/** What the edge calls at SUBSCRIBE, PUBLISH and before a retained delivery: synchronous, cached. */
export interface Authorizer {
  authorize (client: AuthzClient, action: AuthzAction, topic: string, opts: AuthzOptions): 'allow' | 'deny'
}
