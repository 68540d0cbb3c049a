import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { murmur2 } from '../../src/kafka/murmur2.js'
import { partitionOf } from '../../src/kafka/partitioner.js'

const require = createRequire(import.meta.url)
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: string | Buffer) => number

function keys (): Array<string | Buffer> {
  const out: Array<string | Buffer> = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'devices/1/temp', 'é', '€uro', '😀x', 'lone \ud800', 'ü'.repeat(33)]
  let seed = 12345
  const rand = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n }
  for (let len = 0; len < 70; len++) {
    out.push(Array.from({ length: len }, () => String.fromCharCode(32 + rand(95))).join(''))
    out.push(Buffer.from(Array.from({ length: len }, () => rand(256))))
    out.push(Array.from({ length: len }, () => String.fromCharCode(rand(0x3000))).join(''))
  }
  return out
}

describe('murmur2', () => {
  it('is kafkajs\' (and the Java client\'s) murmur2 for string and Buffer keys of every length', () => {
    for (const key of keys()) assert.equal(murmur2(key), kafkajsMurmur2(key), JSON.stringify(key.toString()))
  })

  it('places keys where kafkajs\' DefaultPartitioner does', async () => {
    const { Partitioners } = await import('kafkajs')
    const partitioner = Partitioners.DefaultPartitioner()
    for (const partitions of [1, 3, 12, 100]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0 }))
      for (const key of keys()) {
        if (typeof key !== 'string') continue
        assert.equal(partitionOf('t', key, partitions), partitioner({ topic: 't', partitionMetadata: partitionMetadata as never, message: { key, value: null } }))
      }
    }
  })
})
