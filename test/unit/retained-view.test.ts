import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IHeaders, KafkaMessage } from 'kafkajs'
import { RetainedView, type RetainedMessage } from '../../src/retained/retained-view.js'
import { HEADER } from '../../src/mapping/codec.js'

/** A record of the compacted retained topic as a consumer sees it (key and headers are Buffers). */
function record (key: string | null, value: string | Buffer | null, qos?: string): KafkaMessage {
  const headers: IHeaders = qos === undefined ? {} : { [HEADER.qos]: Buffer.from(qos) }
  return {
    key: key === null ? null : Buffer.from(key),
    value: typeof value === 'string' ? Buffer.from(value) : value,
    headers,
    offset: '0',
    timestamp: '0',
    attributes: 0
  }
}

/** Topics of `messages`, sorted, for order-independent comparisons. */
function topics (messages: RetainedMessage[]): string[] {
  return messages.map(m => m.topic).sort()
}

function viewWith (...entries: Array<[string, string, 0 | 1 | 2]>): RetainedView {
  const view = new RetainedView()
  for (const [topic, payload, qos] of entries) view.set(topic, Buffer.from(payload), qos)
  return view
}

describe('RetainedView.set and match', () => {
  it('keeps the last message per topic', () => {
    const view = new RetainedView()
    assert.equal(view.size, 0)
    view.set('a/b', Buffer.from('one'), 1)
    view.set('a/b', Buffer.from('two'), 2)
    assert.equal(view.size, 1)
    const [m, ...rest] = view.match(['a/b'])
    assert.equal(rest.length, 0)
    assert.ok(m !== undefined)
    assert.equal(m.topic, 'a/b')
    assert.equal(m.payload.toString(), 'two')
    assert.equal(m.qos, 2)
  })

  it('exact filter for an unknown topic matches nothing', () => {
    const view = viewWith(['a/b', 'x', 0])
    assert.deepEqual(view.match(['a/c']), [])
    assert.deepEqual(view.match(['a']), [])
    assert.deepEqual(view.match([]), [])
  })

  it('a null payload is a tombstone', () => {
    const view = viewWith(['a', 'x', 0], ['b', 'y', 0])
    view.set('a', null, 0)
    assert.equal(view.size, 1)
    assert.deepEqual(view.match(['a']), [])
    assert.deepEqual(topics(view.match(['#'])), ['b'])
  })

  it('an empty payload is a tombstone', () => {
    const view = viewWith(['a', 'x', 1])
    view.set('a', Buffer.alloc(0), 1)
    assert.equal(view.size, 0)
    assert.deepEqual(view.match(['a']), [])
  })

  it('a tombstone for an unknown topic is harmless', () => {
    const view = viewWith(['a', 'x', 0])
    view.set('nope', null, 0)
    assert.equal(view.size, 1)
  })

  it('matches wildcard filters', () => {
    const view = viewWith(
      ['sport/tennis/player1', '1', 0],
      ['sport/tennis/player1/ranking', '2', 0],
      ['sport/tennis/player2', '3', 0],
      ['sport', '4', 0],
      ['finance', '5', 0],
      ['/finance', '6', 0]
    )
    assert.deepEqual(topics(view.match(['sport/tennis/+'])), ['sport/tennis/player1', 'sport/tennis/player2'])
    assert.deepEqual(topics(view.match(['sport/tennis/player1/#'])), ['sport/tennis/player1', 'sport/tennis/player1/ranking'])
    assert.deepEqual(topics(view.match(['sport/#'])), ['sport', 'sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player2'])
    assert.deepEqual(topics(view.match(['+'])), ['finance', 'sport'])
    assert.deepEqual(topics(view.match(['+/+'])), ['/finance'])
    assert.equal(view.match(['#']).length, 6)
  })

  it('wildcards at the start do not match $ topics', () => {
    const view = viewWith(['$SYS/monitor/Clients', 'n', 0], ['monitor/Clients', 'm', 0])
    assert.deepEqual(topics(view.match(['#'])), ['monitor/Clients'])
    assert.deepEqual(topics(view.match(['+/monitor/Clients'])), [])
    assert.deepEqual(topics(view.match(['$SYS/#'])), ['$SYS/monitor/Clients'])
    assert.deepEqual(topics(view.match(['$SYS/monitor/+'])), ['$SYS/monitor/Clients'])
    assert.deepEqual(topics(view.match(['$SYS/monitor/Clients'])), ['$SYS/monitor/Clients'])
  })

  it('a message matched by several filters comes back once', () => {
    const view = viewWith(['a/b', 'x', 0], ['a/c', 'y', 0], ['z', 'w', 0])
    assert.deepEqual(topics(view.match(['a/+', 'a/#', '#', 'a/b'])), ['a/b', 'a/c', 'z'])
    assert.deepEqual(topics(view.match(['a/b', 'a/b'])), ['a/b'])
    assert.deepEqual(topics(view.match(['a/b', 'z'])), ['a/b', 'z'])
  })
})

describe('RetainedView.onBatch', () => {
  it('applies records with Buffer keys and qos headers', async () => {
    const view = new RetainedView()
    await view.onBatch('wharf.retained', 0, [
      record('a', 'zero'),
      record('b', 'one', '1'),
      record('c', 'two', '2'),
      record('d', 'bad qos', '7')
    ])
    assert.equal(view.size, 4)
    const byTopic = new Map(view.match(['#']).map(m => [m.topic, m]))
    assert.equal(byTopic.get('a')?.qos, 0)
    assert.equal(byTopic.get('b')?.qos, 1)
    assert.equal(byTopic.get('c')?.qos, 2)
    assert.equal(byTopic.get('d')?.qos, 0)
    assert.equal(byTopic.get('c')?.payload.toString(), 'two')
  })

  it('later records win and tombstones (null or empty value) remove', async () => {
    const view = new RetainedView()
    await view.onBatch('t', 0, [record('a', 'v1', '1'), record('b', 'keep'), record('c', 'gone')])
    await view.onBatch('t', 0, [record('a', 'v2', '2'), record('c', null), record('b', Buffer.alloc(0)), record('b', 'back')])
    assert.deepEqual(topics(view.match(['#'])), ['a', 'b'])
    const [a] = view.match(['a'])
    assert.equal(a?.payload.toString(), 'v2')
    assert.equal(a?.qos, 2)
    await view.onBatch('t', 0, [record('a', Buffer.alloc(0))])
    assert.deepEqual(view.match(['a']), [])
  })

  it('skips records without a key', async () => {
    const view = new RetainedView()
    await view.onBatch('t', 0, [record(null, 'x', '1'), record('k', 'y')])
    assert.deepEqual(topics(view.match(['#'])), ['k'])
  })

  it('accepts a record with no headers', async () => {
    const view = new RetainedView()
    const noHeaders = { key: Buffer.from('k'), value: Buffer.from('v'), offset: '0', timestamp: '0', attributes: 0, size: 0 } satisfies KafkaMessage
    await view.onBatch('t', 0, [noHeaders])
    assert.equal(view.match(['k'])[0]?.qos, 0)
  })
})

describe('RetainedView.record', () => {
  it('keys the record by MQTT topic and carries the qos', () => {
    const r = RetainedView.record('wharf.retained', { topic: 'a/b', payload: Buffer.from('p'), qos: 1, retain: true, clientId: 'c' })
    assert.equal(r.topic, 'wharf.retained')
    assert.equal(r.key, 'a/b')
    assert.ok(r.value !== null && r.value.equals(Buffer.from('p')))
    assert.deepEqual(r.headers, { [HEADER.qos]: '1' })
  })

  it('an empty payload becomes a null value (tombstone)', () => {
    const r = RetainedView.record('wharf.retained', { topic: 'a/b', payload: Buffer.alloc(0), qos: 0, retain: true })
    assert.equal(r.key, 'a/b')
    assert.equal(r.value, null)
  })

  it('a record read back by onBatch restores the message', async () => {
    const view = new RetainedView()
    const r = RetainedView.record('wharf.retained', { topic: 'x/y', payload: Buffer.from('hello'), qos: 2, retain: true })
    const headers: IHeaders = {}
    for (const [k, v] of Object.entries(r.headers ?? {})) headers[k] = Buffer.from(String(v))
    await view.onBatch('wharf.retained', 0, [{ key: Buffer.from(String(r.key)), value: r.value, headers, offset: '0', timestamp: '0', attributes: 0 }])
    const [m] = view.match(['x/+'])
    assert.equal(m?.payload.toString(), 'hello')
    assert.equal(m?.qos, 2)

    const del = RetainedView.record('wharf.retained', { topic: 'x/y', payload: Buffer.alloc(0), qos: 0, retain: true })
    await view.onBatch('wharf.retained', 0, [{ key: Buffer.from(String(del.key)), value: del.value, headers: {}, offset: '1', timestamp: '0', attributes: 0 }])
    assert.equal(view.size, 0)
  })
})
