import { BlockList, isIP } from 'node:net'
import { compileTopicFilter, isValidTopicFilter, topicMatches, type TopicMatcher } from '../../protocol/topic-filter.js'
import { filterWithin } from './filter-within.js'

/*
 * One ACL rule, compiled: who it applies to (a predicate), the action, optional QoS and retain
 * conditions, and topic patterns with placeholders. Rules come from the rules file, a Mosquitto
 * acl_file, or authentication (JWT `acl` claim, HTTP answer); all compile to this one shape.
 */

export type Permission = 'allow' | 'deny'
export type RuleAction = 'publish' | 'subscribe' | 'all'

/** The identity a `who` predicate looks at (a slice of AuthzClient). */
export interface Identity { clientId: string; username?: string | undefined; peerhost: string }

/** A rule topic: a filter, or `eq <filter>` (the requested topic must be that very string). */
export interface TopicPattern {
  eq: boolean
  /** as written, with `${username}`, `${clientid}`, `%u`, `%c` still in it */
  template: string
  /** true when the template has placeholders (resolved per client) */
  templated: boolean
  /** matches every topic and filter, `$` ones included (the implicit deny-all of some sources) */
  any?: boolean
  /** the publish matcher, compiled once when the template has no placeholders */
  matcher?: TopicMatcher
}

/** Every topic, `$SYS/...` included (`#` does not match `$` topics). */
export const ANY_TOPIC: TopicPattern = { eq: false, template: '#', templated: false, any: true }

export interface AclRule {
  permission: Permission
  who: (c: Identity) => boolean
  action: RuleAction
  /** the rule applies only to these QoS levels (absent: all) */
  qos?: readonly number[] | undefined
  /** publish only: the rule applies only when the PUBLISH's retain flag is this (absent: either) */
  retain?: boolean | undefined
  topics: readonly TopicPattern[]
  /** where the rule was written, for logs: `acl.yaml:12`, `jwt` */
  origin: string
}

const PLACEHOLDER = /\$\{(username|clientid)\}|%([uc])/g

export function topicPattern (raw: string): TopicPattern {
  const eq = raw.startsWith('eq ')
  const template = eq ? raw.slice(3).trim() : raw
  PLACEHOLDER.lastIndex = 0
  const templated = PLACEHOLDER.test(template)
  return templated || eq ? { eq, template, templated } : { eq, template, templated, matcher: compileTopicFilter(template) }
}

/** A filter taken as it is, placeholders or not (Mosquitto `topic` lines). */
export function literalPattern (filter: string): TopicPattern {
  return { eq: false, template: filter, templated: false, matcher: compileTopicFilter(filter) }
}

/** A placeholder value that could widen a topic (wildcards or extra levels) is never substituted. */
const UNSAFE = /[+#/]/

/**
 * The pattern's filter for this client: `undefined` when a placeholder has no value (anonymous
 * client and `${username}`: the rule does not apply), `null` when the value is unsafe (contains
 * `+`, `#` or `/`).
 */
export function resolveTemplate (p: TopicPattern, c: Identity): string | undefined | null {
  if (!p.templated) return p.template
  let missing = false
  let unsafe = false
  const out = p.template.replace(PLACEHOLDER, (_m, long: string | undefined, short: string | undefined) => {
    const which = long ?? (short === 'u' ? 'username' : 'clientid')
    const value = which === 'username' ? c.username : c.clientId
    if (value === undefined || value === '') missing = true
    else if (UNSAFE.test(value)) unsafe = true
    return value ?? ''
  })
  if (missing) return undefined
  return unsafe ? null : out
}

/**
 * Whether the rule's topics cover the request: for publish the topic name matches the rule
 * filter; for subscribe the requested filter is within it (see filterWithin); `eq` compares the
 * strings. A placeholder with an unsafe value makes a deny rule match (fail closed) and an allow
 * rule not.
 */
export function topicsCover (rule: AclRule, c: Identity, action: 'publish' | 'subscribe', topic: string): boolean {
  for (const p of rule.topics) {
    if (p.any === true) return true
    const filter = resolveTemplate(p, c)
    if (filter === undefined) continue
    if (filter === null) {
      if (rule.permission === 'deny') return true
      continue
    }
    if (p.eq) {
      if (filter === topic) return true
    } else if (action === 'publish' ? (p.matcher !== undefined ? p.matcher(topic) : topicMatches(filter, topic)) : filterWithin(topic, filter)) {
      return true
    }
  }
  return false
}

/** The rule's answer for a request, or undefined when it does not apply. */
export function ruleDecision (rule: AclRule, c: Identity, action: 'publish' | 'subscribe', topic: string, qos: number, retain: boolean | undefined): Permission | undefined {
  if (rule.action !== 'all' && rule.action !== action) return undefined
  if (rule.qos !== undefined && !rule.qos.includes(qos)) return undefined
  if (action === 'publish' && rule.retain !== undefined && rule.retain !== (retain ?? false)) return undefined
  if (!rule.who(c)) return undefined
  return topicsCover(rule, c, action, topic) ? rule.permission : undefined
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) is 10.0.0.1. */
export function normalizeIp (ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip
}

/** A predicate for an IP address or CIDR (`10.0.0.0/8`, `::1`); throws on a malformed one. */
export function cidrMatcher (cidr: string): (ip: string) => boolean {
  const [addr, bits, ...rest] = cidr.trim().split('/')
  const family = isIP(addr ?? '')
  if (family === 0 || rest.length > 0) throw new Error(`"${cidr}" is not an IP address or CIDR`)
  const max = family === 4 ? 32 : 128
  const prefix = bits === undefined ? max : Number(bits)
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) throw new Error(`"${cidr}" has a bad prefix length`)
  const list = new BlockList()
  const type = family === 4 ? 'ipv4' : 'ipv6'
  list.addSubnet(addr as string, prefix, type)
  return (ip) => {
    const n = normalizeIp(ip)
    const f = isIP(n)
    return f !== 0 && list.check(n, f === 4 ? 'ipv4' : 'ipv6')
  }
}

/** A predicate for a name: the exact string, or `re:<regex>` (unanchored: write ^...$ yourself). */
export function nameMatcher (pattern: string): (name: string | undefined) => boolean {
  if (pattern.startsWith('re:')) {
    const re = new RegExp(pattern.slice(3))
    return (name) => name !== undefined && re.test(name)
  }
  return (name) => name === pattern
}

/** Checks a topic pattern as written in a rule; returns what is wrong, or undefined. */
export function topicPatternProblem (raw: string): string | undefined {
  const p = topicPattern(raw)
  // placeholders are whole values inside a level; check the filter with them replaced by a plain word
  const probe = p.template.replace(PLACEHOLDER, 'x')
  return isValidTopicFilter(probe) ? undefined : `"${raw}" is not a valid topic filter`
}
