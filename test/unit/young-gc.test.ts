import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { applyYoungGc } from '../../src/node/young-gc.js'

describe('node.young_gc', () => {
  it('auto: on the main thread alone up to 2 CPUs, parallel above', () => {
    assert.deepEqual(applyYoungGc('auto', 1), { mode: 'single_threaded', cpus: 1 })
    assert.deepEqual(applyYoungGc('auto', 2), { mode: 'single_threaded', cpus: 2 })
    assert.deepEqual(applyYoungGc('auto', 3), { mode: 'parallel', cpus: 3 })
  })

  it('an explicit setting holds whatever the CPUs', () => {
    assert.equal(applyYoungGc('parallel', 1).mode, 'parallel')
    assert.equal(applyYoungGc('single_threaded', 64).mode, 'single_threaded')
  })

  it('is safe to set after start: the process goes on collecting (--single-threaded-gc set so aborts V8)', () => {
    applyYoungGc('single_threaded')
    let kept: object[] = []
    for (let i = 0; i < 300_000; i++) {
      kept.push({ i, s: `x${i}` })
      if (kept.length > 10_000) kept = []
    }
    assert.ok(kept.length <= 10_000)
  })
})
