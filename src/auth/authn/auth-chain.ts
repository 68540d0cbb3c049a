import type { Logger } from '../../observability/logger.js'
import type { BanRecord } from '../bans/banned-record.js'
import type { BannedView } from '../bans/banned-view.js'
import type { FailureTracker } from '../bans/failure-tracker.js'
import { loggableUsername, type Authenticate, type ConnectDecision } from '../hooks.js'
import type { AuthnResult, AuthnSource, ClientInfo, DenyReason } from '../types.js'


export interface AuthChainOptions {
  /** `authentication.chain`, in order */
  sources: AuthnSource[]
  allow_anonymous: boolean
  banned?: BannedView | undefined
  /** `flapping_detect` (absent when disabled) */
  failures?: FailureTracker | undefined
  /** each ban the failure tracker makes: the node produces it to the banned topic */
  onBan?: ((ban: BanRecord) => void) | undefined
}

/** Counters for /metrics: logins allowed by source, refused by source (`chain` when no source decided) and reason. */
export interface AuthnStats {
  success: Map<string, number>
  failure: Map<`${string}/${DenyReason}`, number>
  bans: number
}

/**
 * `authentication.chain`: a banned client is refused first; then each source in order allows,
 * denies, or passes the client on (`ignore`). When no source answers: a client that sent no user
 * name and no password is anonymous and `allow_anonymous` decides; one that sent credentials
 * nobody accepted is refused as bad credentials. With no sources at all every client is anonymous
 * (what Wharf did before authentication existed). A client that went through MQTT 5 enhanced
 * authentication (`ClientInfo.enhanced`, SCRAM) is decided by that exchange instead of the
 * sources, after the ban check, and counted under its method. Failed logins feed the failure tracker, whose
 * bans count on this node at once and go to the banned topic through `onBan`.
 */
export class AuthChain implements Authenticate {
  private readonly log: Logger
  readonly stats: AuthnStats = { success: new Map(), failure: new Map(), bans: 0 }

  constructor (private readonly opts: AuthChainOptions, logger: Logger) {
    this.log = logger.child({ component: 'authn' })
  }

  /** The edge's question at CONNECT (hooks.ts). */
  async authenticate (client: ClientInfo): Promise<ConnectDecision> {
    const r = await this.check(client)
    return r.outcome === 'allow'
      ? { allow: true, superuser: r.superuser, acl: r.acl, expiresAt: r.expiresAt }
      : { allow: false, reason: r.reason }
  }

  /** The same, with the source that decided. */
  async check (client: ClientInfo): Promise<AuthnResult> {
    const result = await this.run(client)
    if (result.outcome === 'allow') {
      this.stats.success.set(result.source, (this.stats.success.get(result.source) ?? 0) + 1)
      this.opts.failures?.success(client)
    } else {
      const key = `${result.source ?? 'chain'}/${result.reason}` as const
      this.stats.failure.set(key, (this.stats.failure.get(key) ?? 0) + 1)
      if (result.reason === 'bad_credentials') this.failed(client)
      // a banned client costs no hashing and may retry at network speed: its refusals at debug (the ban was logged when made; /metrics counts them)
      const line = { clientId: client.clientId, username: loggableUsername(client.username), peerhost: client.peerhost, reason: result.reason, source: result.source, why: client.enhanced?.why }
      if (result.reason === 'banned') this.log.debug(line, 'login refused')
      else this.log.info(line, 'login refused')
    }
    return result
  }

  private async run (client: ClientInfo): Promise<AuthnResult> {
    if (this.opts.banned?.isBanned(client) === true) return { outcome: 'deny', reason: 'banned' }
    // MQTT 5 enhanced authentication: the exchange the edge ran is the source
    const e = client.enhanced
    if (e !== undefined) {
      return e.verified
        ? { outcome: 'allow', superuser: e.superuser === true, source: e.method }
        : { outcome: 'deny', reason: 'bad_credentials', source: e.method }
    }
    for (const source of this.opts.sources) {
      let r
      try {
        r = await source.authenticate(client)
      } catch (err) {
        this.log.error({ err, source: source.name, clientId: client.clientId }, 'authentication source failed; passing the client on')
        continue
      }
      if (r.outcome === 'ignore') continue
      return { ...r, source: source.name }
    }
    const anonymous = this.opts.sources.length === 0 || (client.username === undefined && client.password === undefined)
    if (!anonymous) return { outcome: 'deny', reason: 'bad_credentials' }
    return this.opts.allow_anonymous ? { outcome: 'allow', superuser: false, source: 'anonymous' } : { outcome: 'deny', reason: 'not_authorized' }
  }

  private failed (client: ClientInfo): void {
    for (const ban of this.opts.failures?.failure(client) ?? []) {
      this.stats.bans++
      this.opts.banned?.add(ban)
      this.log.warn({ kind: ban.kind, value: ban.value, until: ban.until }, 'banned after repeated failed logins')
      this.opts.onBan?.(ban)
    }
  }
}
