import { literalPattern, topicPattern, topicPatternProblem, type AclRule, type Identity, type Permission, type RuleAction } from './acl-rule.js'
import { AclFileError } from './rules-file.js'

/*
 * A Mosquitto `acl_file` as Wharf rules:
 *   topic [read|write|readwrite|deny] <topic>   before any `user` line: anonymous clients only
 *   user <name>                                 the `topic` lines after it are that user's
 *   pattern [read|write|readwrite|deny] <topic> every client, with %u (user name) and %c (client id)
 * read = subscribe (and receive), write = publish, readwrite = both (the default), deny = neither.
 * Mosquitto checks deny lines before the others, whatever their place: the result lists every
 * deny rule first, then the allow rules, in file order. Mosquitto denies what no line allows; to
 * get that, set `authorization.no_match: deny`.
 */

interface Line { kind: 'topic' | 'pattern'; user: string | null | undefined; access: string; topic: string; line: number }

const ACCESS: Record<string, { permission: Permission; action: RuleAction }> = {
  read: { permission: 'allow', action: 'subscribe' },
  write: { permission: 'allow', action: 'publish' },
  readwrite: { permission: 'allow', action: 'all' },
  deny: { permission: 'deny', action: 'all' }
}

export function parseMosquittoAcl (text: string, file: string): AclRule[] {
  const entries: Line[] = []
  /** undefined: before any `user` line (anonymous section) */
  let user: string | undefined
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim()
    if (line === '' || line.startsWith('#')) continue
    const m = /^(\S+)\s+(.*)$/.exec(line)
    const keyword = m?.[1]
    const rest = (m?.[2] ?? '').trim()
    if (keyword === 'user') {
      if (rest === '') throw new AclFileError(file, i + 1, 'user needs a name')
      user = rest
      continue
    }
    if (keyword !== 'topic' && keyword !== 'pattern') throw new AclFileError(file, i + 1, 'expected user, topic or pattern')
    const a = /^(read|write|readwrite|deny)\s+(.+)$/.exec(rest)
    const access = a?.[1] ?? 'readwrite'
    const topic = (a?.[2] ?? rest).trim()
    if (topic === '') throw new AclFileError(file, i + 1, `${keyword} needs a topic`)
    const problem = topicPatternProblem(topic)
    if (problem !== undefined) throw new AclFileError(file, i + 1, problem)
    entries.push({ kind: keyword, user: keyword === 'pattern' ? null : user, access, topic, line: i + 1 })
  }
  const toRule = (e: Line): AclRule => {
    const { permission, action } = ACCESS[e.access] as { permission: Permission; action: RuleAction }
    // Mosquitto substitutes %u and %c only in `pattern` lines; `topic` lines are literal
    const pattern = e.kind === 'pattern' ? topicPattern(e.topic) : literalPattern(e.topic)
    const who: (c: Identity) => boolean = e.user === null
      ? () => true
      : e.user === undefined ? c => c.username === undefined : c => c.username === e.user
    return { permission, action, who, topics: [pattern], origin: `${file}:${e.line}` }
  }
  const denies = entries.filter(e => e.access === 'deny').map(toRule)
  const allows = entries.filter(e => e.access !== 'deny').map(toRule)
  return [...denies, ...allows]
}
