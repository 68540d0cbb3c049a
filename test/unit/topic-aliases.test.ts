import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { TopicAliases } from '../../src/protocol/topic-aliases.js'

describe('TopicAliases (outbound, per connection)', () => {
  it('a first use carries the topic, later ones only the alias', () => {
    const t = new TopicAliases(3)
    assert.deepEqual(t.aliasFor('a/b'), { alias: 1, known: false })
    assert.deepEqual(t.aliasFor('c'), { alias: 2, known: false })
    assert.deepEqual(t.aliasFor('a/b'), { alias: 1, known: true })
    assert.deepEqual(t.aliasFor('c'), { alias: 2, known: true })
  })

  it('never more aliases than the maximum: the least recently used topic gives its alias up', () => {
    const t = new TopicAliases(2)
    t.aliasFor('x') // 1
    t.aliasFor('y') // 2
    t.aliasFor('x') // x used after y
    assert.deepEqual(t.aliasFor('z'), { alias: 2, known: false }, 'y was least recently used')
    assert.deepEqual(t.aliasFor('x'), { alias: 1, known: true })
    assert.deepEqual(t.aliasFor('y'), { alias: 2, known: false }, 'y is re-mapped with its topic')
    for (let i = 0; i < 50; i++) {
      const a = t.aliasFor(`t${i}`)
      assert.ok(a !== undefined && a.alias >= 1 && a.alias <= 2)
    }
  })

  it('a maximum of 0, or an empty topic: no alias', () => {
    assert.equal(new TopicAliases(0).aliasFor('a'), undefined)
    assert.equal(new TopicAliases(5).aliasFor(''), undefined)
  })
})
