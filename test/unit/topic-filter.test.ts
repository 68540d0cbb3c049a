import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isValidTopicName, topicMatches } from '../../src/protocol/topic-filter.js'

/** Asserts `filter` matches (or does not match) every topic in `topics`. */
function check (filter: string, topics: string[], expected: boolean): void {
  for (const topic of topics) {
    assert.equal(topicMatches(filter, topic), expected, `topicMatches(${JSON.stringify(filter)}, ${JSON.stringify(topic)}) should be ${expected}`)
  }
}

describe('topicMatches: MQTT 3.1.1 section 4.7 examples', () => {
  it('multi-level wildcard matches the parent level and everything below', () => {
    check('sport/tennis/player1/#', [
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon'
    ], true)
    check('sport/tennis/player1/#', ['sport/tennis/player2', 'sport/tennis', 'sport/tennis/player10'], false)
  })

  it('sport/# matches sport', () => {
    check('sport/#', ['sport', 'sport/', 'sport/tennis', 'sport/tennis/player1'], true)
    check('sport/#', ['sports', 'spor', 'x/sport'], false)
  })

  it('# matches every topic that does not start with $', () => {
    check('#', ['sport', '/finance', '/', 'a/b/c', 'a//b', 'x$'], true)
    check('#', ['$SYS', '$SYS/monitor/Clients', '$'], false)
  })

  it('single-level wildcard matches exactly one level', () => {
    check('sport/tennis/+', ['sport/tennis/player1', 'sport/tennis/player2'], true)
    check('sport/tennis/+', ['sport/tennis/player1/ranking', 'sport/tennis'], false)
  })

  it('sport/+ does not match sport but matches sport/', () => {
    assert.equal(topicMatches('sport/+', 'sport'), false)
    assert.equal(topicMatches('sport/+', 'sport/'), true)
  })

  it('+/+ and /+ match /finance, + does not', () => {
    assert.equal(topicMatches('+/+', '/finance'), true)
    assert.equal(topicMatches('/+', '/finance'), true)
    assert.equal(topicMatches('+', '/finance'), false)
    assert.equal(topicMatches('+', 'finance'), true)
  })

  it('wildcard filters do not match topics starting with $', () => {
    assert.equal(topicMatches('+/monitor/Clients', '$SYS/monitor/Clients'), false)
    assert.equal(topicMatches('+', '$SYS'), false)
    assert.equal(topicMatches('+/#', '$SYS/x'), false)
  })

  it('filters starting with $ match $ topics', () => {
    assert.equal(topicMatches('$SYS/#', '$SYS/monitor/Clients'), true)
    assert.equal(topicMatches('$SYS/#', '$SYS'), true)
    assert.equal(topicMatches('$SYS/monitor/+', '$SYS/monitor/Clients'), true)
    assert.equal(topicMatches('$SYS/monitor/Clients', '$SYS/monitor/Clients'), true)
    assert.equal(topicMatches('$SYS/monitor/+', '$SYS/monitor'), false)
  })

  it('a $ later in the topic does not stop wildcards', () => {
    assert.equal(topicMatches('+/$SYS', 'a/$SYS'), true)
    assert.equal(topicMatches('a/#', 'a/$SYS/x'), true)
  })

  it('empty levels are levels', () => {
    assert.equal(topicMatches('a/+/b', 'a//b'), true)
    assert.equal(topicMatches('a//b', 'a//b'), true)
    assert.equal(topicMatches('a/b', 'a//b'), false)
    assert.equal(topicMatches('a//b', 'a/b'), false)
    assert.equal(topicMatches('a/+/b', 'a/b'), false)
    assert.equal(topicMatches('+/+/+', 'a//b'), true)
    assert.equal(topicMatches('a/+', 'a/'), true)
    assert.equal(topicMatches('+/', '/'), true)
    assert.equal(topicMatches('/#', '/'), true)
  })

  it('matching is exact and case sensitive', () => {
    assert.equal(topicMatches('Sport', 'sport'), false)
    assert.equal(topicMatches('sport', 'sport/'), false)
    assert.equal(topicMatches('sport/', 'sport'), false)
    assert.equal(topicMatches('ACCOUNTS', 'ACCOUNTS'), true)
  })
})

describe('isValidTopicName', () => {
  it('accepts ordinary topic names', () => {
    for (const t of ['a', 'sport/tennis', '/', '/finance', 'a//b', '$SYS/x', ' ', 'ü/€']) {
      assert.equal(isValidTopicName(t), true, t)
    }
  })

  it('rejects empty names, wildcards and NUL', () => {
    for (const t of ['', '+', '#', 'a/+', 'a/#', 'a+b', 'a#b', 'a\u0000b']) {
      assert.equal(isValidTopicName(t), false, JSON.stringify(t))
    }
  })

  it('accepts 65535 characters, rejects more', () => {
    assert.equal(isValidTopicName('a'.repeat(65535)), true)
    assert.equal(isValidTopicName('a'.repeat(65536)), false)
  })
})

/** Straightforward recursive matcher written from the spec text, used as the oracle. */
function referenceMatches (filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false
  const go = (i: number, j: number): boolean => {
    if (i === f.length) return j === t.length
    if (f[i] === '#') return true // valid filters have # only as the last level
    if (j === t.length) return false
    if (f[i] === '+' || f[i] === t[j]) return go(i + 1, j + 1)
    return false
  }
  return go(0, 0)
}

/** mulberry32: small deterministic PRNG. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('topicMatches against a reference implementation', () => {
  it('agrees on random filter/topic pairs', () => {
    const rand = prng(0xC0FFEE)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
    const topicLevels = ['', 'a', 'b', '$', '$a'] as const
    const filterLevels = ['', 'a', 'b', '$', '$a', '+', '+'] as const

    const randomTopic = (): string => {
      const n = 1 + Math.floor(rand() * 4)
      return Array.from({ length: n }, () => pick(topicLevels)).join('/')
    }
    const randomFilter = (): string => {
      const n = 1 + Math.floor(rand() * 4)
      const levels: string[] = Array.from({ length: n }, () => pick(filterLevels))
      if (rand() < 0.3) levels[levels.length - 1] = '#'
      return levels.join('/')
    }

    let matched = 0
    const pairs = 5000
    for (let k = 0; k < pairs; k++) {
      const topic = randomTopic()
      // half the time derive the filter from the topic so that matches are frequent
      const filter = rand() < 0.5
        ? topic.split('/').map(l => rand() < 0.4 ? '+' : l).join('/') + (rand() < 0.3 ? '/#' : '')
        : randomFilter()
      if (!isValidTopicName(topic)) continue
      const expected = referenceMatches(filter, topic)
      if (expected) matched++
      assert.equal(topicMatches(filter, topic), expected, `topicMatches(${JSON.stringify(filter)}, ${JSON.stringify(topic)})`)
    }
    // make sure the sample exercised both outcomes
    assert.ok(matched > pairs / 10, `only ${matched} matches`)
    assert.ok(matched < pairs * 0.9, `${matched} matches`)
  })
})
