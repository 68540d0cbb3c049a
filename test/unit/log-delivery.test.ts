import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { KafkaMessage } from 'kafkajs'
import { pino } from 'pino'
import { LogDelivery, type LocalSink } from '../../src/routing/log-delivery.js'
import type { RecordDecoder } from '../../src/mapping/mapping.js'
import { DATA, headerDecoder } from '../support/fake-log.js'

/*
 * LogDelivery (src/routing/log-delivery.ts): a batch is decoded whole, then handed to the sink in
 * log order in slices of about 256 KiB, one turn of the event loop each (so the sockets are written
 * between slices); undecodable records are counted and skipped; a decoder that fails delivers
 * nothing of the batch (the fetcher fetches it again).
 */

function record (offset: number, topic: string | null, bytes: number): KafkaMessage {
  return {
    key: topic === null ? null : Buffer.from(topic),
    value: Buffer.alloc(bytes),
    headers: { 'mqtt.qos': '0' },
    offset: String(offset),
    timestamp: '0',
    attributes: 0
  }
}

/** Counts turns of the event loop (check phases) until stopped. */
function turnCounter (): { now: () => number; stop: () => void } {
  let turn = 0
  let counting = true
  const tick = (): void => { if (counting) { turn++; setImmediate(tick) } }
  setImmediate(tick)
  return { now: () => turn, stop: () => { counting = false } }
}

const silent = pino({ level: 'silent' })

describe('delivery from the log (LogDelivery)', () => {
  it('hands records over in log order, ~256 KiB a turn of the event loop; skips and counts what it cannot decode', async () => {
    const turns = turnCounter()
    const seen: Array<{ offset: string; turn: number }> = []
    const sink: LocalSink = { deliver: (_message, _tp, offset) => { seen.push({ offset, turn: turns.now() }) } }
    const delivery = new LogDelivery(sink, headerDecoder, silent)
    // 10 records of 100 KiB, the 5th one undecodable: 9 delivered, three per slice
    const records = Array.from({ length: 10 }, (_, i) => record(i, i === 4 ? null : 'a/x', 100 * 1024))
    await delivery.onBatch(DATA, 0, records)
    turns.stop()
    assert.deepEqual(seen.map(s => s.offset), ['0', '1', '2', '3', '5', '6', '7', '8', '9'])
    const perTurn = new Map<number, string[]>()
    for (const s of seen) perTurn.set(s.turn, [...(perTurn.get(s.turn) ?? []), s.offset])
    assert.deepEqual([...perTurn.values()], [['0', '1', '2'], ['3', '5', '6'], ['7', '8', '9']], `slices of three 100 KiB records, each in a turn of its own (turns ${seen.map(s => s.turn).join(',')})`)
    assert.equal(delivery.delivered, 9)
    assert.deepEqual([...delivery.skippedCounts()], [[{ kafka_topic: DATA, reason: 'not an MQTT record' }, 1]])
  })

  it('small records: a batch under 256 KiB is handed over in one turn', async () => {
    const turns = turnCounter()
    const seen: number[] = []
    const delivery = new LogDelivery({ deliver: () => { seen.push(turns.now()) } }, headerDecoder, silent)
    await delivery.onBatch(DATA, 0, Array.from({ length: 200 }, (_, i) => record(i, 'a/x', 1024)))
    turns.stop()
    assert.equal(seen.length, 200)
    assert.equal(new Set(seen).size, 1)
  })

  it('a decoder that fails part way delivers nothing of the batch (its retry cannot deliver twice)', async () => {
    const failing: RecordDecoder = {
      async decodeEach (topic, partition, records, each) {
        await headerDecoder.decodeEach(topic, partition, records.slice(0, 5), each)
        throw new Error('schema registry unreachable')
      }
    }
    const seen: string[] = []
    const delivery = new LogDelivery({ deliver: (_m, _tp, offset) => { seen.push(offset) } }, failing, silent)
    const records = Array.from({ length: 10 }, (_, i) => record(i, 'a/x', 100 * 1024))
    await assert.rejects(delivery.onBatch(DATA, 0, records), /schema registry unreachable/)
    assert.deepEqual(seen, [])
    assert.equal(delivery.delivered, 0)
  })
})
