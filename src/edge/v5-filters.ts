import type { Client } from 'aedes'
import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet'
import { REASON } from '../protocol/reason-codes.js'
import { isShareFilter, parseShareFilter, SHARE_ALIAS } from '../protocol/share-filter.js'
import { isValidTopicFilter } from '../protocol/topic-filter.js'
import { beforeAedesHandles, type PacketHook } from './aedes-internals.js'
import { overrideSubackCode } from './mqtt5-wire.js'

const SHARE = '$share/'

/**
 * The filters of an MQTT 5 client's SUBSCRIBE and UNSUBSCRIBE as aedes 2 gets them. aedes answers
 * `$share/...` from a v5 client with 0x9E (shared subscriptions not supported) before Wharf's
 * subscribe hook sees it, and closes the connection on an invalid filter; here, before aedes
 * handles the packet:
 * - `$share/<group>/<filter>` becomes `SHARE_ALIAS<group>/<filter>`, which the subscribe hook and
 *   the shared-subscription machinery take as the shared subscription it is (UNSUBSCRIBE too);
 * - a malformed shared filter or an invalid filter becomes a malformed alias the hook refuses,
 *   and its SUBACK reason code is 0x8F (topic filter invalid) instead of aedes' 0x87.
 * 3.1.1 clients are left alone (aedes 2 lets their `$share/` through to the hook, as 1.x did).
 */
export function rewriteV5Filters (client: Client): void {
  beforeAedesHandles(client, rewriteFilters)
}

/** The rewrite itself, one function for every connection. */
const rewriteFilters: PacketHook = (client, packet) => {
  if (client.version !== 5) return
  if (packet.cmd === 'subscribe') {
    const p = packet as ISubscribePacket
    const invalid: number[] = []
    p.subscriptions.forEach((sub, i) => {
      const valid = isShareFilter(sub.topic) ? parseShareFilter(sub.topic) !== undefined : isValidTopicFilter(sub.topic)
      if (!valid) {
        invalid.push(i)
        sub.topic = `${SHARE_ALIAS}invalid-${i}` // unique: aedes merges equal filters of one SUBSCRIBE
      } else if (sub.topic.startsWith(SHARE)) {
        sub.topic = SHARE_ALIAS + sub.topic.slice(SHARE.length)
      }
    })
    if (p.messageId !== undefined) {
      slotSubscriptions(p.messageId, p.subscriptions)
      for (const i of invalid) refuseFilterV5(client, p.subscriptions[i] as object, REASON.topicFilterInvalid)
    }
  } else if (packet.cmd === 'unsubscribe') {
    const p = packet as IUnsubscribePacket
    p.unsubscriptions = p.unsubscriptions.map(t => t.startsWith(SHARE) ? SHARE_ALIAS + t.slice(SHARE.length) : t)
  }
}

/** Where each subscription of a v5 SUBSCRIBE is answered in its SUBACK: packet id and index. */
const slots = new WeakMap<object, { messageId: number; index: number }>()

/**
 * aedes answers the SUBSCRIBE's filters after merging equal ones (the last of them kept, in the
 * order each first appeared): a subscription's place in the SUBACK is its filter's rank among the
 * distinct filters.
 */
function slotSubscriptions (messageId: number, subscriptions: ReadonlyArray<{ topic: string }>): void {
  const rank = new Map<string, number>()
  for (const sub of subscriptions) {
    if (!rank.has(sub.topic)) rank.set(sub.topic, rank.size)
    slots.set(sub, { messageId, index: rank.get(sub.topic) as number })
  }
}

/**
 * The SUBACK to an MQTT 5 client says `code` for the subscription `sub` (the object aedes hands to
 * the subscribe hook) instead of aedes' 0x87 for a refused filter: 0x8F topic filter invalid,
 * 0x97 quota exceeded (`mqtt.max_subscriptions`).
 */
export function refuseFilterV5 (client: Client, sub: object, code: number): void {
  const slot = slots.get(sub)
  if (client.version === 5 && slot !== undefined) overrideSubackCode(client.conn, slot.messageId, slot.index, code)
}
