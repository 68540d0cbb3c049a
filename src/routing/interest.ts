import { tpKey } from '../kafka/topic-partition.js'
import { partitionOf } from '../kafka/partitioner.js'
import type { InboundRoute, OutboundRoute } from '../mapping/mapping.js'
import { templateKeyOf, type TemplatePart } from '../mapping/template.js'
import { FilterTrie } from '../protocol/filter-trie.js'

/** Every partition of a Kafka topic. */
export const ALL_PARTITIONS = -1

/** A Kafka topic and one partition of it, or ALL_PARTITIONS. */
export interface TopicPart { topic: string; partition: number }

/**
 * Which partitions of which Kafka topics can hold a record that a subscriber to a filter would
 * receive: the pure part of a node's interest (issue 20). Per route of the mapping:
 * - topic level: a route whose MQTT topics (a rule's filter; any topic for the default route) cannot
 *   overlap the filter contributes nothing;
 * - partition level: when the filter fixes the record key (an exact topic with the key `${topic}`;
 *   literal levels where the key template takes `{N}`; the `${key}` part of an inbound MQTT topic
 *   template), only that key's partition, by the producer's partitioner;
 * - otherwise every partition of the route's Kafka topic.
 * `$SYS` topics never come from Kafka.
 */
export class InterestPlan {
  constructor (
    private readonly routes: { outbound: OutboundRoute[]; inbound: InboundRoute[] },
    private readonly partitionsOf: (kafkaTopic: string) => number
  ) {}

  /** The Kafka topics any filter can need. */
  get kafkaTopics (): string[] {
    return [...new Set([...this.routes.outbound.map(r => r.kafkaTopic), ...this.routes.inbound.map(r => r.kafkaTopic)])]
  }

  /** The partitions a subscriber to `filter` can receive records from (ALL_PARTITIONS = every one). */
  of (filter: string): TopicPart[] {
    if (filter === '$SYS' || filter.startsWith('$SYS/')) return []
    const out: TopicPart[] = []
    const add = (topic: string, key: string | undefined): void => {
      const partition = key === undefined ? ALL_PARTITIONS : partitionOf(topic, key, this.partitionsOf(topic))
      if (!out.some(p => p.topic === topic && (p.partition === partition || p.partition === ALL_PARTITIONS))) {
        if (partition === ALL_PARTITIONS) {
          for (let i = out.length - 1; i >= 0; i--) if ((out[i] as TopicPart).topic === topic) out.splice(i, 1)
        }
        out.push({ topic, partition })
      }
    }
    for (const route of this.routes.outbound) {
      if (route.filter !== undefined && !filtersOverlap(filter, route.filter)) continue
      add(route.kafkaTopic, keyFromFilter(filter, route.key))
    }
    for (const route of this.routes.inbound) {
      const key = keyFromTopicTemplate(filter, route.topic)
      if (key === null) continue
      add(route.kafkaTopic, key)
    }
    return out
  }
}

/** Can some topic match both filters? (MQTT 3.1.1 section 4.7, the `$` rule included.) */
export function filtersOverlap (a: string, b: string): boolean {
  const x = a.split('/')
  const y = b.split('/')
  const dollar = (levels: string[]): boolean => (levels[0] as string).startsWith('$')
  const wild = (level: string | undefined): boolean => level === '+' || level === '#'
  // a filter starting with a wildcard matches no topic starting with `$`
  if ((wild(x[0]) && dollar(y)) || (wild(y[0]) && dollar(x))) return false
  for (let i = 0; ; i++) {
    const p = x[i]
    const q = y[i]
    if (p === '#' || q === '#') return true
    if (p === undefined || q === undefined) return p === q
    if (p !== '+' && q !== '+' && p !== q) return false
  }
}

/** The record key every message a subscriber to `filter` can get has, or undefined when it varies. */
export function keyFromFilter (filter: string, key: TemplatePart[]): string | undefined {
  const levels = filter.split('/')
  let out = ''
  for (const part of key) {
    if (part.kind === 'text') {
      out += part.text
    } else if (part.kind === 'level') {
      const level = levels[part.n - 1]
      // the level must be literal and not after a `#`
      if (level === undefined || level === '+' || level === '#' || levels.slice(0, part.n - 1).includes('#')) return undefined
      out += level
    } else if (part.name === 'topic') {
      if (levels.includes('+') || levels.includes('#')) return undefined
      out += filter
    } else {
      return undefined // ${clientid}, ${username}: not in the topic
    }
  }
  return out
}

/**
 * For records whose MQTT topic is made from their key (`mqtt_topic` template with `${key}`): null
 * when no such topic can match `filter`, the key when the filter fixes it, undefined when it varies.
 */
export function keyFromTopicTemplate (filter: string, template: TemplatePart[]): string | null | undefined {
  const text = (p: TemplatePart): string => (p.kind === 'text' ? p.text : '')
  if (!template.some(p => p.kind !== 'text')) return filtersOverlap(filter, template.map(text).join('')) ? undefined : null
  if (!filter.includes('+') && !filter.includes('#')) {
    const key = templateKeyOf(template)(filter)
    return key === undefined ? null : key ?? undefined
  }
  const prefix = template.slice(0, template.findIndex(p => p.kind !== 'text')).map(text).join('')
  // the key may hold any levels: every topic of the template lies under the prefix's whole levels
  const cut = prefix.lastIndexOf('/')
  const pattern = cut === -1 ? '#' : `${prefix.slice(0, cut)}/#`
  return filtersOverlap(filter, pattern) ? undefined : null
}

/**
 * A node's interest, counted: the filters its clients hold (each as often as it is held) and the
 * partitions they need. `add` and `remove` answer the partitions that start or stop being needed,
 * so the reader assigns and unassigns exactly those; `wants` is the match every record is asked
 * before it is decoded.
 */
export class NodeInterest {
  private readonly filters = new FilterTrie()
  /** "topic:partition" -> filters needing it */
  private readonly needed = new Map<string, number>()

  constructor (private readonly plan: InterestPlan, private readonly partitionCount: (kafkaTopic: string) => number) {}

  /** One more holder of `filter`; the partitions needed from now on that were not before. */
  add (filter: string): string[] {
    if (!this.filters.add(filter)) return []
    const started: string[] = []
    for (const key of this.partitionsOf(filter)) {
      const n = (this.needed.get(key) ?? 0) + 1
      this.needed.set(key, n)
      if (n === 1) started.push(key)
    }
    return started
  }

  /** One holder of `filter` less; the partitions nobody needs any more. */
  remove (filter: string): string[] {
    if (!this.filters.remove(filter)) return []
    const stopped: string[] = []
    for (const key of this.partitionsOf(filter)) {
      const n = (this.needed.get(key) ?? 0) - 1
      if (n > 0) { this.needed.set(key, n); continue }
      this.needed.delete(key)
      stopped.push(key)
    }
    return stopped
  }

  /** Does a filter of this node match `topic`? */
  wants (topic: string): boolean {
    return this.filters.matchesAny(topic)
  }

  /** Every partition needed now, as "topic:partition". */
  partitions (): string[] {
    return [...this.needed.keys()]
  }

  /** Is the partition ("topic:partition") needed now? */
  needs (key: string): boolean {
    return this.needed.has(key)
  }

  /** The partitions a subscriber to `filter` needs, as "topic:partition". */
  partitionsOf (filter: string): string[] {
    const keys: string[] = []
    for (const { topic, partition } of this.plan.of(filter)) {
      if (partition !== ALL_PARTITIONS) { keys.push(tpKey(topic, partition)); continue }
      const n = this.partitionCount(topic)
      for (let p = 0; p < n; p++) keys.push(tpKey(topic, p))
    }
    return keys
  }
}
