import type { LimitReason } from './limit-events.js'

/** `mqtt.*` limits on what one client may publish and subscribe to. */
export interface ClientRules {
  /** `mqtt.max_topic_levels` (topic names and filters) */
  maxTopicLevels: number
  /** `mqtt.max_qos_allowed`: a PUBLISH above it closes the connection, a SUBSCRIBE is granted at most this */
  maxQosAllowed: 0 | 1 | 2
  /** `mqtt.max_subscriptions` per client; Infinity = no limit */
  maxSubscriptions: number
}

/** The number of levels of a topic name or filter (`a/b/c` has 3, `a/` has 2). */
export function topicLevels (topic: string): number {
  let levels = 1
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) levels++
  return levels
}

/** Why a PUBLISH breaks a client rule, or undefined (pure). */
export function publishBreach (topic: string, qos: number, rules: ClientRules): LimitReason | undefined {
  if (qos > rules.maxQosAllowed) return 'qos_not_allowed'
  if (topicLevels(topic) > rules.maxTopicLevels) return 'topic_levels'
  return undefined
}

/**
 * Why one filter of a SUBSCRIBE is refused (SUBACK 0x80), or undefined (pure). `held` are the
 * filters the client holds already (a filter it holds may be subscribed again).
 */
export function subscribeBreach (filter: string, held: ReadonlySet<string>, rules: ClientRules): LimitReason | undefined {
  if (topicLevels(filter) > rules.maxTopicLevels) return 'topic_levels'
  if (!held.has(filter) && held.size >= rules.maxSubscriptions) return 'max_subscriptions'
  return undefined
}
