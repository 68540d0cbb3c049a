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
