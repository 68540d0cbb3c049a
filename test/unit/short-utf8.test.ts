import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { utf8Length, writeUtf8 } from '../../src/util/short-utf8.js'

describe('short strings as UTF-8 (util/short-utf8.ts)', () => {
  const samples = [
    '', 'a', 'mqtt.topic', 'true', 'x'.repeat(47), 'x'.repeat(48), 'x'.repeat(49), 'x'.repeat(200),
    'é', 'aé', 'devices/é/temp', `${'y'.repeat(47)}é`, `${'y'.repeat(48)}é`, '😀', 'a😀b', '\u007f\u0080',
    '\ud800', 'a\udc00b', 'nul\u0000here'
  ]

  it('counts what Buffer.byteLength counts', () => {
    for (const s of samples) assert.equal(utf8Length(s), Buffer.byteLength(s), JSON.stringify(s))
  })

  it('writes the bytes Buffer writes, at an offset, and says how many', () => {
    for (const s of samples) {
      const expected = Buffer.from(s)
      const out = Buffer.alloc(3 + utf8Length(s), 0xee)
      const n = writeUtf8(out, s, 3)
      assert.equal(n, expected.length, JSON.stringify(s))
      assert.deepEqual(out.subarray(3), expected, JSON.stringify(s))
      assert.deepEqual(out.subarray(0, 3), Buffer.from([0xee, 0xee, 0xee]), 'nothing before the offset is touched')
    }
  })
})
