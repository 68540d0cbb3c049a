import type { Authorize, AuthzSubject } from '../auth/hooks.js'
import type { Logger } from '../observability/logger.js'
import { parseShareFilter } from '../protocol/share-filter.js'
import type { PersistentSession } from '../session/persistent-session.js'

/**
 * A persistent session belongs to a client id, not to a user: whoever connects with that id and
 * clean session 0 resumes it. Its stored subscriptions were authorized for whoever made them (or
 * under older rules), and the resume replays the log by them — so before the replay they are
 * authorized again for the client that is resuming, and those it may not have are dropped from
 * the session (and so from its record). Without this, a user could read another user's queued
 * messages by connecting with that user's client id.
 */
export function dropUnauthorizedSubscriptions (session: PersistentSession, subject: AuthzSubject, authorize: Authorize, logger: Logger): void {
  if (subject.superuser) return
  for (const [filter, sub] of [...session.subs]) {
    const target = parseShareFilter(filter)?.filter ?? filter
    if (authorize.maySubscribe(subject, target, sub.qos)) continue
    session.removeSub(filter)
    logger.info({ clientId: session.clientId, filter }, 'stored subscription not authorized for the resuming client; dropped from the session')
  }
}
