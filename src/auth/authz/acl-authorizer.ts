import { readFileSync } from 'node:fs'
import { ConfigError } from '../../config/errors.js'
import type { Logger } from '../../observability/logger.js'
import { isShareFilter, parseShareFilter } from '../../protocol/share-filter.js'
import type { Qos } from '../../protocol/message.js'
import type { Authorize, AuthzSubject } from '../hooks.js'
import type { AuthzAction, AuthzOptions } from '../types.js'
import { ruleDecision, type AclRule } from './acl-rule.js'
import { DecisionCache } from './decision-cache.js'
import { parseMosquittoAcl } from './mosquitto-acl.js'
import { parseRulesFile } from './rules-file.js'

/** `authorization.*` as the authorizer needs it. */
export interface AclAuthorizerOptions {
  /** `authorization.file`: YAML rules */
  file?: string | undefined
  /** `authorization.mosquitto_acl_file`: its rules come after those of `file` */
  mosquittoAclFile?: string | undefined
  noMatch: 'allow' | 'deny'
  denyAction: 'ignore' | 'disconnect'
  cache: { enable: boolean; max_size: number; ttl_ms: number }
  now?: () => number
}

/** Counters for /metrics: decisions by action, cache hits. */
export interface AuthzStats {
  allow: { publish: number; subscribe: number }
  deny: { publish: number; subscribe: number }
  cacheHits: number
  reloads: number
  reloadFailures: number
}

type Loaded = { rules: AclRule[] }

/**
 * The ACL: rules from authentication (per client), then the rules file, then the Mosquitto
 * acl_file; the first rule that applies decides, `no_match` when none does; superusers are always
 * allowed. Decisions are cached per client (an LRU of `cache.max_size` with `cache.ttl`), dropped
 * on every reload. Shared subscriptions are authorized on their filter.
 */
export class AclAuthorizer implements Authorize {
  private rules: AclRule[]
  private generation = 0
  private readonly caches = new WeakMap<AuthzSubject, DecisionCache>()
  private readonly now: () => number
  private readonly log: Logger
  readonly stats: AuthzStats = { allow: { publish: 0, subscribe: 0 }, deny: { publish: 0, subscribe: 0 }, cacheHits: 0, reloads: 0, reloadFailures: 0 }

  /** Reads the files; a bad file is a ConfigError naming the key (`authorization.file`), the file and the line. */
  constructor (private readonly opts: AclAuthorizerOptions, logger: Logger) {
    this.now = opts.now ?? Date.now
    this.log = logger.child({ component: 'authz' })
    try {
      this.rules = this.read().rules
    } catch (err) {
      const e = err as Error & { key?: string }
      throw new ConfigError(e.key ?? 'authorization.file', 'a readable rules file', e.message)
    }
  }

  get denyAction (): 'ignore' | 'disconnect' { return this.opts.denyAction }
  get ruleCount (): number { return this.rules.length }

  private read (): Loaded {
    const rules: AclRule[] = []
    const sources: Array<[string | undefined, string, (t: string, f: string) => AclRule[]]> = [
      [this.opts.file, 'authorization.file', parseRulesFile],
      [this.opts.mosquittoAclFile, 'authorization.mosquitto_acl_file', parseMosquittoAcl]
    ]
    for (const [file, key, parse] of sources) {
      if (file === undefined) continue
      let text: string
      try {
        text = readFileSync(file, 'utf8')
      } catch (err) {
        throw Object.assign(new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`), { key })
      }
      try {
        rules.push(...parse(text, file))
      } catch (err) {
        throw Object.assign(err as Error, { key })
      }
    }
    return { rules }
  }

  /**
   * Reads the files again (on file change and SIGHUP). A bad file keeps the rules in force and
   * logs an error naming the file and line; returns whether the new rules took effect.
   */
  reload (): boolean {
    try {
      this.rules = this.read().rules
    } catch (err) {
      this.stats.reloadFailures++
      this.log.error({ err: { message: (err as Error).message } }, 'ACL reload failed, the previous rules stay in force')
      return false
    }
    this.generation++
    this.stats.reloads++
    this.log.info({ rules: this.rules.length }, 'ACL rules reloaded')
    return true
  }

  /** The decision, cached per subject; superusers are allowed; `$share/g/f` and `$queue/f` are checked on `f`. */
  authorize (client: AuthzSubject, action: AuthzAction, topic: string, opts: AuthzOptions): 'allow' | 'deny' {
    if (client.superuser) return 'allow'
    let target = topic
    if (action === 'subscribe' && isShareFilter(topic)) {
      const share = parseShareFilter(topic)
      if (share === undefined) return this.count(action, false)
      target = share.filter
    }
    const key = `${action === 'publish' ? 'p' : 's'}${opts.qos}${opts.retain === true ? 'r' : '-'}${target}`
    const now = this.now()
    let cache: DecisionCache | undefined
    if (this.opts.cache.enable) {
      cache = this.caches.get(client)
      if (cache?.generation !== this.generation) {
        cache = new DecisionCache(this.generation, this.opts.cache.max_size, this.opts.cache.ttl_ms)
        this.caches.set(client, cache)
      }
      const hit = cache.get(key, now)
      if (hit !== undefined) {
        this.stats.cacheHits++
        return this.count(action, hit)
      }
    }
    const allow = this.decide(client, action, target, opts) === 'allow'
    cache?.set(key, allow, now)
    return this.count(action, allow)
  }

  /** The edge's PUBLISH question (hooks.ts). */
  mayPublish (subject: AuthzSubject, topic: string, qos: Qos, retain: boolean): boolean {
    return this.authorize(subject, 'publish', topic, { qos, retain }) === 'allow'
  }

  /** The edge's SUBSCRIBE question (hooks.ts); also for each retained message a new subscription would get (topic as filter). */
  maySubscribe (subject: AuthzSubject, filter: string, qos: Qos): boolean {
    return this.authorize(subject, 'subscribe', filter, { qos }) === 'allow'
  }

  private decide (client: AuthzSubject, action: AuthzAction, topic: string, opts: AuthzOptions): 'allow' | 'deny' {
    for (const list of [client.acl ?? [], this.rules]) {
      for (const rule of list) {
        const d = ruleDecision(rule, client, action, topic, opts.qos, opts.retain)
        if (d !== undefined) return d
      }
    }
    return this.opts.noMatch
  }

  private count (action: AuthzAction, allow: boolean): 'allow' | 'deny' {
    this.stats[allow ? 'allow' : 'deny'][action]++
    return allow ? 'allow' : 'deny'
  }
}
