import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError, loadConfig } from '../../src/config/index.js'

/** The ConfigError a load must throw. */
function configError (env: Record<string, string>): ConfigError {
  try {
    loadConfig({ env })
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    return err
  }
  assert.fail('expected a ConfigError')
}

describe('configuration: the outbound bounds of a client (mqtt.max_inflight, max_mqueue_len, max_client_buffer_bytes, slow_client_timeout)', () => {
  it('defaults to EMQX\'s window and queue, 1 MiB and 60 s', () => {
    const { mqtt } = loadConfig({ env: {} })
    assert.deepEqual([mqtt.max_inflight, mqtt.max_mqueue_len, mqtt.max_client_buffer_bytes, mqtt.slow_client_timeout], [32, 1000, 1048576, 60000])
  })

  it('takes sizes as bytes or with KB / MB / GB (binary), and durations with ms / s / m / h', () => {
    const load = (size: string, timeout: string): [number, number] => {
      const { mqtt } = loadConfig({ env: { WHARF_MQTT__MAX_CLIENT_BUFFER_BYTES: size, WHARF_MQTT__SLOW_CLIENT_TIMEOUT: timeout } })
      return [mqtt.max_client_buffer_bytes, mqtt.slow_client_timeout]
    }
    assert.deepEqual(load('65536', '1000'), [65536, 1000])
    assert.deepEqual(load('512KB', '5s'), [524288, 5000])
    assert.deepEqual(load('2mb', '2m'), [2097152, 120000])
    assert.deepEqual(load('1 GB', '1h'), [1073741824, 3600000])
  })

  it('names the key and what it expects', () => {
    const small = configError({ WHARF_MQTT__MAX_CLIENT_BUFFER_BYTES: '1KB' })
    assert.equal(small.key, 'mqtt.max_client_buffer_bytes')
    assert.match(small.message, /expected a size in bytes \(a number, or e\.g\. "512KB", "1MB"\), from 65536 to 1073741824, got "1KB"/)
    assert.equal(configError({ WHARF_MQTT__MAX_CLIENT_BUFFER_BYTES: '1.5MB' }).key, 'mqtt.max_client_buffer_bytes')
    assert.equal(configError({ WHARF_MQTT__MAX_CLIENT_BUFFER_BYTES: 'lots' }).key, 'mqtt.max_client_buffer_bytes')
    assert.equal(configError({ WHARF_MQTT__SLOW_CLIENT_TIMEOUT: '0' }).key, 'mqtt.slow_client_timeout')
    assert.equal(configError({ WHARF_MQTT__SLOW_CLIENT_TIMEOUT: '2d' }).key, 'mqtt.slow_client_timeout')
    assert.equal(configError({ WHARF_MQTT__MAX_INFLIGHT: '0' }).message,
      'invalid configuration: mqtt.max_inflight: expected an integer from 1 to 65535, got 0 (from WHARF_MQTT__MAX_INFLIGHT)')
    assert.equal(configError({ WHARF_MQTT__MAX_MQUEUE_LEN: '-1' }).key, 'mqtt.max_mqueue_len')
  })
})
