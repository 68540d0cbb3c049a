import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { envOverrides, envSourceOf } from '../../src/config/env-overrides.js'
import { expectedPhrase, issueToConfigError, type ConfigError } from '../../src/config/errors.js'
import { listenersSchema, type ListenersConfig } from '../../src/config/listeners-schema.js'

/*
 * The `listeners` section on its own (src/config/listeners-schema.ts): defaults, EMQX's names and
 * the aliases, the rules between keys, environment overrides, and the listeners block of
 * config.example.yaml documenting every key.
 */

const EXAMPLE = fileURLToPath(new URL('../../config.example.yaml', import.meta.url))

/** Validates a `listeners` section as loadConfig would (same error wording, env sources named). */
function load (section: unknown, env: NodeJS.ProcessEnv = {}): ListenersConfig {
  const { tree, overrides } = envOverrides(env)
  const fromEnv = (tree.listeners ?? {}) as Record<string, unknown>
  const data = { ...(section as Record<string, unknown> ?? {}), ...fromEnv }
  const result = listenersSchema.safeParse(data, { error: expectedPhrase, reportInput: true })
  if (result.success) return result.data
  const issues = result.error.issues.map((i) => ({ ...i, path: ['listeners', ...i.path] }))
  throw issueToConfigError(issues, { listeners: data }, (path) => envSourceOf(overrides, path))
}

function loadError (section: unknown, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    load(section, env)
  } catch (err) {
    return err as ConfigError
  }
  assert.fail('expected a configuration error')
}

function leafPaths (value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix]
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix === '' ? k : `${prefix}.${k}`))
}

const SSL = { certfile: '/c.pem', keyfile: '/k.pem' }

describe('listeners schema', () => {
  it('defaults: tcp "default" on 0.0.0.0:1883, no ssl, ws or wss', () => {
    assert.deepEqual(load(undefined), {
      tcp: { default: { bind: '0.0.0.0:1883', enable: true, max_connections: 1000000, max_conn_rate: undefined, messages_rate: undefined, bytes_rate: undefined, proxy_protocol: false, proxy_protocol_timeout: 3000, tcp_options: { backlog: 1024 } } },
      ssl: {},
      ws: {},
      wss: {}
    })
  })

  it('"default" of each kind gets its usual port; other names need a bind', () => {
    const c = load({ ssl: { default: { ssl_options: SSL } }, ws: { default: {} }, wss: { default: { ssl_options: SSL } } })
    assert.equal(c.ssl.default?.bind, '0.0.0.0:8883')
    assert.equal(c.ws.default?.bind, '0.0.0.0:8083')
    assert.equal(c.wss.default?.bind, '0.0.0.0:8084')
    assert.equal(c.ws.default?.websocket.mqtt_path, '/mqtt')
    assert.deepEqual(c.ssl.default?.ssl_options.versions, ['tlsv1.2', 'tlsv1.3'])
    assert.equal(loadError({ ws: { second: {} } }).key, 'listeners.ws.second.bind')
  })

  it('accepts "enabled" for "enable" and "allowed_origins" for "check_origins", not both', () => {
    const c = load({ tcp: { default: { enabled: false } }, ws: { default: { websocket: { allowed_origins: ['HTTPS://App.Example.com/'] } } } })
    assert.equal(c.tcp.default?.enable, false)
    assert.equal('enabled' in (c.tcp.default ?? {}), false)
    assert.deepEqual(c.ws.default?.websocket.check_origins, ['https://app.example.com'])
    const both = loadError({ tcp: { default: { enabled: false, enable: true } } })
    assert.equal(both.message, 'invalid configuration: listeners.tcp.default.enabled: set enable or its alias enabled, not both')
  })

  it('reads durations in EMQX\'s form and as milliseconds', () => {
    assert.equal(load({ tcp: { default: { proxy_protocol_timeout: '5s' } } }).tcp.default?.proxy_protocol_timeout, 5000)
    assert.equal(load({ tcp: { default: { proxy_protocol_timeout: 750 } } }).tcp.default?.proxy_protocol_timeout, 750)
    assert.equal(load({ ssl: { default: { ssl_options: { ...SSL, handshake_timeout: '1m' } } } }).ssl.default?.ssl_options.handshake_timeout, 60000)
    assert.equal(loadError({ tcp: { default: { proxy_protocol_timeout: '3 days' } } }).key, 'listeners.tcp.default.proxy_protocol_timeout')
  })

  it('needs certfile and keyfile; verify_peer needs cacertfile; fail_if_no_peer_cert needs verify_peer', () => {
    assert.equal(loadError({ ssl: { default: { ssl_options: { certfile: '/c.pem' } } } }).message,
      'invalid configuration: listeners.ssl.default.ssl_options.keyfile: missing (expected a file path)')
    assert.equal(loadError({ wss: { default: {} } }).key, 'listeners.wss.default.ssl_options')
    assert.equal(loadError({ ssl: { default: { ssl_options: { ...SSL, verify: 'verify_peer' } } } }).message,
      'invalid configuration: listeners.ssl.default.ssl_options.cacertfile: missing (expected the CA that signs client certificates, when verify is verify_peer)')
    assert.equal(loadError({ ssl: { default: { ssl_options: { ...SSL, fail_if_no_peer_cert: true } } } }).key, 'listeners.ssl.default.ssl_options.fail_if_no_peer_cert')
    assert.equal(loadError({ ssl: { default: { ssl_options: { ...SSL, versions: ['tlsv1.1'] } } } }).key, 'listeners.ssl.default.ssl_options.versions.0')
    assert.equal(loadError({ ssl: { default: { ssl_options: { ...SSL, versions: [] } } } }).key, 'listeners.ssl.default.ssl_options.versions')
  })

  it('checks websocket values: path, header names, origins, trusted proxies', () => {
    assert.equal(loadError({ ws: { default: { websocket: { mqtt_path: 'mqtt' } } } }).key, 'listeners.ws.default.websocket.mqtt_path')
    assert.equal(loadError({ ws: { default: { websocket: { proxy_address_header: 'x forwarded' } } } }).key, 'listeners.ws.default.websocket.proxy_address_header')
    assert.equal(loadError({ ws: { default: { websocket: { check_origins: ['not an origin'] } } } }).key, 'listeners.ws.default.websocket.check_origins.0')
    assert.equal(loadError({ ws: { default: { websocket: { trusted_proxies: ['10.0.0.0/33'] } } } }).key, 'listeners.ws.default.websocket.trusted_proxies.0')
    const ws = load({ ws: { default: { websocket: { proxy_address_header: 'X-Real-IP', trusted_proxies: ['fd00::/8', '192.0.2.1'] } } } }).ws.default?.websocket
    assert.equal(ws?.proxy_address_header, 'x-real-ip')
    assert.deepEqual(ws?.trusted_proxies, ['fd00::/8', '192.0.2.1'])
  })
})

describe('listeners from environment variables', () => {
  it('WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__CERTFILE and friends open ssl default on 8883', () => {
    const c = load(undefined, {
      WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__CERTFILE: '/etc/wharf/certs/server.pem',
      WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__KEYFILE: '/etc/wharf/certs/server.key',
      WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERSIONS: 'tlsv1.3',
      WHARF_LISTENERS__SSL__DEFAULT__PROXY_PROTOCOL: 'true',
      WHARF_LISTENERS__WS__DEFAULT__ENABLE: 'true',
      WHARF_LISTENERS__WS__DEFAULT__WEBSOCKET__TRUSTED_PROXIES: '10.0.0.0/8, 192.168.0.0/16'
    })
    assert.deepEqual(c.ssl.default?.ssl_options, {
      certfile: '/etc/wharf/certs/server.pem',
      keyfile: '/etc/wharf/certs/server.key',
      verify: 'verify_none',
      fail_if_no_peer_cert: false,
      versions: ['tlsv1.3'],
      honor_cipher_order: true,
      handshake_timeout: 15000
    })
    assert.equal(c.ssl.default?.bind, '0.0.0.0:8883')
    assert.equal(c.ssl.default?.proxy_protocol, true)
    assert.equal(c.ws.default?.bind, '0.0.0.0:8083')
    assert.deepEqual(c.ws.default?.websocket.trusted_proxies, ['10.0.0.0/8', '192.168.0.0/16'])
    assert.deepEqual(Object.keys(c.tcp), ['default'])
  })

  it('a bad value names the key and the variable', () => {
    const err = loadError(undefined, { WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__CERTFILE: '/c.pem', WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__KEYFILE: '/k.pem', WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERIFY: 'verify_all' })
    assert.equal(err.message, 'invalid configuration: listeners.ssl.default.ssl_options.verify: expected one of verify_none, verify_peer, got "verify_all" (from WHARF_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERIFY)')
  })
})

describe('the listeners block of config.example.yaml', () => {
  const text = readFileSync(EXAMPLE, 'utf8')
  const listeners = (yaml: string): unknown => (parseYaml(yaml) as { listeners: unknown }).listeners

  it('as written, gives the defaults', () => {
    assert.deepEqual(load(listeners(text)), load(undefined))
  })

  it('documents every key: uncommented, it is valid and shows every key of the result', () => {
    // the same rule as config.example.yaml's test: "# key: value" lines are keys to uncomment
    const uncommented = listeners(text.replace(/^(\s*)# (\s*[a-z_]+:.*)$/gm, '$1$2'))
    const config = load(uncommented)
    assert.ok(config.ssl.default?.ssl_options.ciphers !== undefined && config.ws.default?.websocket.proxy_port_header !== undefined)
    assert.deepEqual(leafPaths(uncommented).sort(), leafPaths(config).sort())
    assert.deepEqual(Object.keys(config), ['tcp', 'ssl', 'ws', 'wss'])
  })
})
