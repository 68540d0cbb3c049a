import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readState, statePath, writeState, type LocalKafkaState } from '../../src/local-kafka/state.js'

describe('local Kafka state file', () => {
  it('keeps the nodes\' garbage collector, so that a restarted node runs with the one it was started with', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-state-'))
    try {
      const state: LocalKafkaState = { version: '4.0.0', nodes: 1, ports: [9092], pids: [123], clusterId: 'c', heapMb: 512, gc: 'g1' }
      await writeState(dir, state)
      assert.deepEqual(await readState(dir), state)
      // files written before the option (or by hand with something else) mean the serial collector
      await writeFile(statePath(dir), JSON.stringify({ ...state, gc: 'zgc' }))
      assert.equal((await readState(dir))?.gc, undefined)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
