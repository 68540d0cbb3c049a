import type { Client } from 'aedes'
import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet'
import { REASON } from '../protocol/reason-codes.js'
import { isShareFilter, parseShareFilter, SHARE_ALIAS } from '../protocol/share-filter.js'
import { isValidTopicFilter } from '../protocol/topic-filter.js'
import { beforeAedesHandles } from './aedes-internals.js'
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
  beforeAedesHandles(client, packet => {
    if (client.version !== 5) return
    if (packet.cmd === 'subscribe') {
      const p = packet as ISubscribePacket
      p.subscriptions.forEach((sub, i) => {
        const valid = isShareFilter(sub.topic) ? parseShareFilter(sub.topic) !== undefined : isValidTopicFilter(sub.topic)
        if (!valid) {
          if (p.messageId !== undefined) overrideSubackCode(client.conn, p.messageId, i, REASON.topicFilterInvalid)
          sub.topic = `${SHARE_ALIAS}invalid-${i}` // unique: aedes merges equal filters of one SUBSCRIBE
        } else if (sub.topic.startsWith(SHARE)) {
          sub.topic = SHARE_ALIAS + sub.topic.slice(SHARE.length)
        }
      })
    } else if (packet.cmd === 'unsubscribe') {
      const p = packet as IUnsubscribePacket
      p.unsubscriptions = p.unsubscriptions.map(t => t.startsWith(SHARE) ? SHARE_ALIAS + t.slice(SHARE.length) : t)
    }
  })
}
