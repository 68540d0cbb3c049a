import type { AuthenticationConfig, AuthorizationConfig, FlappingDetectConfig } from '../config/auth-schema.js'
import type { Logger } from '../observability/logger.js'
import { AuthChain } from './authn/auth-chain.js'
import { BuiltInUsers } from './authn/built-in-users.js'
import { HttpSource } from './authn/http-source.js'
import { JwtSource } from './authn/jwt-source.js'
import { AclAuthorizer } from './authz/acl-authorizer.js'
import { RulesWatcher } from './authz/rules-watcher.js'
import type { BanRecord } from './bans/banned-record.js'
import type { BannedView } from './bans/banned-view.js'
import { FailureTracker } from './bans/failure-tracker.js'
import type { EnhancedAuthenticator } from './hooks.js'
import { ScramAuthenticator } from './scram/scram-authenticator.js'
import type { AuthnSource } from './types.js'
import type { UserView } from './users/user-view.js'

export interface AuthConfig {
  allow_anonymous: boolean
  authentication: AuthenticationConfig
  authorization: AuthorizationConfig
  flapping_detect: FlappingDetectConfig
}

export interface AuthDeps {
  users: UserView
  banned: BannedView
  /** produce a ban to the banned topic */
  onBan: (ban: BanRecord) => void
  logger: Logger
  /** watch the ACL files (default true) */
  watch?: boolean
  now?: () => number
}

/** What the node holds: the two objects the edge calls, and what to stop. */
export interface Auth {
  authenticator: AuthChain
  authorizer: AclAuthorizer
  /** MQTT 5 enhanced authentication (`authentication.scram`), when enabled */
  enhanced: EnhancedAuthenticator | undefined
  /** SIGHUP: read the ACL files again */
  reload: () => boolean
  close: () => void
}

/**
 * Builds the authentication chain and the ACL from the configuration. Throws a ConfigError for
 * a bad rules file; logs the start-up warnings (anonymous access, plain passwords).
 */
export function createAuth (config: AuthConfig, deps: AuthDeps): Auth {
  const log = deps.logger.child({ component: 'auth' })
  const a = config.authentication
  const pepper = a.password_hash_salt
  const sources: AuthnSource[] = a.chain.map((name) => {
    switch (name) {
      case 'built_in_database': return new BuiltInUsers(deps.users, pepper, deps.logger, a.password_hash_algorithm)
      case 'jwt': return new JwtSource({ ...a.jwt, now: deps.now }, deps.logger)
      case 'http': return new HttpSource({
        url: a.http.url as string,
        headers: a.http.headers,
        request_timeout: a.http.request_timeout,
        cache_ttl: a.http.cache.enable ? a.http.cache.ttl : 0,
        cache_max_size: a.http.cache.max_size,
        now: deps.now
      }, deps.logger)
    }
    throw new Error(`unknown authentication source ${String(name)}`)
  })
  if (config.allow_anonymous && a.chain.length === 0) log.warn('no authentication source (authentication.chain) and allow_anonymous is true: every client gets in; set them up for production (README, "Security")')
  else if (config.allow_anonymous) log.warn('allow_anonymous is true: clients without user name and password get in; set it to false in production')
  else if (a.chain.length === 0) log.warn('allow_anonymous is false and authentication.chain is empty: every client is refused')
  if (a.password_hash_algorithm.name === 'plain') log.warn('authentication.password_hash_algorithm is plain: new passwords are stored as they are in the users topic')
  const f = config.flapping_detect
  const failures = f.enable ? new FailureTracker({ max_count: f.max_count, window_time: f.window_time, ban_time: f.ban_time }, deps.now) : undefined
  const authenticator = new AuthChain({ sources, allow_anonymous: config.allow_anonymous, banned: deps.banned, failures, onBan: deps.onBan }, deps.logger)
  const z = config.authorization
  const authorizer = new AclAuthorizer({
    file: z.file,
    mosquittoAclFile: z.mosquitto_acl_file,
    noMatch: z.no_match,
    denyAction: z.deny_action,
    cache: { enable: z.cache.enable, max_size: z.cache.max_size, ttl_ms: z.cache.ttl },
    now: deps.now
  }, deps.logger)
  const files = [z.file, z.mosquitto_acl_file].filter((x): x is string => x !== undefined)
  const watcher = deps.watch !== false && files.length > 0 ? new RulesWatcher(files, () => authorizer.reload(), deps.logger) : undefined
  const enhanced = a.scram.enable
    ? new ScramAuthenticator(deps.users, { algorithms: a.scram.algorithm, iterations: a.scram.iteration_count, secret: pepper })
    : undefined
  return {
    authenticator,
    authorizer,
    enhanced,
    reload: () => authorizer.reload(),
    close: () => {
      watcher?.close()
      for (const s of sources) s.close?.()
    }
  }
}
