import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { crc32c } from '../../src/kafka/crc32c.js'

const require = createRequire(import.meta.url)
/** kafkajs' own CRC-32C (a byte at a time), the reference */
const kafkajsCrc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number

describe('crc32c (slicing by 8)', () => {
  it('gives the published check value of "123456789"', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
  })

  it("equals kafkajs' CRC-32C for every length from 0 to 300 and at an offset", () => {
    let seed = 7
    const next = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed >>> 24 }
    for (let n = 0; n <= 300; n++) {
      const whole = Buffer.from(Array.from({ length: n + 5 }, next))
      const b = whole.subarray(5) // a view that does not start at its ArrayBuffer's start
      assert.equal(crc32c(b), kafkajsCrc32C(b), `length ${n}`)
    }
  })
})
