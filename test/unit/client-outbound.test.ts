import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ClientOutbound, publishBytes } from '../../src/edge/client-outbound.js'

/*
 * The outbound accounting of one client (src/edge/client-outbound.ts), pure: the stream's buffered
 * bytes are a number the test sets.
 */

const LIMITS = { maxInflight: 2, maxQueueLen: 3, maxBufferBytes: 1000 }

function client (limits = LIMITS): { out: ClientOutbound; stream: { bytes: number } } {
  const stream = { bytes: 0 }
  return { out: new ClientOutbound(limits, () => stream.bytes), stream }
}

describe('client outbound accounting (ClientOutbound)', () => {
  it('sizes a PUBLISH: header, topic, packet id for QoS 1/2, payload (text as UTF-8)', () => {
    assert.equal(publishBytes('a/b', Buffer.alloc(10), 0), 5 + 3 + 10)
    assert.equal(publishBytes('a/b', Buffer.alloc(10), 1), 5 + 3 + 2 + 10)
    assert.equal(publishBytes('ä', 'ü', 0), 5 + 2 + 2)
  })

  it('counts accepted bytes until they are in the stream: accepted -> landing (next turn) -> the stream\'s own count', () => {
    const { out, stream } = client()
    out.accepted(400, undefined)
    out.accepted(400, undefined)
    assert.equal(out.buffered, 800)
    assert.equal(out.hasRoom(200, 0), true)
    assert.equal(out.hasRoom(201, 0), false, 'over the bound with what is not in the stream yet')
    const n = out.startLanding()
    assert.equal(n, 800)
    assert.equal(out.accepts, false)
    out.accepted(100, undefined) // a new turn's
    stream.bytes = 800 // aedes wrote them
    out.landed(n)
    assert.equal(out.buffered, 900)
    stream.bytes = 0 // the socket took them
    assert.equal(out.buffered, 100)
  })

  it('an empty buffer takes one message of any size (a message larger than the bound goes out alone)', () => {
    const { out } = client()
    assert.equal(out.hasRoom(5000, 0), true)
    out.accepted(5000, undefined)
    assert.equal(out.over, false, 'nothing refused yet')
    assert.equal(out.hasRoom(1, 0), false)
    assert.equal(out.over, true)
  })

  it('over its byte bound from the first delivery that did not fit until the buffer empties (the slow-client clock runs meanwhile)', () => {
    const { out, stream } = client()
    stream.bytes = 950
    assert.equal(out.hasRoom(50, 0), true)
    assert.equal(out.over, false)
    assert.equal(out.hasRoom(51, 0), false)
    assert.equal(out.over, true)
    stream.bytes = 10 // the client reads, but not all
    out.drained()
    assert.equal(out.over, true, 'still blocked: the buffer has not emptied')
    assert.equal(out.hasRoom(51, 0), true, 'a delivery that fits goes out meanwhile')
    stream.bytes = 0
    out.drained()
    assert.equal(out.over, false)
  })

  it('QoS 1/2 need a free slot in the window; an acknowledgement frees it, an unknown id changes nothing', () => {
    const { out } = client()
    out.accepted(10, 1)
    out.accepted(10, 2)
    assert.equal(out.hasRoom(10, 1), false, 'window of 2 full')
    assert.equal(out.hasRoom(10, 0), true, 'QoS 0 does not use the window')
    assert.equal(out.over, true, 'a full window counts for the slow-client clock')
    assert.equal(out.acked(7), false)
    assert.equal(out.acked(1), true)
    assert.equal(out.acked(1), false, 'a second PUBACK of one id frees nothing')
    assert.equal(out.hasRoom(10, 1), true)
    assert.equal(out.over, false)
  })

  it('a clean session: send while there is room and nothing queued, then queue QoS 1/2 up to max_mqueue_len and the byte bound, then drop; QoS 0 is never queued', () => {
    const { out } = client()
    const take = (bytes: number, qos: number): string => {
      const v = out.offer(bytes, qos)
      if (v === 'send') out.accepted(bytes, qos > 0 ? 100 + out.inflight.size : undefined)
      if (v === 'queue') out.enqueue({ topic: 't', payload: '', qos: qos as 1, bytes })
      return v
    }
    assert.deepEqual([take(100, 1), take(100, 1)], ['send', 'send'])
    assert.deepEqual([take(100, 1), take(100, 0), take(100, 2)], ['queue', 'send', 'queue'], 'QoS 0 passes the queue (MQTT orders per QoS level)')
    assert.equal(out.queued, 2)
    assert.equal(take(600, 1), 'drop', 'the queue\'s bytes count: 300 buffered + 200 queued + 600 > 1000')
    assert.equal(take(100, 1), 'queue')
    assert.equal(take(1, 1), 'drop', 'max_mqueue_len 3')
    assert.equal(out.nextQueued(), undefined, 'the window is still full')
    out.acked(101)
    assert.equal(out.nextQueued()?.bytes, 100)
    assert.equal(out.queued, 2)
  })

  it('room to catch up (persistent sessions behind): half the window free and nothing buffered', () => {
    const { out, stream } = client({ maxInflight: 4, maxQueueLen: 0, maxBufferBytes: 1000 })
    for (const id of [1, 2, 3]) out.accepted(0, id)
    assert.equal(out.roomToCatchUp, false)
    out.acked(1)
    assert.equal(out.roomToCatchUp, true)
    stream.bytes = 1
    assert.equal(out.roomToCatchUp, false)
  })
})
