/**
 * MQTT 3.1.1 topic-filter matching (section 4.7): `+` matches exactly one level, `#` (last) matches
 * the parent level and everything below, and a filter starting with a wildcard does not match a topic
 * starting with `$` [MQTT-4.7.2-1].
 */
export function topicMatches (filter: string, topic: string): boolean {
  if (filter === topic) return true
  if (topic.charCodeAt(0) === 36 /* $ */) {
    const first = filter.charCodeAt(0)
    if (first === 43 /* + */ || first === 35 /* # */) return false
  }
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    const level = f[i]
    if (level === '#') return true
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}

/** A topic name a client may publish to: non-empty, no wildcards, no NUL. */
export function isValidTopicName (topic: string): boolean {
  return topic.length > 0 && topic.length <= 65535 && !topic.includes('+') && !topic.includes('#') && !topic.includes('\u0000')
}

/** A topic filter a rule may use: valid levels, `#` only as the whole last level, `+` only as a whole level. */
export function isValidTopicFilter (filter: string): boolean {
  if (filter.length === 0 || filter.length > 65535 || filter.includes('\u0000')) return false
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false
    if (level.includes('+') && level !== '+') return false
  }
  return true
}

/** The number of levels every topic matching `filter` has at least. */
export function guaranteedLevels (filter: string): number {
  const levels = filter.split('/')
  return levels[levels.length - 1] === '#' ? levels.length - 1 : levels.length
}

/** A filter compiled once: exact filters compare strings, wildcard filters walk the topic without splitting it. */
export type TopicMatcher = (topic: string) => boolean

export function compileTopicFilter (filter: string): TopicMatcher {
  if (!filter.includes('+') && !filter.includes('#')) return (topic) => topic === filter
  const levels = filter.split('/')
  const startsWithWildcard = levels[0] === '+' || levels[0] === '#'
  return (topic) => {
    if (startsWithWildcard && topic.charCodeAt(0) === 36 /* $ */) return false
    let pos = 0
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i] as string
      if (level === '#') return true
      if (pos > topic.length) return false
      let end = topic.indexOf('/', pos)
      if (end === -1) end = topic.length
      if (level !== '+' && (end - pos !== level.length || !topic.startsWith(level, pos))) return false
      pos = end + 1
    }
    return pos === topic.length + 1
  }
}
