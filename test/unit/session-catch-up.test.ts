import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PersistentSession } from '../../src/session/persistent-session.js'
import { OWNER, tp } from '../support/fake-log.js'

/*
 * What a persistent session keeps when it falls behind (src/session/persistent-session.ts, pure):
 * live records it let go are owed, the next replay round reads up to them, and a round that stops
 * owes its whole target again.
 */

const at = (offset: number, p = 0): { tp: string; offset: bigint } => ({ tp: tp(p), offset: BigInt(offset) })

function session (): PersistentSession {
  const s = new PersistentSession('dev-1', OWNER, 0)
  s.addSub('a/#', 1)
  return s
}

describe('a persistent session behind (owe, roundTarget, carryOver)', () => {
  it('owes the highest record let go per partition; the round target is raised to it and the debt is cleared', () => {
    const s = session()
    s.cursors.set(tp(0), 5n)
    assert.equal(s.owes(), false)
    s.owe(at(7))
    s.owe(at(9))
    s.owe(at(3, 1))
    assert.equal(s.owes(), true)
    assert.equal(s.cursors.get(tp(0)), 5n, 'the cursor stays where it was')
    assert.equal(s.cursors.get(tp(1)), 3n, 'a partition without a cursor gets one at the first record let go')
    const target = s.roundTarget(new Map([[tp(0), 8n], [tp(2), 4n]]))
    assert.deepEqual([...target].sort(), [[tp(0), 10n], [tp(1), 4n], [tp(2), 4n]].sort())
    assert.equal(s.owes(), false)
    assert.deepEqual(s.roundTarget(new Map([[tp(0), 12n]])), new Map([[tp(0), 12n]]), 'a position above the debt stays')
  })

  it('a round that stops owes its target again, so the next round reads at least that far', () => {
    const s = session()
    const target = s.roundTarget(new Map([[tp(0), 20n]]))
    s.carryOver(target)
    assert.deepEqual(s.roundTarget(new Map([[tp(0), 15n]])), new Map([[tp(0), 20n]]))
  })

  it('had(): below the cursor; live records at or above it are new', () => {
    const s = session()
    assert.equal(s.had(at(0)), false, 'no cursor: nothing had')
    s.cursors.set(tp(0), 5n)
    assert.deepEqual([s.had(at(4)), s.had(at(5))], [true, false])
  })

  it('wentLive(): live, and the offline-message budget starts over', () => {
    const s = session()
    s.replayedNew = 10
    s.state = 'resuming'
    s.wentLive()
    assert.equal(s.state, 'live')
    assert.equal(s.replayedNew, 0)
  })

  it('a checkpoint record of a session behind keeps the cursor below what it owes (a crash resumes from there)', () => {
    const s = session()
    s.cursors.set(tp(0), 5n)
    s.owe(at(5))
    s.owe(at(6))
    s.state = 'behind'
    assert.deepEqual(s.toRecord(true, 0).cursors, { 'mqtt.data': { 0: '5' } })
  })
})
