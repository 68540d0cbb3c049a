import type { Qos } from './message.js'
import type { WireProperties } from './message-properties.js'
import type { TopicMatcher } from './topic-filter.js'

/** The largest Subscription Identifier (a four-byte variable byte integer) [MQTT-3.8.2.1.2]. */
export const SUBSCRIPTION_ID_MAX = 268_435_455

/**
 * The MQTT 5 options of one subscription (SUBSCRIBE's options byte and its Subscription
 * Identifier, [MQTT-3.8.3.1]); each absent one has MQTT 3.1.1's behaviour (No Local off, Retain As
 * Published off, Retain Handling 0, no identifier). Short names: they are kept in the session record.
 */
export interface SubscriptionOptions {
  /** No Local: the client's own messages are not delivered to it by this subscription */
  nl?: true
  /** Retain As Published: deliveries keep the publisher's RETAIN flag */
  rap?: true
  /** Retain Handling 1 (only for a new subscription) or 2 (never); 0 is the default */
  rh?: 1 | 2
  /** Subscription Identifier, 1 .. SUBSCRIPTION_ID_MAX */
  id?: number
}

/** A granted subscription with its options. */
export interface HeldSubscription extends SubscriptionOptions {
  qos: Qos
}

/**
 * What a message becomes for one client, from every subscription of it that matches: one copy at
 * the best granted QoS (capped by the publish QoS) carrying the identifiers of all of them
 * [MQTT-3.3.4-3/4], the RETAIN flag kept when one of them has Retain As Published.
 */
export interface SubscriptionMatch {
  qos: Qos
  retainAsPublished: boolean
  ids: number[]
}

/**
 * The options as they come from anywhere (a SUBSCRIBE as mqtt-packet parses it, aedes' restored
 * subscription, a session record written by any version): anything out of range is left out, so a
 * record written before options existed reads as 3.1.1's defaults.
 */
export function subscriptionOptionsOf (v: { nl?: unknown; rap?: unknown; rh?: unknown; id?: unknown; subscriptionIdentifier?: unknown } | undefined): SubscriptionOptions {
  const o: SubscriptionOptions = {}
  if (v === undefined || v === null || typeof v !== 'object') return o
  if (v.nl === true) o.nl = true
  if (v.rap === true) o.rap = true
  if (v.rh === 1 || v.rh === 2) o.rh = v.rh
  const id = v.id ?? v.subscriptionIdentifier
  if (typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= SUBSCRIPTION_ID_MAX) o.id = id
  return o
}

/** Does the subscription have any option beyond 3.1.1's defaults? */
export function hasOptions (o: SubscriptionOptions): boolean {
  return o.nl === true || o.rap === true || o.rh !== undefined || o.id !== undefined
}

/**
 * One message of `topic` at `qos` for the client holding `subs`: undefined when no subscription
 * takes it (none matches, or only No Local ones and `own` — the client published it itself,
 * [MQTT-3.8.3-3]). `matcherOf` gives a filter's compiled matcher, or undefined for a filter that
 * takes nothing here (a shared subscription's).
 */
export function matchSubscriptions<S extends HeldSubscription> (
  subs: Iterable<[string, S]>,
  matcherOf: (filter: string, sub: S) => TopicMatcher | undefined,
  topic: string,
  qos: Qos,
  own: boolean
): SubscriptionMatch | undefined {
  let best = -1
  let rap = false
  let ids: number[] | undefined
  for (const [filter, sub] of subs) {
    if (own && sub.nl === true) continue
    const matches = matcherOf(filter, sub)
    if (matches === undefined || !matches(topic)) continue
    if (sub.qos > best) best = sub.qos
    if (sub.rap === true) rap = true
    if (sub.id !== undefined) (ids ??= []).push(sub.id)
  }
  if (best === -1) return undefined
  return { qos: Math.min(best, qos) as Qos, retainAsPublished: rap, ids: ids ?? [] }
}

/** A delivery's properties with its subscription identifiers (one, several, or none: taken out). */
export type DeliveredProperties = WireProperties & { subscriptionIdentifier?: number | number[] }

/**
 * The properties of one delivery: the message's, with `ids` as the Subscription Identifier
 * property (a list when several subscriptions matched, [MQTT-3.3.4-4]); any identifier a copy
 * carried before (aedes puts in the one of the subscription that delivered it) is replaced.
 * Never changes `properties` in place: aedes shares one object between the copies of a message.
 */
export function withSubscriptionIds (properties: DeliveredProperties | undefined, ids: readonly number[]): DeliveredProperties | undefined {
  if (ids.length === 0) {
    if (properties?.subscriptionIdentifier === undefined) return properties
    const { subscriptionIdentifier: _dropped, ...rest } = properties
    return rest
  }
  return { ...properties, subscriptionIdentifier: ids.length === 1 ? ids[0] as number : [...ids] }
}
