import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { collect, connect, end, until, untilAsync } from '../support/mqtt-client.js'
import { limitEvents, metricValue } from '../support/node-http.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/*
 * A QoS 0 publisher paused for overload and resumed, on aedes 2: its PUBLISHes are handled
 * synchronously (room in the producer), and aedes parsed the next read inside the parse that was
 * still emitting them; mqtt-packet's parser is not re-entrant, read a payload byte as a header
 * ("Invalid header flag bits") and the publisher was closed with most of its flood unread.
 * Overload comes from a tiny Kafka pending watermark (3 % of an 8 MiB producer buffer: 250 KB),
 * so that a flood reaches it for certain: with 3 % of the default 64 MiB a flood from a client on a
 * loaded machine (the test's own process slowed down) sometimes stayed under it.
 */

const MESSAGES = 20_000
const SIZE = 1024

describe('a QoS 0 flood paused for overload', () => {
  let wharf: WharfProcess
  before(async () => {
    wharf = await WharfProcess.start({
      brokers: testBrokers(),
      topics: uniqueTopics('ovlpause'),
      env: {
        WHARF_KAFKA__PRODUCER__MAX_PENDING_BYTES: String(8 * 1024 * 1024),
        WHARF_OVERLOAD_PROTECTION__KAFKA_PENDING_HIGH_WATERMARK: '3%',
        WHARF_OVERLOAD_PROTECTION__KAFKA_PENDING_LOW_WATERMARK: '1%',
        WHARF_OVERLOAD_PROTECTION__CHECK_INTERVAL: '50'
      }
    })
  })
  after(async () => { await wharf.stop() })

  it('keeps its connection and every message reaches Kafka', async () => {
    const produced = await metricValue(wharf, 'wharf_kafka_produced_records_total')
    const overloaded = await limitEvents(wharf, 'overloaded')
    // connected before the flood: while the node is overloaded it refuses new CONNECTs
    const marker = await connect(wharf.url, { clean: true })
    const got = collect(marker)
    await marker.subscribeAsync('flood/marker', { qos: 1 })
    const publisher = await connect(wharf.url, { clean: true })
    // the bug closed the publisher: fail then, instead of waiting for QoS 0 writes mqtt.js holds for a reconnect
    const closed = new Promise<never>((_resolve, reject) => publisher.once('close', () => reject(new Error('the publisher was closed'))))
    closed.catch(() => undefined)
    const filler = Buffer.alloc(SIZE, 'x')
    for (let i = 0; i < MESSAGES;) {
      const batch: Array<Promise<unknown>> = []
      for (const last = Math.min(MESSAGES, i + 500); i < last; i++) {
        const payload = Buffer.from(filler)
        payload.write(String(i).padStart(8, '0'))
        batch.push(publisher.publishAsync('flood/x', payload, { qos: 0 }))
      }
      await Promise.race([Promise.all(batch), closed])
    }
    // a QoS 1 message on the same connection after the flood: everything before it was read
    await Promise.race([publisher.publishAsync('flood/marker', 'end', { qos: 1 }), closed])
    await until(() => got.length === 1, 30_000, 'the marker')
    assert.ok(await limitEvents(wharf, 'overloaded') > overloaded, 'the publisher was paused for overload (else this test shows nothing)')
    await untilAsync(async () => await metricValue(wharf, 'wharf_kafka_produced_records_total') >= produced + MESSAGES + 1, 30_000, 'every message in Kafka')
    await end(publisher, marker)
  })
})
