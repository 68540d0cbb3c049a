import type { AuthorizeForwardHandler, Client } from 'aedes'
import type { Authorize, AuthzSubject } from '../auth/hooks.js'
import { grantedQos } from './delivery.js'

export interface RetainedGuardOptions {
  authorize: Authorize
  subjectOf: (client: Client) => AuthzSubject | undefined
}

/**
 * The retained messages a new subscription gets pass the ACL too: a client may receive a retained
 * message only if it may subscribe to that message's topic (`a/#` may be allowed while `a/secret`
 * is denied). aedes asks for them with the SUBSCRIBE's filters alone (persistence
 * `createRetainedStreamCombi`, no client), but hands each one to aedes' authorizeForward hook with
 * the client, flagged retain; nothing else Wharf delivers carries the flag (live deliveries are
 * sent with retain = 0, [MQTT-3.3.1-9]). So this wraps that hook: a retained packet the client may
 * not subscribe to (at the QoS it would be delivered at) is dropped; everything goes on to `next`.
 */
export function guardRetained (next: AuthorizeForwardHandler, opts: RetainedGuardOptions): AuthorizeForwardHandler {
  return (client, packet) => {
    if (packet.retain) {
      const subject = opts.subjectOf(client)
      if (subject !== undefined && !subject.superuser &&
        !opts.authorize.maySubscribe(subject, packet.topic, grantedQos(client, packet.topic, packet.qos))) return null
    }
    return next(client, packet)
  }
}
