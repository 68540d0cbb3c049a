import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KafkaMessage } from 'kafkajs'
import { Mapping } from '../../src/mapping/mapping.js'
import type { MqttMessage } from '../../src/protocol/message.js'
import { compileKeyTemplate, compileMqttTopicTemplate, keyTemplateError, mqttTopicTemplateError, topicLevel } from '../../src/mapping/template.js'
import { compileTopicFilter, isValidTopicFilter } from '../../src/protocol/topic-filter.js'
import { ConfigError, loadConfig } from '../../src/config/index.js'

const msg = (topic: string, extra: Partial<MqttMessage> = {}): MqttMessage =>
  ({ topic, payload: Buffer.from('p'), qos: 1, retain: false, clientId: 'c1', username: 'u1', node: 'n1', ...extra })

function record (fields: { key?: string; value?: string | Buffer; headers?: Record<string, string> }): KafkaMessage {
  return {
    key: fields.key === undefined ? null : Buffer.from(fields.key),
    value: fields.value === undefined ? null : Buffer.from(fields.value),
    headers: fields.headers ?? {},
    timestamp: '0',
    attributes: 0,
    offset: '0'
  } as KafkaMessage
}

describe('key templates', () => {
  it('substitutes ${topic}, ${clientid}, ${username} and {N}', () => {
    assert.equal(compileKeyTemplate('${topic}')(msg('a/b/c')), 'a/b/c')
    assert.equal(compileKeyTemplate('{2}')(msg('devices/d42/telemetry')), 'd42')
    assert.equal(compileKeyTemplate('{1}-{3}')(msg('a/b/c')), 'a-c')
    assert.equal(compileKeyTemplate('${clientid}:${username}')(msg('x')), 'c1:u1')
    assert.equal(compileKeyTemplate('id-${clientid}')(msg('x', { clientId: undefined })), 'id-')
    assert.equal(compileKeyTemplate('fixed')(msg('x')), 'fixed')
  })

  it('uses the whole MQTT topic when the topic lacks the level', () => {
    assert.equal(compileKeyTemplate('dev-{3}')(msg('a/b')), 'a/b')
    assert.equal(topicLevel('a//c', 2), '')
    assert.equal(topicLevel('a', 2), undefined)
  })

  it('rejects unknown placeholders', () => {
    assert.equal(keyTemplateError('${topic}/{2}'), undefined)
    assert.match(keyTemplateError('${device}') ?? '', /unknown placeholder \$\{device\}/)
    assert.match(keyTemplateError('{0}') ?? '', /unknown placeholder \{0\}/)
    assert.match(keyTemplateError('{x}') ?? '', /unknown placeholder/)
    assert.match(keyTemplateError('${key}') ?? '', /unknown placeholder/)
  })

  it('MQTT topic templates take ${key} only and no wildcards', () => {
    assert.equal(compileMqttTopicTemplate('devices/${key}/commands')('d42'), 'devices/d42/commands')
    assert.equal(mqttTopicTemplateError('devices/${key}'), undefined)
    assert.match(mqttTopicTemplateError('devices/${topic}') ?? '', /unknown placeholder/)
    assert.match(mqttTopicTemplateError('devices/{2}') ?? '', /unknown placeholder/)
    assert.match(mqttTopicTemplateError('devices/+/${key}') ?? '', /wildcards/)
  })
})

describe('compiled topic filters', () => {
  it('agree with a level-by-level matcher written from the specification', () => {
    // split both into levels and compare them one by one (section 4.7, the $ rule of 4.7.2)
    const byLevels = (filter: string, topic: string): boolean => {
      if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
      const f = filter.split('/')
      const t = topic.split('/')
      for (let i = 0; i < f.length; i++) {
        if (f[i] === '#') return true
        if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false
      }
      return f.length === t.length
    }
    const filters = ['a/b', 'a/+', '+/+', 'a/#', '#', '+', 'a/+/c', '+/b/#', '/+', 'a//b', '$SYS/#', '+/x']
    const topics = ['a/b', 'a', 'a/b/c', 'a/x/c', '/b', '/', 'a//b', '$SYS/x', 'x', 'b/b/q', 'a/b/', '$x/x']
    for (const f of filters) {
      const m = compileTopicFilter(f)
      for (const t of topics) assert.equal(m(t), byLevels(f, t), `${f} vs ${t}`)
    }
  })

  it('validate filters', () => {
    for (const ok of ['a', 'a/+/b', '#', 'a/#', '+']) assert.ok(isValidTopicFilter(ok), ok)
    for (const bad of ['', 'a/#/b', 'a#', 'a/b+', '##']) assert.ok(!isValidTopicFilter(bad), bad)
  })
})

describe('Mapping', () => {
  const mapping = new Mapping([
    { filter: 'devices/+/telemetry', kafka_topic: 'devices.telemetry', key: '{2}', format: 'json', qos: 0 },
    { filter: 'devices/+/commands', kafka_topic: 'devices.commands', key: '{2}', format: 'raw', qos: 1, mqtt_topic: 'devices/${key}/commands' },
    { filter: 'devices/#', kafka_topic: 'devices.other', key: '${topic}', format: 'raw', qos: 0 }
  ], 'mqtt.messages')

  it('sends a message to the first matching rule, else the data topic raw keyed by topic', () => {
    const t = mapping.encode(msg('devices/d1/telemetry'))
    assert.equal(t.topic, 'devices.telemetry')
    assert.equal(t.key, 'd1')
    assert.equal(JSON.parse(String(t.value)).topic, 'devices/d1/telemetry')
    const c = mapping.encode(msg('devices/d1/commands'))
    assert.deepEqual([c.topic, c.key, String(c.value)], ['devices.commands', 'd1', 'p'])
    assert.equal(mapping.encode(msg('devices/d1/x')).topic, 'devices.other')
    const d = mapping.encode(msg('home/kitchen'))
    assert.deepEqual([d.topic, d.key], ['mqtt.messages', 'home/kitchen'])
  })

  it('reads the data topic and every rule topic once', () => {
    assert.deepEqual(mapping.kafkaTopics, ['mqtt.messages', 'devices.telemetry', 'devices.commands', 'devices.other'])
    assert.deepEqual(new Mapping([], 'm').kafkaTopics, ['m'])
  })

  it('derives the MQTT topic and QoS of backend records', () => {
    const viaTemplate = mapping.decode('devices.commands', record({ key: 'd42', value: 'reboot' }))
    assert.ok(viaTemplate.ok)
    assert.equal(viaTemplate.message.topic, 'devices/d42/commands')
    assert.equal(viaTemplate.message.qos, 1)
    const viaHeader = mapping.decode('devices.commands', record({ key: 'd42', value: 'x', headers: { 'mqtt.topic': 'other/t', 'mqtt.qos': '0' } }))
    assert.ok(viaHeader.ok)
    assert.deepEqual([viaHeader.message.topic, viaHeader.message.qos], ['other/t', 0])
    const viaKey = mapping.decode('devices.other', record({ key: 'a/b', value: 'x' }))
    assert.ok(viaKey.ok)
    assert.equal(viaKey.message.topic, 'a/b')
    const json = mapping.decode('devices.telemetry', record({ key: 'd1', value: JSON.stringify({ topic: 'devices/d1/telemetry', payload: 'hi', qos: 1 }) }))
    assert.ok(json.ok)
    assert.deepEqual([json.message.topic, String(json.message.payload), json.message.qos], ['devices/d1/telemetry', 'hi', 1])
  })

  it('reports records it cannot map', () => {
    assert.deepEqual(mapping.decode('devices.telemetry', record({ key: 'd1', value: '{nope' })), { ok: false, reason: 'invalid JSON envelope' })
    assert.equal(mapping.decode('devices.other', record({ value: 'x' })).ok, false)
    assert.deepEqual(mapping.decode('devices.commands', record({ key: 'a+b', value: 'x' })), { ok: false, reason: 'invalid MQTT topic' })
    assert.deepEqual(mapping.decode('unknown', record({ key: 'a', value: 'x' })), { ok: false, reason: 'Kafka topic not mapped' })
  })
})

describe('mapping.rules in the configuration', () => {
  let dir = ''
  let n = 0
  before(() => { dir = mkdtempSync(join(tmpdir(), 'wharf-mapping-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })
  /** JSON is YAML: a file with `mapping: { rules }` */
  const load = (rules: unknown[]): ReturnType<typeof loadConfig> => {
    const file = join(dir, `c${n++}.yaml`)
    writeFileSync(file, JSON.stringify({ mapping: { rules } }))
    return loadConfig({ file, env: {} })
  }
  const errorOf = (rules: unknown[]): ConfigError => {
    try {
      load(rules)
    } catch (err) {
      assert.ok(err instanceof ConfigError)
      return err
    }
    assert.fail('expected a ConfigError')
  }

  it('applies defaults', () => {
    assert.deepEqual(load([{ filter: 'a/#', kafka_topic: 'k.a' }]).mapping.rules, [{ filter: 'a/#', kafka_topic: 'k.a', key: '${topic}', format: 'raw', qos: 0 }])
  })

  it('names the rule and field of each problem', () => {
    assert.equal(errorOf([{ filter: 'a/#', kafka_topic: 'k', key: '${device}' }]).key, 'mapping.rules.0.key')
    assert.match(errorOf([{ filter: 'a/#', kafka_topic: 'k', key: '${device}' }]).message, /unknown placeholder \$\{device\}/)
    assert.equal(errorOf([{ filter: 'a', kafka_topic: 'k' }, { filter: 'a/#/b', kafka_topic: 'k' }]).key, 'mapping.rules.1.filter')
    assert.equal(errorOf([{ filter: 'a', kafka_topic: 'k', mqtt_topic: 'x/${topic}' }]).key, 'mapping.rules.0.mqtt_topic')
    assert.equal(errorOf([{ filter: 'a', kafka_topic: 'k', format: 'protobuf' }]).key, 'mapping.rules.0.format')
    assert.equal(errorOf([{ filter: 'a', kafka_topic: 'k', qos: 3 }]).key, 'mapping.rules.0.qos')
    assert.equal(errorOf([{ filter: 'a', kafka_topic: 'k', extra: 1 }]).key, 'mapping.rules.0.extra')
  })

  it('rejects a Kafka topic claimed with two formats, or one of Wharf\'s own topics', () => {
    const clash = errorOf([{ filter: 'a', kafka_topic: 'k' }, { filter: 'b', kafka_topic: 'k', format: 'json' }])
    assert.equal(clash.key, 'mapping.rules.1.format')
    assert.match(clash.message, /k is raw in mapping\.rules\.0/)
    assert.equal(errorOf([{ filter: 'a', kafka_topic: 'mqtt.messages', format: 'json' }]).key, 'mapping.rules.0.format')
    assert.equal(errorOf([{ filter: 'a', kafka_topic: 'wharf.retained' }]).key, 'mapping.rules.0.kafka_topic')
    assert.equal(load([{ filter: 'a', kafka_topic: 'k' }, { filter: 'b', kafka_topic: 'k', key: '{1}' }]).mapping.rules.length, 2)
  })
})
