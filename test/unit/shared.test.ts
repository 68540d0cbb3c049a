import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { KafkaMessage } from 'kafkajs'
import type { MapResult, RecordDecoder } from '../../src/mapping/mapping.js'
import type { MqttMessage } from '../../src/protocol/message.js'
import { createLogger } from '../../src/observability/logger.js'
import { isShareFilter, parseShareFilter, QUEUE_GROUP, SHARE_ALIAS } from '../../src/protocol/share-filter.js'
import { SharedGroup, type SharedMember } from '../../src/shared/shared-group.js'
import { chooser } from '../../src/shared/strategies.js'

const log = createLogger({ level: 'silent' })

describe('shared subscription filters', () => {
  it('parses $share/<group>/<filter> and $queue/<filter>', () => {
    assert.deepEqual(parseShareFilter('$share/g1/a/+/c'), { group: 'g1', filter: 'a/+/c' })
    assert.deepEqual(parseShareFilter('$share/g1/#'), { group: 'g1', filter: '#' })
    assert.deepEqual(parseShareFilter('$queue/jobs/#'), { group: QUEUE_GROUP, filter: 'jobs/#' })
  })
  it('refuses malformed ones', () => {
    for (const bad of ['$share/', '$share/g1', '$share//a', '$share/g+/a', '$share/g#/a', '$share/g1/a/#/b', '$queue/', 'a/b']) {
      assert.equal(parseShareFilter(bad), undefined, bad)
    }
  })
  it('reads the alias an MQTT 5 client\'s $share/ reaches aedes as (edge/v5-filters.ts)', () => {
    assert.ok(isShareFilter(`${SHARE_ALIAS}g1/a/#`))
    assert.deepEqual(parseShareFilter(`${SHARE_ALIAS}g1/a/#`), { group: 'g1', filter: 'a/#' })
    assert.equal(parseShareFilter(`${SHARE_ALIAS}invalid-0`), undefined, 'the malformed alias the edge refuses with 0x8F')
  })
})

describe('dispatch strategies', () => {
  const members = ['m1', 'm2', 'm3']
  const pick = (topic: string, publisher?: string): { topic: string; publisher: string | undefined } => ({ topic, publisher })
  it('round_robin takes the members in turn', () => {
    const c = chooser<string>('round_robin')
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => c(members, pick('t'))), ['m1', 'm2', 'm3', 'm1', 'm2', 'm3'])
  })
  it('sticky keeps one member until it leaves', () => {
    const c = chooser<string>('sticky')
    const first = c(members, pick('t'))
    assert.ok([1, 2, 3, 4].every(() => c(members, pick('x')) === first))
    const rest = members.filter(m => m !== first)
    assert.ok(rest.includes(c(rest, pick('t'))))
  })
  it('hash_topic and hash_clientid are stable per topic / publisher', () => {
    const byTopic = chooser<string>('hash_topic')
    const byClient = chooser<string>('hash_clientid')
    assert.equal(byTopic(members, pick('a/b', 'p1')), byTopic(members, pick('a/b', 'p2')))
    assert.equal(byClient(members, pick('a', 'p1')), byClient(members, pick('b', 'p1')))
    const spread = new Set(Array.from({ length: 50 }, (_, i) => byTopic(members, pick(`t/${i}`))))
    assert.equal(spread.size, 3, 'topics spread over all members')
  })
  it('random picks among the members', () => {
    const c = chooser<string>('random')
    assert.ok(Array.from({ length: 20 }, () => c(members, pick('t'))).every(m => members.includes(m)))
  })
})

function record (offset: number, topic: string): KafkaMessage {
  return { offset: String(offset), key: Buffer.from(topic), value: Buffer.from(String(offset)), timestamp: '0', attributes: 0, headers: {} } as KafkaMessage
}
const decode = (r: KafkaMessage): MapResult => ({ ok: true, message: { topic: (r.key as Buffer).toString(), payload: r.value as Buffer, qos: 1, retain: false } })
const decoder: RecordDecoder = {
  decodeEach: async (_topic, _partition, records, each) => { for (const r of records) each(decode(r), r) }
}
function group (filter: string, onDispatch?: (what: 'delivered' | 'redelivered') => void): SharedGroup {
  return new SharedGroup({ group: 'g', filter, strategy: 'round_robin', decoder, onDispatch, logger: log })
}

class FakeMember implements SharedMember {
  readonly got: string[] = []
  private readonly waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = []
  constructor (readonly clientId: string, private readonly autoAck = true) {}
  deliver (message: MqttMessage): Promise<void> {
    this.got.push(message.payload.toString())
    if (this.autoAck) return Promise.resolve()
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
  }

  leave (): void { for (const w of this.waiting.splice(0)) w.reject(new Error('gone')) }
}

describe('a shared group on one node', () => {
  it('hands each matching record to one member and reports every record done', async () => {
    const g = group('a/#')
    const m1 = new FakeMember('m1')
    const m2 = new FakeMember('m2')
    g.add(m1, 1)
    g.add(m2, 1)
    const done = await g.onBatch('t', 0, [record(0, 'a/1'), record(1, 'b/1'), record(2, 'a/2'), record(3, 'a/3')])
    assert.equal(done, 4, 'non-matching records are done too')
    assert.deepEqual([...m1.got, ...m2.got].sort(), ['0', '2', '3'])
    assert.ok(m1.got.length > 0 && m2.got.length > 0)
  })

  it('a member that leaves before acknowledging: its records go to another member', async () => {
    let redelivered = 0
    const g = group('#', (what) => { if (what === 'redelivered') redelivered++ })
    const lazy = new FakeMember('lazy', false)
    const good = new FakeMember('good')
    g.add(lazy, 1)
    g.add(good, 1)
    const batch = g.onBatch('t', 0, [record(0, 'x'), record(1, 'x'), record(2, 'x')])
    await new Promise(resolve => setImmediate(resolve))
    lazy.leave()
    assert.equal(await batch, 3)
    assert.deepEqual([...good.got].sort(), ['0', '1', '2'])
    assert.equal(redelivered > 0, true)
  })

  it('with no member left, only the prefix before the first undelivered record is done', async () => {
    const g = group('#')
    const lazy = new FakeMember('lazy', false)
    g.add(lazy, 1)
    const batch = g.onBatch('t', 0, [record(0, 'x'), record(1, 'x')])
    await new Promise(resolve => setImmediate(resolve))
    g.remove(lazy)
    lazy.leave()
    assert.equal(await batch, 0, 'nothing is committed: another node reads these records again')
  })
})
