import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DecisionCache } from '../../src/auth/authz/decision-cache.js'

test('decision cache: the least recently used entry goes first, repeated hits on one key included', () => {
  const c = new DecisionCache(1, 2, 60_000)
  c.set('a', true, 0)
  c.set('b', false, 0)
  assert.equal(c.get('a', 1), true) // a is now the most recent
  assert.equal(c.get('a', 2), true) // a repeated hit keeps it the most recent
  c.set('c', true, 3) // evicts b, the least recently used
  assert.equal(c.get('b', 4), undefined)
  assert.equal(c.get('a', 5), true)
  assert.equal(c.get('c', 6), true)
  c.set('d', false, 7) // evicts a: c was used after it
  assert.equal(c.get('a', 8), undefined)
  assert.equal(c.get('c', 9), true)
  assert.equal(c.get('d', 10), false)
  assert.equal(c.size, 2)
})

test('decision cache: an entry older than the age limit is gone, the most recent one too', () => {
  const c = new DecisionCache(1, 10, 100)
  c.set('a', true, 0)
  assert.equal(c.get('a', 50), true)
  assert.equal(c.get('a', 100), undefined)
  assert.equal(c.size, 0)
  c.set('a', false, 200)
  assert.equal(c.get('a', 201), false)
})
