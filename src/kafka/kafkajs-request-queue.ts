import { createRequire } from 'node:module'

/**
 * Stops kafkajs 2.2.4's idle spin. Every kafkajs connection that has received one response runs
 * `RequestQueue.scheduleCheckPendingRequests` on a `setTimeout(…, throttledUntil - now)`: with no
 * throttling that delay is negative (Node makes it 1 ms) and the check re-schedules itself whether or
 * not anything is pending, so each open connection wakes the event loop about 1,000 times a second
 * for nothing (kafkajs issues #1556, #1604, #1704; unreleased fixes in PRs #1667 and #1768). Measured
 * here: a process holding one idle kafkajs connection spent 4-5 % of a core; a node with a producer,
 * an admin and several readers holds many.
 *
 * The replacement schedules a check only when it can be useful: requests are pending (as before), or
 * the connection is throttled (a check when the throttle ends). A request that cannot go out at once
 * is pending, and `push` schedules for it; a completed request checks the queue directly
 * (`fulfillRequest`), as before.
 */

interface RequestQueueProto {
  pending: unknown[]
  throttledUntil: number
  throttleCheckTimeoutId: NodeJS.Timeout | null
  checkPendingRequests: () => void
  scheduleCheckPendingRequests: () => void
}

const require = createRequire(import.meta.url)
const PATCHED = Symbol.for('wharf.kafkajs-request-queue-patched')
/** kafkajs' CHECK_PENDING_REQUESTS_INTERVAL */
const PENDING_CHECK_MS = 10

/** kafkajs' RequestQueue class. */
export function kafkajsRequestQueue (): { prototype: RequestQueueProto } {
  return require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueueProto }
}

/**
 * Patches kafkajs' RequestQueue once per process. Returns false (and changes nothing) when the
 * installed kafkajs is not the one this was written for.
 */
export function patchKafkajsRequestQueue (): boolean {
  const pkg = require('kafkajs/package.json') as { version: string }
  if (pkg.version !== '2.2.4') return false
  const RequestQueue = kafkajsRequestQueue() as { prototype: RequestQueueProto } & { [PATCHED]?: true }
  if (RequestQueue[PATCHED] === true) return true
  const proto = RequestQueue.prototype
  if (typeof proto.scheduleCheckPendingRequests !== 'function' || typeof proto.checkPendingRequests !== 'function') return false

  proto.scheduleCheckPendingRequests = function (this: RequestQueueProto): void {
    if (this.throttleCheckTimeoutId !== null && this.throttleCheckTimeoutId !== undefined) return
    const throttledFor = this.throttledUntil - Date.now()
    let delay: number
    if (this.pending.length > 0) delay = throttledFor > 0 ? throttledFor : PENDING_CHECK_MS
    else if (throttledFor > 0) delay = throttledFor
    else return // nothing pending, not throttled: nothing to check
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null
      this.checkPendingRequests()
    }, delay)
  }

  Object.defineProperty(RequestQueue, PATCHED, { value: true })
  return true
}
