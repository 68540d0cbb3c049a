import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { ConfigError, loadConfig, parseBind, type WharfConfig } from '../../src/config/index.js'
import { envOverrides, parseEnvValue } from '../../src/config/env-overrides.js'

const EXAMPLE = fileURLToPath(new URL('../../config.example.yaml', import.meta.url))

let dir = ''
before(() => { dir = mkdtempSync(join(tmpdir(), 'wharf-config-')) })
after(() => { rmSync(dir, { recursive: true, force: true }) })

/** Writes a YAML file in the test's temp directory and returns its path. */
function yamlFile (name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

/** Runs `load` and returns the ConfigError it must throw. */
function configError (load: () => unknown): ConfigError {
  try {
    load()
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    return err
  }
  assert.fail('expected a ConfigError')
}

const DEFAULTS: WharfConfig = {
  node: { name: `wharf@${hostname()}`, young_gc: 'auto' },
  allow_anonymous: true,
  log: { level: 'info', pretty: false, format: 'auto' },
  http: { bind: '0.0.0.0', port: 18083, dashboard: true },
  listeners: { tcp: { default: { bind: '0.0.0.0:1883', enable: true, max_connections: 1000000, max_conn_rate: undefined, messages_rate: undefined, bytes_rate: undefined, proxy_protocol: false, proxy_protocol_timeout: 3000, tcp_options: { backlog: 1024 } } }, ssl: {}, ws: {}, wss: {} },
  mqtt: {
    max_packet_size: 1048576,
    max_clientid_len: 256,
    max_topic_levels: 100,
    max_qos_allowed: 2,
    max_subscriptions: Infinity,
    max_awaiting_rel: 100,
    await_rel_timeout: 300000,
    idle_timeout: 15000,
    max_username_length: 1024,
    session_expiry_interval: 7200,
    max_offline_messages: 100000,
    session_checkpoint_interval_ms: 1000,
    receive_maximum: 1000,
    max_topic_alias: 65535,
    server_keepalive: 0,
    reason_strings: false,
    response_information: '',
    peer_cert_as_username: 'disabled',
    peer_cert_as_clientid: 'disabled',
    max_inflight: 32,
    max_mqueue_len: 1000,
    max_client_buffer_bytes: 1048576,
    slow_client_timeout: 60000
  },
  kafka: {
    client_id: 'wharf',
    connection_timeout_ms: 3000,
    request_timeout_ms: 30000,
    tls: { enabled: false, reject_unauthorized: true },
    producer: { linger_ms: 2, batch_max_messages: 2000, batch_max_bytes: 1048576, max_pending_bytes: 67108864, compression: 'none' },
    local: { dir: '.wharf/kafka', port: 9092, nodes: 1, heap_mb: 512 }
  },
  topics: {
    messages: { name: 'mqtt.messages', partitions: 6, replication_factor: -1 },
    retained: { name: 'wharf.retained', partitions: 3, replication_factor: -1 },
    sessions: { name: 'wharf.sessions', partitions: 3, replication_factor: -1 },
    nodes: { name: 'wharf.nodes', partitions: 1, replication_factor: -1, retention_ms: 3600000 },
    users: { name: 'wharf.users', partitions: 1, replication_factor: -1 },
    banned: { name: 'wharf.banned', partitions: 1, replication_factor: -1 },
    clients: { name: 'wharf.clients', partitions: 3, replication_factor: -1 },
    api_keys: { name: 'wharf.api-keys', partitions: 1, replication_factor: -1 }
  },
  cluster: { heartbeat_interval_ms: 2000, node_timeout_ms: 10000, takeover_timeout_ms: 5000 },
  shared_subscription: { strategy: 'round_robin', group_strategy: {}, member_timeout_ms: 10000 },
  mapping: { rules: [] },
  authentication: {
    chain: [],
    password_hash_algorithm: { name: 'pbkdf2', mac_fun: 'sha256', iterations: 27500, dk_length: 32 },
    jwt: { from: 'password', algorithm: 'hmac-based', secret_base64_encoded: false, use_jwks: false, refresh_interval: 300000, verify_claims: {}, acl_claim_name: 'acl', disconnect_after_expire: true, leeway: 5000 },
    http: { headers: {}, request_timeout: 5000, cache: { enable: true, ttl: 60000, max_size: 100000 } },
    scram: { enable: false, algorithm: ['sha256', 'sha512'], iteration_count: 4096 }
  },
  authorization: { no_match: 'allow', deny_action: 'ignore', cache: { enable: true, max_size: 32, ttl: 60000 } },
  flapping_detect: { enable: true, max_count: 15, window_time: 60000, ban_time: 300000 },
  api_key: {},
  prometheus: { enable_basic_auth: false },
  sys_topics: {
    enable: true,
    sys_msg_interval: 60000,
    sys_heartbeat_interval: 30000,
    sys_event_messages: { client_connected: true, client_disconnected: true, client_subscribed: false, client_unsubscribed: false }
  },
  overload_protection: {
    enable: true,
    backoff_new_conn: true,
    backoff_publish: true,
    heap_high_watermark: '90%',
    heap_low_watermark: '80%',
    rss_high_watermark: '90%',
    rss_low_watermark: '80%',
    kafka_pending_high_watermark: '90%',
    kafka_pending_low_watermark: '50%',
    kafka_ack_timeout: 10000,
    check_interval: 1000
  }
}

/** Every leaf key path (lists are leaves). */
function leafPaths (value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix]
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix === '' ? k : `${prefix}.${k}`))
}

describe('loadConfig', () => {
  it('gives the defaults with no file and no env', () => {
    assert.deepEqual(loadConfig({ env: {} }), DEFAULTS)
  })

  it('reads a YAML file; partial sections keep their other defaults', () => {
    const file = yamlFile('partial.yaml', [
      'node: { name: edge-1 }',
      'kafka:',
      '  brokers: [k1:9092, "[::1]:9093"]',
      '  producer: { linger_ms: 10 }',
      'topics:',
      '  messages: { partitions: 12 }',
      'listeners:',
      '  tcp:',
      '    public: { bind: 8883, max_connections: 10 }'
    ].join('\n'))
    const config = loadConfig({ file, env: {} })
    assert.equal(config.node.name, 'edge-1')
    assert.deepEqual(config.kafka.brokers, ['k1:9092', '[::1]:9093'])
    assert.deepEqual(config.kafka.producer, { ...DEFAULTS.kafka.producer, linger_ms: 10 })
    assert.deepEqual(config.topics.messages, { name: 'mqtt.messages', partitions: 12, replication_factor: -1 })
    assert.deepEqual(config.topics.nodes, DEFAULTS.topics.nodes)
    // a given map replaces the default listeners; a bare number is a port
    assert.deepEqual(config.listeners.tcp, { public: { bind: '8883', enable: true, max_connections: 10, max_conn_rate: undefined, messages_rate: undefined, bytes_rate: undefined, proxy_protocol: false, proxy_protocol_timeout: 3000, tcp_options: { backlog: 1024 } } })
  })

  it('takes the file from WHARF_CONFIG; an empty file or empty section means defaults', () => {
    assert.deepEqual(loadConfig({ env: { WHARF_CONFIG: yamlFile('empty.yaml', '') } }), DEFAULTS)
    assert.deepEqual(loadConfig({ env: {}, file: yamlFile('sections.yaml', 'node:\nkafka:\n  tls:\n') }), DEFAULTS)
  })

  it('applies env overrides: nested keys, listener names, YAML scalars, comma-separated brokers', () => {
    const config = loadConfig({
      env: {
        WHARF_ALLOW_ANONYMOUS: 'true',
        WHARF_LOG__PRETTY: 'true',
        WHARF_HTTP__PORT: '0',
        WHARF_KAFKA__PRODUCER__LINGER_MS: '5',
        WHARF_KAFKA__BROKERS: ' kafka-1:9092, kafka-2:9092 ',
        WHARF_LISTENERS__TCP__DEFAULT__BIND: '127.0.0.1:1884',
        WHARF_TOPICS__NODES__PARTITIONS: '2',
        PATH: '/usr/bin'
      }
    })
    assert.equal(config.log.pretty, true)
    assert.equal(config.http.port, 0)
    assert.equal(config.kafka.producer.linger_ms, 5)
    assert.deepEqual(config.kafka.brokers, ['kafka-1:9092', 'kafka-2:9092'])
    assert.deepEqual(config.listeners.tcp, { default: { bind: '127.0.0.1:1884', enable: true, max_connections: 1000000, max_conn_rate: undefined, messages_rate: undefined, bytes_rate: undefined, proxy_protocol: false, proxy_protocol_timeout: 3000, tcp_options: { backlog: 1024 } } })
    assert.deepEqual(config.topics.nodes, { ...DEFAULTS.topics.nodes, partitions: 2 })
  })

  it('keeps the text of an env value where a string is expected', () => {
    const config = loadConfig({
      env: {
        WHARF_NODE__NAME: '42',
        WHARF_KAFKA__SASL__MECHANISM: 'plain',
        WHARF_KAFKA__SASL__USERNAME: 'true',
        WHARF_KAFKA__SASL__PASSWORD: '0x1F'
      }
    })
    assert.equal(config.node.name, '42')
    assert.deepEqual(config.kafka.sasl, { mechanism: 'plain', username: 'true', password: '0x1F' })
  })

  it('lets env win over the file, key by key', () => {
    const file = yamlFile('both.yaml', 'log: { level: debug, pretty: true }\nkafka: { brokers: "a:1" }\n')
    const config = loadConfig({ file, env: { WHARF_LOG__LEVEL: 'warn', WHARF_KAFKA__BROKERS: 'b:2,c:3' } })
    assert.deepEqual(config.log, { level: 'warn', pretty: true, format: 'auto' })
    assert.deepEqual(config.kafka.brokers, ['b:2', 'c:3'])
  })

  it('names the full path of an unknown key', () => {
    const file = yamlFile('typo.yaml', 'listeners:\n  tcp:\n    default:\n      bnd: 0.0.0.0:1883\n')
    const err = configError(() => loadConfig({ file, env: {} }))
    assert.equal(err.key, 'listeners.tcp.default.bnd')
    assert.equal(err.message, 'invalid configuration: listeners.tcp.default.bnd: unknown key')
    const fromEnv = configError(() => loadConfig({ env: { WHARF_KAFKA__LINGER_MS: '1' } }))
    assert.equal(fromEnv.message, 'invalid configuration: kafka.linger_ms: unknown key (from WHARF_KAFKA__LINGER_MS)')
  })

  it('names the key, the expectation and the env var of a wrong value', () => {
    const err = configError(() => loadConfig({ env: { WHARF_KAFKA__PRODUCER__LINGER_MS: 'abc' } }))
    assert.equal(err.key, 'kafka.producer.linger_ms')
    assert.equal(err.expected, 'an integer from 0 to 1000')
    assert.equal(err.message,
      'invalid configuration: kafka.producer.linger_ms: expected an integer from 0 to 1000, got "abc" (from WHARF_KAFKA__PRODUCER__LINGER_MS)')
    const low = yamlFile('low.yaml', 'mqtt: { max_username_length: 0 }\n')
    assert.equal(configError(() => loadConfig({ file: low, env: {} })).message,
      'invalid configuration: mqtt.max_username_length: expected an integer from 1 to 65535, got 0')
    const yes = yamlFile('yes.yaml', 'log: { pretty: yes }\n')
    assert.equal(configError(() => loadConfig({ file: yes, env: {} })).message,
      'invalid configuration: log.pretty: expected true or false, got "yes"')
    assert.equal(configError(() => loadConfig({ env: { WHARF_KAFKA: 'x' } })).message,
      'invalid configuration: kafka: expected a mapping, got "x" (from WHARF_KAFKA)')
  })

  it('rejects bad bind addresses and broker lists', () => {
    for (const bind of ['1.2.3.4:65536', 'host', ':1883', '::1:1883', 'a b:1', '[nope]:1']) {
      const err = configError(() => loadConfig({ env: { WHARF_LISTENERS__TCP__DEFAULT__BIND: bind } }))
      assert.equal(err.key, 'listeners.tcp.default.bind', bind)
      assert.match(err.message, /expected host:port, \[ipv6\]:port or port/)
    }
    assert.equal(configError(() => loadConfig({ env: { WHARF_KAFKA__BROKERS: 'a:1,,b:2' } })).message,
      'invalid configuration: kafka.brokers.1: expected a Kafka broker address host:port, got "" (from WHARF_KAFKA__BROKERS)')
    assert.equal(configError(() => loadConfig({ env: { WHARF_KAFKA__BROKERS: '' } })).key, 'kafka.brokers')
    assert.equal(configError(() => loadConfig({ env: {}, file: yamlFile('nobrokers.yaml', 'kafka: { brokers: [] }') })).key, 'kafka.brokers')
  })

  it('requires a bind for listeners other than "default" and a valid listener name', () => {
    const err = configError(() => loadConfig({ env: { WHARF_LISTENERS__TCP__EXTRA__ENABLED: 'true' } }))
    assert.equal(err.message, 'invalid configuration: listeners.tcp.extra.bind: missing (expected host:port, [ipv6]:port or port, with port 0 to 65535)')
    const file = yamlFile('name.yaml', 'listeners: { tcp: { Public: { bind: 1883 } } }')
    assert.equal(configError(() => loadConfig({ file, env: {} })).key, 'listeners.tcp.Public')
  })

  it('rejects a value outside an enum', () => {
    const err = configError(() => loadConfig({ env: { WHARF_LOG__LEVEL: 'loud' } }))
    assert.equal(err.message,
      'invalid configuration: log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud" (from WHARF_LOG__LEVEL)')
    assert.equal(configError(() => loadConfig({ env: { WHARF_KAFKA__LOCAL__NODES: '2' } })).expected, '1 or 3')
    assert.equal(configError(() => loadConfig({ env: { WHARF_KAFKA__SASL__MECHANISM: 'md5' } })).key, 'kafka.sasl.mechanism')
  })

  it('never shows the value of a secret key in a message', () => {
    const file = yamlFile('secrets.yaml', 'authentication: { jwt: { secret: 987654321 } }\nkafka: { sasl: { mechanism: plain, username: u, password: 12345 } }\n')
    const err = configError(() => loadConfig({ file, env: {} }))
    assert.doesNotMatch(err.message, /12345|987654321/)
    assert.match(err.message, /got a value not shown here \(a secret\)/)
    const pepper = configError(() => loadConfig({ env: { WHARF_AUTHENTICATION__PASSWORD_HASH_SALT: '' } }))
    assert.equal(pepper.message, 'invalid configuration: authentication.password_hash_salt: expected a non-empty string, got a value not shown here (a secret) (from WHARF_AUTHENTICATION__PASSWORD_HASH_SALT)')
  })

  it('needs all of kafka.sasl', () => {
    const err = configError(() => loadConfig({ env: { WHARF_KAFKA__SASL__MECHANISM: 'plain', WHARF_KAFKA__SASL__USERNAME: 'u' } }))
    assert.equal(err.message, 'invalid configuration: kafka.sasl.password: missing (expected a string)')
  })

  it('takes allow_anonymous: false, the auth sections and a comma-separated chain from the environment', () => {
    const config = loadConfig({ env: { WHARF_ALLOW_ANONYMOUS: 'false', WHARF_AUTHENTICATION__CHAIN: 'built_in_database, jwt', WHARF_AUTHENTICATION__JWT__SECRET: 's', WHARF_AUTHORIZATION__DENY_ACTION: 'disconnect' } })
    assert.equal(config.allow_anonymous, false)
    assert.deepEqual(config.authentication.chain, ['built_in_database', 'jwt'])
    assert.equal(config.authorization.deny_action, 'disconnect')
    assert.equal(configError(() => loadConfig({ env: { WHARF_AUTHENTICATION__CHAIN: 'built_in_database,ldap' } })).key, 'authentication.chain.1')
    assert.equal(configError(() => loadConfig({ env: { WHARF_MQTT__MAX_USERNAME_LENGTH: '0' } })).key, 'mqtt.max_username_length')
  })

  it('checks topic specs and that topic names differ', () => {
    const err = configError(() => loadConfig({ env: { WHARF_TOPICS__RETAINED__NAME: 'mqtt.messages' } }))
    assert.equal(err.message, 'invalid configuration: topics.retained.name: must differ from topics.messages.name (from WHARF_TOPICS__RETAINED__NAME)')
    assert.equal(configError(() => loadConfig({ env: { WHARF_TOPICS__NODES__NAME: '..' } })).key, 'topics.nodes.name')
    assert.equal(configError(() => loadConfig({ env: { WHARF_TOPICS__NODES__NAME: 'a/b' } })).key, 'topics.nodes.name')
    assert.equal(configError(() => loadConfig({ env: { WHARF_TOPICS__MESSAGES__REPLICATION_FACTOR: '0' } })).key, 'topics.messages.replication_factor')
    assert.equal(loadConfig({ env: { WHARF_TOPICS__MESSAGES__REPLICATION_FACTOR: '3' } }).topics.messages.replication_factor, 3)
    assert.equal(configError(() => loadConfig({ env: { WHARF_TOPICS__BANNED__NAME: 'wharf.users' } })).message,
      'invalid configuration: topics.banned.name: must differ from topics.users.name (from WHARF_TOPICS__BANNED__NAME)')
    const rule = yamlFile('users-rule.yaml', 'mapping: { rules: [{ filter: "a/#", kafka_topic: wharf.users }] }\n')
    assert.equal(configError(() => loadConfig({ file: rule, env: {} })).key, 'mapping.rules.0.kafka_topic')
  })

  it('checks node.name', () => {
    assert.equal(configError(() => loadConfig({ env: { WHARF_NODE__NAME: 'a b' } })).key, 'node.name')
    assert.equal(configError(() => loadConfig({ env: { WHARF_NODE__NAME: 'x'.repeat(201) } })).key, 'node.name')
  })

  it('reports a missing file, a directory and bad YAML on key "config"', () => {
    const missing = join(dir, 'nope.yaml')
    const err = configError(() => loadConfig({ file: missing, env: {} }))
    assert.equal(err.key, 'config')
    assert.equal(err.message, `invalid configuration: config: cannot read ${missing}: no such file`)
    assert.match(configError(() => loadConfig({ env: { WHARF_CONFIG: missing } })).message, /\(from WHARF_CONFIG\)$/)
    assert.equal(configError(() => loadConfig({ file: dir, env: {} })).key, 'config')
    const bad = configError(() => loadConfig({ file: yamlFile('bad.yaml', 'log:\n  level: info\n  level: debug\n'), env: {} }))
    assert.equal(bad.key, 'config')
    assert.match(bad.message, /bad\.yaml is not valid YAML: .* at line 3, column 3$/)
    assert.doesNotMatch(bad.message, /\n/)
    assert.equal(configError(() => loadConfig({ file: yamlFile('list.yaml', '- a\n'), env: {} })).key, 'config')
  })
})

describe('config.example.yaml', () => {
  it('loads to exactly the defaults', () => {
    assert.deepEqual(loadConfig({ file: EXAMPLE, env: {} }), loadConfig({ env: {} }))
  })

  it('documents every key: uncommented, it is valid and shows every key of the result', () => {
    const text = readFileSync(EXAMPLE, 'utf8').replace(/^(\s*)# (\s*[a-z_]+:.*)$/gm, '$1$2')
    const config = loadConfig({ file: yamlFile('uncommented.yaml', text), env: {} })
    assert.ok(config.kafka.sasl !== undefined && config.kafka.brokers !== undefined && config.kafka.tls.ca_file !== undefined)
    // the keys as written (no defaults) are all the keys of the result
    assert.deepEqual(leafPaths(parseYaml(text)).sort(), leafPaths(config).sort())
  })
})

describe('envOverrides', () => {
  it('nests WHARF_ variables by "__", lowercases keys, skips WHARF_CONFIG and others', () => {
    const { tree, overrides } = envOverrides({
      WHARF_CONFIG: 'x.yaml',
      WHARF_KAFKA_VERSION: '4.1.1',
      WHARF_LOG_LEVEL: 'debug',
      WHARF_ALLOW_ANONYMOUS: 'true',
      WHARF_KAFKA__PRODUCER__LINGER_MS: '7',
      WHARF_LISTENERS__TCP__DEFAULT__BIND: '0.0.0.0:1883',
      HOME: '/root'
    })
    assert.deepEqual(tree, {
      allow_anonymous: true,
      kafka: { producer: { linger_ms: 7 } },
      listeners: { tcp: { default: { bind: '0.0.0.0:1883' } } }
    })
    assert.deepEqual(overrides.map((o) => o.variable).sort(), ['WHARF_ALLOW_ANONYMOUS', 'WHARF_KAFKA__PRODUCER__LINGER_MS', 'WHARF_LISTENERS__TCP__DEFAULT__BIND'])
  })

  it('reports a value set both as a value and as a section, and empty levels', () => {
    assert.equal(configError(() => envOverrides({ WHARF_KAFKA: 'x', WHARF_KAFKA__CLIENT_ID: 'y' })).key, 'kafka')
    assert.equal(configError(() => envOverrides({ WHARF_KAFKA____CLIENT_ID: 'y' })).key, 'WHARF_KAFKA____CLIENT_ID')
  })

  it('reads values as YAML scalars, else keeps the text', () => {
    assert.equal(parseEnvValue('true'), true)
    assert.equal(parseEnvValue('18083'), 18083)
    assert.equal(parseEnvValue('-1'), -1)
    assert.equal(parseEnvValue('null'), null)
    assert.equal(parseEnvValue('"123"'), '123')
    assert.equal(parseEnvValue(''), '')
    for (const text of ['0.0.0.0:1883', 'a:1,b:2', '[a, b]', 'k: v', 'pa #ss', '@x', '%x', '#x', 'yes']) {
      assert.equal(parseEnvValue(text), text)
    }
  })
})

describe('parseBind', () => {
  it('parses host:port, [ipv6]:port and port', () => {
    assert.deepEqual(parseBind('127.0.0.1:1883'), { host: '127.0.0.1', port: 1883 })
    assert.deepEqual(parseBind('broker.local:0'), { host: 'broker.local', port: 0 })
    assert.deepEqual(parseBind('[::]:8883'), { host: '::', port: 8883 })
    assert.deepEqual(parseBind('1883'), { host: '0.0.0.0', port: 1883 })
  })

  it('throws on anything else', () => {
    for (const bind of ['', 'host', 'host:', ':1', 'h:70000', 'h:-1', '::1:1883', '[::1]', '[x]:1', '1.5']) {
      assert.throws(() => parseBind(bind), /invalid bind address/, bind)
    }
  })
})
