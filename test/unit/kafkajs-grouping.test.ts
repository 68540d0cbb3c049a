import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { groupMessagesPerPartition, kafkajsGroupMessagesPerPartition } from '../../src/kafka/kafkajs-grouping.js'

interface Msg { key: string | null; n: number }

describe("one-pass grouping of a batch by partition (kafkajs' groupMessagesPerPartition)", () => {
  const original = kafkajsGroupMessagesPerPartition()

  it('is the same object as kafkajs makes, with the partitioner called the same way', () => {
    assert.ok(original !== undefined && original !== groupMessagesPerPartition, "kafkajs' own function is at hand")
    let seed = 11
    const next = (m: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % m }
    for (const size of [0, 1, 2, 7, 40, 300]) {
      for (const partitions of [1, 3, 12]) {
        const messages: Msg[] = Array.from({ length: size }, (_v, n) => ({ key: next(4) === 0 ? null : `k${next(50)}`, n }))
        const partitionMetadata = Array.from({ length: partitions }, (_v, i) => ({ partitionId: i }))
        const calls: Array<[string, Msg]> = []
        const callsOriginal: Array<[string, Msg]> = []
        const choose = (log: Array<[string, Msg]>) => ({ topic, message }: { topic: string; message: Msg }): number => {
          log.push([topic, message])
          return message.key === null ? message.n % partitions : Number(message.key.slice(1)) % partitions
        }
        const ours: Record<number, Msg[]> = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner: choose(calls) })
        const theirs: Record<number, Msg[]> = (original as typeof groupMessagesPerPartition)({ topic: 't', partitionMetadata, messages, partitioner: choose(callsOriginal) })
        assert.deepEqual(ours, theirs, `${size} messages over ${partitions} partitions`)
        assert.deepEqual(Object.keys(ours), Object.keys(theirs))
        assert.deepEqual(calls, callsOriginal)
        for (const list of Object.values(ours)) for (const m of list) assert.equal(m, messages[m.n], 'the message objects themselves, not copies')
      }
    }
  })

  it('gives nothing for a topic without partition metadata, as kafkajs does', () => {
    const args = { topic: 't', partitionMetadata: [], messages: [{ key: 'a', n: 0 }], partitioner: () => 0 }
    assert.deepEqual(groupMessagesPerPartition(args), {})
    assert.deepEqual((original as typeof groupMessagesPerPartition)(args), {})
  })
})
