import type { AuthorizeSubscribeHandler, Client } from 'aedes'
import type { Authorize, AuthzSubject } from '../auth/hooks.js'
import type { Qos } from '../protocol/message.js'
import { isShareFilter, parseShareFilter } from '../protocol/share-filter.js'
import type { Logger } from '../observability/logger.js'
import type { SharedMembers } from './shared-members.js'

export interface SubscribeHookOptions {
  authorize: Authorize
  subjectOf: (client: Client) => AuthzSubject | undefined
  shared: SharedMembers
  logger: Logger
}

/**
 * aedes' authorizeSubscribe hook, once per filter of a SUBSCRIBE: a filter the client may not
 * subscribe to is refused for that filter only (SUBACK 0x80); `$share/<group>/<filter>` and
 * `$queue/<filter>` are authorized on `<filter>` and join their group (malformed ones are refused).
 */
export function createSubscribeHook (opts: SubscribeHookOptions): AuthorizeSubscribeHandler {
  const { authorize, shared, logger } = opts
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
    if (share !== undefined) shared.join(client as Client, sub.topic, share, sub.qos as Qos)
    callback(null, sub)
  }
}
