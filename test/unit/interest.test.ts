import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { partitionOf } from '../../src/kafka/partitioner.js'
import { Mapping } from '../../src/mapping/mapping.js'
import type { MappingRuleSpec } from '../../src/mapping/mapping-rules.js'
import { ALL_PARTITIONS, filtersOverlap, InterestPlan, keyFromFilter, keyFromTopicTemplate, NodeInterest } from '../../src/routing/interest.js'
import { templateParts } from '../../src/mapping/template.js'

const rule = (r: Partial<MappingRuleSpec> & Pick<MappingRuleSpec, 'filter' | 'kafka_topic'>): MappingRuleSpec => ({ key: '${topic}', format: 'raw', qos: 0, ...r })
const PARTITIONS: Record<string, number> = { 'mqtt.messages': 6, telemetry: 12, 'devices.commands': 4 }
const partitionsOf = (t: string): number => PARTITIONS[t] ?? 3

function plan (rules: MappingRuleSpec[]): InterestPlan {
  return new InterestPlan(new Mapping(rules, 'mqtt.messages').routes(), partitionsOf)
}

describe('filtersOverlap', () => {
  it('is true when some topic matches both', () => {
    const yes: Array<[string, string]> = [['a/b', 'a/b'], ['a/+', 'a/b'], ['a/#', 'a'], ['#', 'x/y'], ['+/b', 'a/+'], ['a/+/c', 'a/#'], ['$SYS/#', '$SYS/x'], ['+/x', '+/+']]
    const no: Array<[string, string]> = [['a/b', 'a/c'], ['a/+', 'a'], ['a/+', 'a/b/c'], ['#', '$SYS/x'], ['+/x', '$app/x'], ['telemetry/#', 'devices/#']]
    for (const [a, b] of yes) { assert.equal(filtersOverlap(a, b), true, `${a} ~ ${b}`); assert.equal(filtersOverlap(b, a), true, `${b} ~ ${a}`) }
    for (const [a, b] of no) { assert.equal(filtersOverlap(a, b), false, `${a} !~ ${b}`); assert.equal(filtersOverlap(b, a), false, `${b} !~ ${a}`) }
  })
})

describe('the key a filter fixes', () => {
  it('${topic}: an exact filter is the key; a wildcard is any key', () => {
    const key = templateParts('${topic}', 'key')
    assert.equal(keyFromFilter('a/b', key), 'a/b')
    assert.equal(keyFromFilter('a/+', key), undefined)
  })
  it('{N}: literal levels make the key, wildcards over them do not', () => {
    const key = templateParts('dev-{2}', 'key')
    assert.equal(keyFromFilter('devices/abc/#', key), 'dev-abc')
    assert.equal(keyFromFilter('devices/+/x', key), undefined)
    assert.equal(keyFromFilter('devices/#', key), undefined)
    assert.equal(keyFromFilter('#/x', key), undefined)
  })
  it('${clientid} and ${username} are never in the topic', () => {
    assert.equal(keyFromFilter('a/b', templateParts('${clientid}', 'key')), undefined)
  })
  it('an inbound topic template gives the key back, or says no topic of it can match', () => {
    const t = templateParts('devices/${key}/commands', 'mqtt_topic')
    assert.equal(keyFromTopicTemplate('devices/d42/commands', t), 'd42')
    assert.equal(keyFromTopicTemplate('devices/+/commands', t), undefined)
    assert.equal(keyFromTopicTemplate('devices/#', t), undefined)
    assert.equal(keyFromTopicTemplate('other/d42/commands', t), null)
    assert.equal(keyFromTopicTemplate('telemetry/#', t), null)
  })
})

describe('InterestPlan', () => {
  it('without rules: an exact filter reads one partition of the data topic, a wildcard all', () => {
    const p = plan([])
    assert.deepEqual(p.of('home/kitchen/temp'), [{ topic: 'mqtt.messages', partition: partitionOf('mqtt.messages', 'home/kitchen/temp', 6) }])
    assert.deepEqual(p.of('home/+/temp'), [{ topic: 'mqtt.messages', partition: ALL_PARTITIONS }])
    assert.deepEqual(p.of('$SYS/#'), [], '$SYS never comes from Kafka')
  })

  it('a rule topic is read only by filters that can overlap its rules', () => {
    const p = plan([rule({ filter: 'telemetry/#', kafka_topic: 'telemetry', key: '{2}' })])
    assert.deepEqual(p.of('home/x'), [{ topic: 'mqtt.messages', partition: partitionOf('mqtt.messages', 'home/x', 6) }])
    assert.deepEqual(p.of('telemetry/d1/temp'), [
      { topic: 'telemetry', partition: partitionOf('telemetry', 'd1', 12) },
      { topic: 'mqtt.messages', partition: partitionOf('mqtt.messages', 'telemetry/d1/temp', 6) }
    ])
    assert.deepEqual(p.of('telemetry/d1/#'), [
      { topic: 'telemetry', partition: partitionOf('telemetry', 'd1', 12) },
      { topic: 'mqtt.messages', partition: ALL_PARTITIONS }
    ], 'the device level fixes the key of the rule topic')
    assert.deepEqual(p.of('#'), [{ topic: 'telemetry', partition: ALL_PARTITIONS }, { topic: 'mqtt.messages', partition: ALL_PARTITIONS }])
  })

  it('commands produced by a backend keyed by device reach the partition of that key', () => {
    const p = plan([rule({ filter: 'devices/+/commands', kafka_topic: 'devices.commands', key: '{2}', mqtt_topic: 'devices/${key}/commands' })])
    const part = partitionOf('devices.commands', 'd42', 4)
    assert.deepEqual(p.of('devices/d42/commands').filter(t => t.topic === 'devices.commands'), [{ topic: 'devices.commands', partition: part }])
  })
})

describe('NodeInterest', () => {
  it('counts holders per filter and per partition, and says what starts and stops', () => {
    const i = new NodeInterest(plan([]), partitionsOf)
    const exact = `mqtt.messages:${partitionOf('mqtt.messages', 'a/b', 6)}`
    assert.deepEqual(i.add('a/b'), [exact])
    assert.deepEqual(i.add('a/b'), [], 'a second holder of the same filter')
    assert.equal(i.wants('a/b'), true)
    assert.equal(i.wants('a/c'), false)
    const all = i.add('x/#')
    assert.equal(all.length, 5, 'the wildcard adds the other five partitions')
    assert.deepEqual(i.remove('x/#').sort(), all.sort())
    assert.deepEqual(i.remove('a/b'), [])
    assert.deepEqual(i.remove('a/b'), [exact], 'the last holder leaves')
    assert.deepEqual(i.partitions(), [])
    assert.equal(i.wants('a/b'), false)
  })
})
