/**
 * Does `filter` match `topic`? (MQTT 3.1.1 section 4.7.) For one-off checks; compile a filter that
 * is matched often (`compileTopicFilter`).
 */
export function topicMatches (filter: string, topic: string): boolean {
  return compileTopicFilter(filter)(topic)
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

/**
 * A filter compiled once (MQTT 3.1.1 section 4.7): `+` matches exactly one level, `#` (last) matches
 * the parent level and everything below, and a filter starting with a wildcard does not match a
 * topic starting with `$` [MQTT-4.7.2-1]. Exact filters compare strings; wildcard filters walk the
 * topic without splitting it.
 */
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
