import { ANY_TOPIC, cidrMatcher, nameMatcher, topicPattern, topicPatternProblem, type AclRule, type Identity, type RuleAction } from './acl-rule.js'

/*
 * Rules as written in the rules file, or as a list in a JWT `acl` claim / HTTP answer:
 *   { permission: allow|deny, who: all | {username|clientid|ipaddr: value or list}, action:
 *     publish|subscribe|all (pub/sub too), qos: [0,1], retain: bool, topics: [...] (or topic: ...) }
 * Values of `username`/`clientid` are exact names or `re:<regex>`; `ipaddr` takes IPs and CIDRs.
 * Several `who` keys must all match; a list matches any of its entries.
 */

/** A rule that cannot be read; the message says which field and why (the caller adds where). */
export class RuleSpecError extends Error {
  override readonly name = 'RuleSpecError'
}

const WHO_KEYS = ['username', 'clientid', 'ipaddr'] as const
const RULE_KEYS = new Set(['permission', 'who', 'action', 'qos', 'retain', 'topics', 'topic'])
const ACTIONS: Record<string, RuleAction> = { publish: 'publish', pub: 'publish', subscribe: 'subscribe', sub: 'subscribe', all: 'all' }

function strings (v: unknown, field: string): string[] {
  const list = Array.isArray(v) ? v : [v]
  if (list.length === 0 || !list.every(s => typeof s === 'string' && s.length > 0)) throw new RuleSpecError(`${field}: expected a non-empty string or a list of them`)
  return list as string[]
}

function parseWho (v: unknown): (c: Identity) => boolean {
  if (v === undefined || v === 'all') return () => true
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RuleSpecError('who: expected all, or a mapping of username, clientid, ipaddr')
  const checks: Array<(c: Identity) => boolean> = []
  for (const [key, value] of Object.entries(v)) {
    if (!(WHO_KEYS as readonly string[]).includes(key)) throw new RuleSpecError(`who.${key}: unknown; expected username, clientid or ipaddr`)
    const values = strings(value, `who.${key}`)
    if (key === 'ipaddr') {
      const ms = values.map(s => {
        try { return cidrMatcher(s) } catch (err) { throw new RuleSpecError(`who.ipaddr: ${(err as Error).message}`) }
      })
      checks.push(c => ms.some(m => m(c.peerhost)))
    } else {
      const ms = values.map(s => {
        try { return nameMatcher(s) } catch (err) { throw new RuleSpecError(`who.${key}: bad regular expression: ${(err as Error).message}`) }
      })
      checks.push(key === 'username' ? c => ms.some(m => m(c.username)) : c => ms.some(m => m(c.clientId)))
    }
  }
  if (checks.length === 0) throw new RuleSpecError('who: empty; write all for every client')
  return c => checks.every(check => check(c))
}

/** One rule from plain data (YAML or JSON); throws a RuleSpecError naming the field. */
export function parseRule (v: unknown, origin: string): AclRule {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RuleSpecError('expected a rule: a mapping with permission, who, action, topics')
  const r = v as Record<string, unknown>
  for (const key of Object.keys(r)) if (!RULE_KEYS.has(key)) throw new RuleSpecError(`${key}: unknown key; expected permission, who, action, qos, retain, topics`)
  if (r.permission !== 'allow' && r.permission !== 'deny') throw new RuleSpecError('permission: expected allow or deny')
  const action = ACTIONS[r.action === undefined ? 'all' : String(r.action)]
  if (action === undefined) throw new RuleSpecError('action: expected publish, subscribe or all')
  let qos: number[] | undefined
  if (r.qos !== undefined) {
    const list = Array.isArray(r.qos) ? r.qos : [r.qos]
    if (list.length === 0 || !list.every(q => q === 0 || q === 1 || q === 2)) throw new RuleSpecError('qos: expected a list of 0, 1, 2')
    qos = list as number[]
  }
  if (r.retain !== undefined && typeof r.retain !== 'boolean') throw new RuleSpecError('retain: expected true or false')
  if (r.topics !== undefined && r.topic !== undefined) throw new RuleSpecError('topic and topics: give one of them')
  const raw = strings(r.topics ?? r.topic, r.topic !== undefined ? 'topic' : 'topics')
  for (const t of raw) {
    const problem = topicPatternProblem(t)
    if (problem !== undefined) throw new RuleSpecError(`topics: ${problem}`)
  }
  return {
    permission: r.permission,
    who: parseWho(r.who),
    action,
    qos,
    retain: r.retain as boolean | undefined,
    topics: raw.map(topicPattern),
    origin
  }
}

/**
 * The rules of an `acl` claim or answer, EMQX's two shapes: a list of rules (no match: the rules
 * file decides), or `{pub: [...], sub: [...], all: [...]}` of allowed filters (no match: denied,
 * so a trailing deny-all rule is added). Throws a RuleSpecError on anything else.
 */
export function parseAclClaim (v: unknown, origin: string): AclRule[] {
  if (Array.isArray(v)) return v.map((r, i) => {
    try {
      return parseRule(r, origin)
    } catch (err) {
      throw new RuleSpecError(`rule ${i + 1}: ${(err as Error).message}`)
    }
  })
  if (typeof v !== 'object' || v === null) throw new RuleSpecError('expected a list of rules or {pub, sub, all}')
  const rules: AclRule[] = []
  for (const [key, topics] of Object.entries(v)) {
    const action = ({ pub: 'publish', sub: 'subscribe', all: 'all' } as const)[key as 'pub' | 'sub' | 'all']
    if (action === undefined) throw new RuleSpecError(`${key}: unknown; expected pub, sub or all`)
    if (!Array.isArray(topics)) throw new RuleSpecError(`${key}: expected a list of topic filters`)
    if (topics.length > 0) rules.push(parseRule({ permission: 'allow', action, topics }, origin))
  }
  rules.push({ permission: 'deny', who: () => true, action: 'all', topics: [ANY_TOPIC], origin })
  return rules
}
