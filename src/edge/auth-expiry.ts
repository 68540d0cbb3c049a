import { finished } from 'node:stream'
import type { Client } from 'aedes'
import type { Logger } from '../observability/logger.js'

/** setTimeout's longest delay (about 24.8 days); a later expiry is reached in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1

/**
 * `authentication.jwt.disconnect_after_expire`: closes the connection when the credentials it
 * logged in with expire (a JWT's `exp`), so a token cannot outlive itself on a long-lived
 * connection. The timer goes with the connection: it is cleared when the connection ends.
 */
export function closeAtExpiry (client: Client, expiresAt: number, logger: Logger, now: () => number = Date.now): void {
  let timer: NodeJS.Timeout | undefined
  const arm = (): void => {
    const left = expiresAt - now()
    timer = setTimeout(() => {
      if (expiresAt > now()) { arm(); return }
      if (client.closed) return
      logger.info({ clientId: client.id, expiredAt: new Date(expiresAt).toISOString() }, 'credentials expired; closing the connection')
      client.close()
    }, Math.max(0, Math.min(left, MAX_DELAY_MS)))
    timer.unref()
  }
  arm()
  finished(client.conn, () => clearTimeout(timer))
}
