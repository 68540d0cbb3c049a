import type { Metrics } from '../observability/metrics.js'
import type { AuthChain } from './authn/auth-chain.js'
import type { AclAuthorizer } from './authz/acl-authorizer.js'

/**
 * The authentication and authorization counters in /metrics, read from the chain's and the ACL's
 * own numbers at scrape time (nothing extra on the CONNECT / PUBLISH paths).
 */
export function registerAuthMetrics (metrics: Metrics, authn: AuthChain, authz: AclAuthorizer): void {
  metrics.countByLabelsFrom('wharf_authn_success_total', 'logins allowed, by the source that allowed them (anonymous included)', ['source'],
    () => [...authn.stats.success].map(([source, n]) => [{ source }, n]))
  metrics.countByLabelsFrom('wharf_authn_failure_total', 'logins refused, by source (chain: none decided) and reason', ['source', 'reason'],
    () => [...authn.stats.failure].map(([key, n]) => {
      const cut = key.lastIndexOf('/')
      return [{ source: key.slice(0, cut), reason: key.slice(cut + 1) }, n]
    }))
  metrics.countFrom('wharf_authn_bans_total', 'bans this node made after repeated failed logins (flapping_detect)', () => authn.stats.bans)
  metrics.countByLabelsFrom('wharf_authz_total', 'authorization decisions, by action and result (cached ones included)', ['action', 'result'], () => [
    [{ action: 'publish', result: 'allow' }, authz.stats.allow.publish],
    [{ action: 'publish', result: 'deny' }, authz.stats.deny.publish],
    [{ action: 'subscribe', result: 'allow' }, authz.stats.allow.subscribe],
    [{ action: 'subscribe', result: 'deny' }, authz.stats.deny.subscribe]
  ])
  metrics.countFrom('wharf_authz_cache_hits_total', 'authorization decisions answered from the per-client cache', () => authz.stats.cacheHits)
  metrics.countFrom('wharf_authz_reloads_total', 'ACL files reloaded', () => authz.stats.reloads)
  metrics.countFrom('wharf_authz_reload_failures_total', 'ACL reloads refused (bad file; the previous rules stayed)', () => authz.stats.reloadFailures)
}
