import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { KafkaMessage } from 'kafkajs'
import { pino } from 'pino'
import { LogDelivery, type LocalSink } from '../../src/routing/log-delivery.js'
import { DATA, headerDecoder, tp } from '../support/fake-log.js'

/*
 * LogDelivery (src/routing/log-delivery.ts): a batch's records go to the sink in log order, with
 * their partition and offset; undecodable records are counted per reason and Kafka topic and skipped.
 */

function record (offset: number, topic: string | null): KafkaMessage {
  return {
    key: topic === null ? null : Buffer.from(topic),
    value: Buffer.from(`m${offset}`),
    headers: { 'mqtt.qos': '1' },
    offset: String(offset),
    timestamp: '0',
    attributes: 0
  }
}

describe('delivery from the log (LogDelivery)', () => {
  it('hands a batch over in log order with partition and offset; skips and counts what it cannot decode', async () => {
    const seen: Array<[string, string, string]> = []
    const sink: LocalSink = { deliver: (message, where, offset) => { seen.push([where, offset, message.payload.toString()]) } }
    const delivery = new LogDelivery(sink, headerDecoder, pino({ level: 'silent' }))
    await delivery.onBatch(DATA, 3, Array.from({ length: 6 }, (_, i) => record(i, i === 4 ? null : 'a/x')))
    await delivery.onBatch(DATA, 3, [record(6, 'a/x'), record(7, null)])
    assert.deepEqual(seen, [0, 1, 2, 3, 5, 6].map(i => [tp(3), String(i), `m${i}`]))
    assert.equal(delivery.delivered, 6)
    assert.deepEqual([...delivery.skippedCounts()], [[{ kafka_topic: DATA, reason: 'not an MQTT record' }, 2]])
  })
})
