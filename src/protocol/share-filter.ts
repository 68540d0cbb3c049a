import { isValidTopicFilter } from './topic-filter.js'

/** A shared subscription as the client wrote it: `$share/<group>/<filter>` or `$queue/<filter>`. */
export interface ShareFilter {
  group: string
  filter: string
}

/** The group every `$queue/<filter>` subscription belongs to. */
export const QUEUE_GROUP = '$queue'

/**
 * `$share/<group>/<filter>` as an MQTT 5 client's SUBSCRIBE reaches aedes (the edge rewrites it:
 * aedes 2 refuses `$share/` from v5 clients itself). No topic name can match it: U+0000 is not
 * allowed in one [MQTT-4.7.3-2].
 */
export const SHARE_ALIAS = '\u0000share/'

export function isShareFilter (topic: string): boolean {
  return topic.startsWith('$share/') || topic.startsWith('$queue/') || topic.startsWith(SHARE_ALIAS)
}

/**
 * The group and filter of a shared subscription, or undefined when it is malformed: the group must
 * be non-empty without "/", "+" or "#", the filter a valid topic filter.
 */
export function parseShareFilter (topic: string): ShareFilter | undefined {
  let group: string
  let filter: string
  if (topic.startsWith('$queue/')) {
    group = QUEUE_GROUP
    filter = topic.slice('$queue/'.length)
  } else if (topic.startsWith('$share/') || topic.startsWith(SHARE_ALIAS)) {
    const rest = topic.slice(topic.startsWith(SHARE_ALIAS) ? SHARE_ALIAS.length : '$share/'.length)
    const cut = rest.indexOf('/')
    if (cut <= 0) return undefined
    group = rest.slice(0, cut)
    filter = rest.slice(cut + 1)
    if (group.includes('+') || group.includes('#')) return undefined
  } else {
    return undefined
  }
  if (filter === '' || !isValidTopicFilter(filter)) return undefined
  return { group, filter }
}
