import { describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { kafkajsRequestQueue, patchKafkajsRequestQueue } from '../../src/kafka/kafkajs-request-queue.js'

interface Queue {
  pending: unknown[]
  throttledUntil: number
  throttleCheckTimeoutId: NodeJS.Timeout | null
  checkPendingRequests: () => void
  destroy: () => void
}

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }

function queue (): Queue {
  const RequestQueue = kafkajsRequestQueue() as unknown as new (opts: object) => Queue
  return new RequestQueue({ requestTimeout: 30000, enforceRequestTimeout: false, clientId: 'test', broker: 'b:1', logger: quiet })
}

describe('kafkajs request queue patch', () => {
  it('an idle connection no longer re-arms a 1 ms check forever; pending and throttled requests are still checked', () => {
    // kafkajs 2.2.4 as shipped: after a response, the check re-arms itself with nothing pending
    const before = queue()
    before.checkPendingRequests()
    assert.notEqual(before.throttleCheckTimeoutId, null, 'kafkajs 2.2.4 spins (if this fails, the bug is gone: drop the patch)')
    before.destroy()

    assert.equal(patchKafkajsRequestQueue(), true)
    assert.equal(patchKafkajsRequestQueue(), true, 'patching twice is harmless')

    const idle = queue()
    idle.checkPendingRequests()
    assert.equal(idle.throttleCheckTimeoutId, null, 'nothing pending, not throttled: no timer')

    const throttled = queue()
    throttled.throttledUntil = Date.now() + 5000
    throttled.checkPendingRequests()
    assert.notEqual(throttled.throttleCheckTimeoutId, null, 'throttled: a check when the throttle ends')
    throttled.destroy()

    const busy = queue()
    busy.throttledUntil = Date.now() + 5000
    busy.pending.push({ fake: true })
    busy.checkPendingRequests()
    assert.equal(busy.pending.length, 1, 'throttled: the pending request waits')
    assert.notEqual(busy.throttleCheckTimeoutId, null, 'and is checked later')
    busy.destroy()
  })
})

describe('kafkajs request timeout check', () => {
  interface Timed {
    inflight: Map<number, { sentAt: number; requestTimeout: number; timeoutRequest: () => void }>
    requestTimeoutIntervalId: NodeJS.Timeout | null | undefined
    scheduleRequestTimeoutCheck: () => void
    sendSocketRequest: (r: unknown) => void
    destroy: () => void
  }
  const timed = (): Timed => {
    const RequestQueue = kafkajsRequestQueue() as unknown as new (opts: object) => Timed
    return new RequestQueue({ requestTimeout: 30000, enforceRequestTimeout: true, clientId: 'test', broker: 'b:1', logger: quiet })
  }

  it('runs only while requests are in flight, and still times them out', () => {
    assert.equal(patchKafkajsRequestQueue(), true)
    mock.timers.enable({ apis: ['setInterval'] })
    const q = timed()
    q.scheduleRequestTimeoutCheck() // what a connection does when it connects
    assert.ok(q.requestTimeoutIntervalId === null || q.requestTimeoutIntervalId === undefined, 'connected and idle: no interval')
    let timedOut = 0
    const request = { correlationId: 1, expectResponse: true, send: () => { q.inflight.set(1, { sentAt: Date.now() - 60000, requestTimeout: 30000, timeoutRequest: () => { timedOut++; q.inflight.delete(1) } }) } }
    q.sendSocketRequest(request)
    assert.ok(q.requestTimeoutIntervalId !== null && q.requestTimeoutIntervalId !== undefined, 'a request in flight: the check runs')
    mock.timers.tick(100)
    assert.equal(timedOut, 1, 'the overdue request timed out')
    mock.timers.tick(100)
    assert.ok(q.requestTimeoutIntervalId === null, 'nothing in flight any more: the check stopped')
    q.destroy()
    mock.timers.reset()
  })
})
