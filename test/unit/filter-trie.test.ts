import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FilterTrie } from '../../src/protocol/filter-trie.js'
import { compileTopicFilter, isValidTopicFilter } from '../../src/protocol/topic-filter.js'

function prng (seed: number): () => number {
  let t = seed >>> 0
  return () => {
    t = (t + 0x6D2B79F5) >>> 0
    let r = Math.imul(t ^ (t >>> 15), 1 | t)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

describe('FilterTrie', () => {
  it('answers like the compiled matchers of the filters it holds, on random sets', () => {
    const rand = prng(42)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
    const levels = ['', 'a', 'b', '$x', '+', '#']
    const topicLevels = ['', 'a', 'b', '$x', 'c']
    for (let round = 0; round < 300; round++) {
      const filters: string[] = []
      while (filters.length < 1 + Math.floor(rand() * 5)) {
        const f = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(levels)).join('/')
        if (isValidTopicFilter(f)) filters.push(f)
      }
      const trie = new FilterTrie()
      for (const f of filters) trie.add(f)
      const matchers = filters.map(compileTopicFilter)
      for (let k = 0; k < 30; k++) {
        const topic = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(topicLevels)).join('/')
        assert.equal(trie.matchesAny(topic), matchers.some(m => m(topic)), `${JSON.stringify(filters)} vs ${topic}`)
      }
    }
  })

  it('counts holders: a filter stays until its last holder removes it', () => {
    const trie = new FilterTrie()
    assert.equal(trie.add('a/+'), true)
    assert.equal(trie.add('a/+'), false)
    assert.equal(trie.matchesAny('a/b'), true)
    assert.equal(trie.remove('a/+'), false)
    assert.equal(trie.matchesAny('a/b'), true)
    assert.equal(trie.remove('a/+'), true)
    assert.equal(trie.matchesAny('a/b'), false)
    assert.equal(trie.size, 0)
    assert.equal(trie.remove('a/+'), false, 'removing what is not held changes nothing')
  })

  it('keeps the $ rule and matches the parent level with #', () => {
    const trie = new FilterTrie()
    trie.add('#')
    trie.add('+/y')
    assert.equal(trie.matchesAny('$SYS/x'), false)
    assert.equal(trie.matchesAny('$SYS/y'), false)
    trie.add('$SYS/#')
    assert.equal(trie.matchesAny('$SYS'), true)
    trie.remove('#')
    assert.equal(trie.matchesAny('a'), false)
    trie.add('a/#')
    assert.equal(trie.matchesAny('a'), true)
    assert.equal(trie.matchesAny('a/b/c'), true)
  })
})
