import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../../src/config/index.js'

describe('mapping.schema_registry and avro rules in the configuration', () => {
  let dir = ''
  before(() => { dir = mkdtempSync(join(tmpdir(), 'wharf-registry-config-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  const load = (mapping: unknown): ReturnType<typeof loadConfig> => {
    const file = join(dir, 'c.yaml')
    writeFileSync(file, JSON.stringify({ mapping }))
    return loadConfig({ file, env: {} })
  }
  const keyOf = (mapping: unknown): string => {
    try {
      load(mapping)
    } catch (err) {
      if (err instanceof ConfigError) return err.key
      throw err
    }
    return 'valid'
  }

  it('is absent by default and takes a URL with defaults for the rest', () => {
    assert.equal(load({}).mapping.schema_registry, undefined)
    assert.equal(load({ schema_registry: null }).mapping.schema_registry, undefined)
    assert.deepEqual(load({ schema_registry: { url: 'https://sr.example:8081' } }).mapping.schema_registry, { url: 'https://sr.example:8081', request_timeout_ms: 10000 })
    assert.equal(load({ rules: [{ filter: 'd/#', kafka_topic: 'd', format: 'avro' }] }).mapping.rules[0]?.format, 'avro')
  })

  it('names the key of what is wrong', () => {
    assert.equal(keyOf({ schema_registry: { url: 'localhost:8081' } }), 'mapping.schema_registry.url')
    assert.equal(keyOf({ schema_registry: { url: 'ftp://sr' } }), 'mapping.schema_registry.url')
    assert.equal(keyOf({ schema_registry: {} }), 'mapping.schema_registry.url')
    assert.equal(keyOf({ schema_registry: { url: 'http://sr', username: 'u' } }), 'mapping.schema_registry.password')
    assert.equal(keyOf({ schema_registry: { url: 'http://sr', request_timeout_ms: 5 } }), 'mapping.schema_registry.request_timeout_ms')
    assert.equal(keyOf({ rules: [{ filter: 'd/#', kafka_topic: 'd', format: 'avro2' }] }), 'mapping.rules.0.format')
    assert.equal(keyOf({ rules: [{ filter: 'd/#', kafka_topic: 'mqtt.messages', format: 'avro' }] }), 'mapping.rules.0.format')
  })
})
