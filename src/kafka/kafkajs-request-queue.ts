import { createRequire } from 'node:module'
import { kafkajsVersion } from './kafkajs-encoder.js'

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
 *
 * Second, every connection also runs its request-timeout check on a 100 ms interval from the moment
 * it connects, forever (`scheduleRequestTimeoutCheck`): ten wake-ups a second per connection with
 * nothing in flight. The replacement runs that same check only while requests are in flight: the
 * interval starts when a request is sent and stops at the first tick that finds none in flight (and,
 * as before, when the connection is destroyed).
 */

interface RequestQueueProto {
  pending: unknown[]
  inflight: Map<number, { sentAt: number; requestTimeout: number; timeoutRequest: () => void }>
  throttledUntil: number
  throttleCheckTimeoutId: NodeJS.Timeout | null
  requestTimeout: number
  enforceRequestTimeout: boolean
  requestTimeoutIntervalId: NodeJS.Timeout | null | undefined
  checkPendingRequests: () => void
  scheduleCheckPendingRequests: () => void
  scheduleRequestTimeoutCheck: () => void
  sendSocketRequest: (socketRequest: unknown) => void
  /** an instance field (a constructor option) */
  isConnected: () => boolean
  destroy: () => void
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
  if (kafkajsVersion() !== '2.2.4') return false
  const RequestQueue = kafkajsRequestQueue() as { prototype: RequestQueueProto } & { [PATCHED]?: true }
  if (RequestQueue[PATCHED] === true) return true
  const proto = RequestQueue.prototype
  if (typeof proto.scheduleCheckPendingRequests !== 'function' || typeof proto.checkPendingRequests !== 'function' ||
    typeof proto.scheduleRequestTimeoutCheck !== 'function' || typeof proto.sendSocketRequest !== 'function' ||
    typeof proto.destroy !== 'function') return false

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

  // kafkajs' destroy clears the interval but keeps its id: forget it, so the next request starts one
  const destroy = proto.destroy
  proto.destroy = function (this: RequestQueueProto): void {
    destroy.call(this)
    this.requestTimeoutIntervalId = null
  }

  // connect time: nothing to check yet (kafkajs started a never-ending interval here)
  proto.scheduleRequestTimeoutCheck = function (this: RequestQueueProto): void {
    this.destroy()
  }

  const sendSocketRequest = proto.sendSocketRequest
  proto.sendSocketRequest = function (this: RequestQueueProto, socketRequest: unknown): void {
    sendSocketRequest.call(this, socketRequest)
    if (!this.enforceRequestTimeout || this.inflight.size === 0) return
    if (this.requestTimeoutIntervalId !== null && this.requestTimeoutIntervalId !== undefined) return
    this.requestTimeoutIntervalId = setInterval(() => {
      // kafkajs' own check, unchanged
      this.inflight.forEach(request => {
        if (Date.now() - request.sentAt > request.requestTimeout) request.timeoutRequest()
      })
      if (!this.isConnected()) {
        this.destroy()
      } else if (this.inflight.size === 0) {
        clearInterval(this.requestTimeoutIntervalId as NodeJS.Timeout)
        this.requestTimeoutIntervalId = null
      }
    }, Math.min(this.requestTimeout, 100))
  }

  Object.defineProperty(RequestQueue, PATCHED, { value: true })
  return true
}
