import type { AclRule } from './authz/acl-rule.js'
import type { AuthzSubject, ConnectRequest } from './hooks.js'

/*
 * The types behind the edge's two interfaces (hooks.ts: Authenticate, Authorize): what a
 * connecting client looks like to the sources, and what each source and the chain answer.
 */

export type { AclRule, AuthzSubject }

/** A connecting client as the sources see it: the edge's ConnectRequest, plus what TLS listeners may add. */
export interface ClientInfo extends ConnectRequest {
  protocol?: 'tcp' | 'ssl' | 'ws' | 'wss' | undefined
  /** from a verified TLS client certificate */
  certCommonName?: string | undefined
  certSubject?: string | undefined
}

/** Why a CONNECT was refused: bad_credentials -> CONNACK 0x04, the others -> 0x05. */
export type DenyReason = 'bad_credentials' | 'not_authorized' | 'banned'

/** The chain's detailed answer (AuthChain.check): ConnectDecision plus the source that decided. */
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

export type AuthzAction = 'publish' | 'subscribe'
export interface AuthzOptions { qos: 0 | 1 | 2; retain?: boolean | undefined }
