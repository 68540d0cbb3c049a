import type { AuthorizeSubscribeHandler, Client } from 'aedes'
import type { Authorize, AuthzSubject } from '../auth/hooks.js'
import type { Logger } from '../observability/logger.js'
import type { Qos } from '../protocol/message.js'
import { isShareFilter, parseShareFilter } from '../protocol/share-filter.js'
import { REASON } from '../protocol/reason-codes.js'
import { subscriptionOptionsOf } from '../protocol/subscription-options.js'
import type { PersistentSession } from '../session/persistent-session.js'
import { endConnection } from './aedes-internals.js'
import type { SharedMembers } from './shared-members.js'
import type { ClientSubscriptions } from './subscriptions.js'

export interface SubscribeHookOptions {
  authorize: Authorize
  subjectOf: (client: Client) => AuthzSubject | undefined
  shared: SharedMembers
  subscriptions: ClientSubscriptions
  sessionOf: (client: Client) => PersistentSession | undefined
  logger: Logger
}

/**
 * aedes' authorizeSubscribe hook, once per filter of a SUBSCRIBE, before the SUBACK: a filter the
 * client may not subscribe to is refused for that filter only (SUBACK 0x80); `$share/<group>/<filter>`
 * and `$queue/<filter>` are authorized on `<filter>` and join their group (malformed ones are
 * refused); a plain filter is granted once the node reads every partition it needs from a position
 * taken now, so every message published after the SUBACK reaches the client.
 */
export function createSubscribeHook (opts: SubscribeHookOptions): AuthorizeSubscribeHandler {
  const { authorize, shared, subscriptions, logger } = opts
  return function authorizeSubscribe (client, sub, callback) {
    if (client === null) { callback(null, sub); return }
    const share = isShareFilter(sub.topic) ? parseShareFilter(sub.topic) : undefined
    if (isShareFilter(sub.topic) && share === undefined) {
      logger.info({ clientId: client.id, filter: sub.topic }, 'refused a malformed shared subscription')
      callback(null, null)
      return
    }
    const subject = opts.subjectOf(client)
    const filter = share?.filter ?? sub.topic
    if (subject !== undefined && !subject.superuser && !authorize.maySubscribe(subject, filter, sub.qos as Qos)) {
      logger.info({ clientId: client.id, filter: sub.topic }, 'subscription not authorized')
      callback(null, null)
      return
    }
    if (share !== undefined) {
      const options = subscriptionOptionsOf(sub)
      if (options.nl === true) {
        // [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error. The SUBSCRIBE is not
        // answered (aedes stops a subscription whose client closed, as here, without a SUBACK)
        logger.info({ clientId: client.id, filter: sub.topic }, 'No Local on a shared subscription: protocol error, disconnecting')
        endConnection(client, REASON.protocolError)
        return
      }
      shared.join(client, sub.topic, share, sub.qos as Qos, options)
      callback(null, sub)
      return
    }
    subscriptions.hold(client, sub.topic).then(() => {
      // a live persistent session is served from now on in the partitions this filter adds: what it
      // missed before the SUBSCRIBE is not owed, and a resume later must not replay it
      const session = opts.sessionOf(client)
      if (session?.state === 'live') session.advanceTo(subscriptions.positionsOf(sub.topic))
      callback(null, sub)
    }, (err: unknown) => {
      logger.warn({ err, clientId: client.id, filter: sub.topic }, 'subscription refused: the node could not start reading what it needs')
      callback(null, null)
    })
  }
}
