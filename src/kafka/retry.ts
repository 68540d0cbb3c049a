import type { Logger } from '../observability/logger.js'
import { sleep } from '../util/async.js'

const BACKOFF_MS = [100, 200, 500, 1000, 2000]

/**
 * Retry `fn` while Kafka answers with a retriable error (a fresh topic without a leader yet, a
 * coordinator loading, a broker restarting), up to `timeoutMs`. Other errors pass straight through.
 */
export async function retryRetriable<T> (what: string, fn: () => Promise<T>, logger: Logger, timeoutMs = 60000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      const retriable = (err as { retriable?: boolean }).retriable === true
      if (!retriable || Date.now() > deadline) throw err
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] as number
      logger.debug({ err, what, attempt: attempt + 1, retryInMs: delay }, 'Kafka not ready for this yet; retrying')
      await sleep(delay)
    }
  }
}
