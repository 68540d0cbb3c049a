import { hostname } from 'node:os'
import { z } from 'zod'
import { FORMATS } from '../mapping/codec.js'
import { crossRuleIssues } from '../mapping/mapping-rules.js'
import { keyTemplateError, mqttTopicTemplateError } from '../mapping/template.js'
import { isValidTopicFilter } from '../protocol/topic-filter.js'
import { STRATEGIES } from '../shared/strategies.js'
import { authenticationSchema, authorizationSchema, flappingDetectSchema } from './auth-schema.js'
import { tryParseHostPort } from './bind.js'
import { mqttInputLimits, overloadProtectionSchema, withMqttLimitAliases } from './limits-schema.js'
import { listenersSchema, peerCertAs } from './listeners-schema.js'
import { outboundLimitsShape } from './outbound-schema.js'
import { apiKeySchema, httpSchema, logFormat, prometheusSchema, sysTopicsSchema } from './ops-schema.js'
import { bool, int, nonEmptyString, oneOf, section } from './schema-parts.js'

/*
 * The configuration schema. Custom messages are "expected ..." phrases (the words after
 * "expected"); rule violations carry `params.expected` and read as a whole sentence.
 * Every section has defaults, so `{}` is a valid configuration.
 */

const BROKER = 'a Kafka broker address host:port'
const broker = z.string({ error: BROKER }).refine((s) => tryParseHostPort(s, false) !== undefined, { error: BROKER })
/** A list of brokers, or one comma-separated string of them. */
const brokers = z.preprocess(
  (v) => (typeof v === 'string' ? (v.trim() === '' ? [] : v.split(',').map((s) => s.trim())) : v),
  z.array(broker, { error: 'a list of host:port, or one comma-separated string of them' })
    .min(1, { error: 'at least one Kafka broker as host:port' })
)

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const NODE_NAME = 'a name of 1 to 200 characters without whitespace'
const node = section(z.strictObject({
  name: z.string({ error: NODE_NAME }).regex(/^\S{1,200}$/, { error: NODE_NAME }).default(() => `wharf@${hostname()}`),
  /** how V8 collects the young generation: auto = on the main thread alone up to 2 CPUs (node/young-gc.ts) */
  young_gc: oneOf(['auto', 'parallel', 'single_threaded']).default('auto')
}))

/** Clients without credentials get in (logged as a warning at start while true). */
const allowAnonymous = bool.default(true)

const log = section(z.strictObject({
  level: oneOf(LOG_LEVELS).default('info'),
  /** older name: no effect since `format` (auto = human lines on a terminal) */
  pretty: bool.default(false),
  format: logFormat
}))

const http = httpSchema

const mqtt = section(withMqttLimitAliases(z.strictObject({
  /** what one client may send (packet size, topic levels, QoS, subscriptions, QoS 2 awaiting PUBREL, idle time) */
  ...mqttInputLimits,
  /** longest user name accepted in CONNECT, in characters (a JWT in the user name field must fit) */
  max_username_length: int(1, 65535).default(1024),
  /** seconds a persistent session outlives its client's disconnect; 0 = never expires */
  session_expiry_interval: int(0).default(7200),
  /** QoS 1/2 messages a resuming session gets from its backlog at most; 0 = no limit */
  max_offline_messages: int(0).default(100000),
  session_checkpoint_interval_ms: int(100, 60000).default(1000),
  /** MQTT 5 Receive Maximum (advertised): QoS 1/2 PUBLISHes a client may have unacknowledged; one more ends the connection (3.1.1 clients too) */
  receive_maximum: int(1, 65535).default(1000),
  /** MQTT 5: topic aliases a client may use towards the server (Topic Alias Maximum); 0 = none */
  max_topic_alias: int(0, 65535).default(65535),
  /** MQTT 5: the Server Keep Alive imposed on clients asking more (or none), seconds; 0 = the client's own */
  server_keepalive: int(0, 65535).default(0),
  /** MQTT 5: a refusal (CONNACK, DISCONNECT) says why in a reason string */
  reason_strings: bool.default(false),
  /** MQTT 5 Response Information (EMQX's key): the prefix of response topics, sent with the client id to clients that ask; empty = not sent */
  response_information: z.string().default(''),
  /** a verified client certificate's cn, dn or md5 as the user name / client id (EMQX's keys; mutual TLS) */
  peer_cert_as_username: peerCertAs,
  peer_cert_as_clientid: peerCertAs,
  ...outboundLimitsShape
})))

const tls = section(z.strictObject({
  enabled: bool.default(false),
  ca_file: nonEmptyString.optional(),
  cert_file: nonEmptyString.optional(),
  key_file: nonEmptyString.optional(),
  reject_unauthorized: bool.default(true)
}))

const sasl = z.strictObject({
  mechanism: oneOf(['plain', 'scram-sha-256', 'scram-sha-512']),
  username: z.string(),
  password: z.string()
})

const producer = section(z.strictObject({
  linger_ms: int(0, 1000).default(2),
  batch_max_messages: int(1, 100000).default(2000),
  batch_max_bytes: int(1024, 67108864).default(1048576),
  max_pending_bytes: int(65536).default(67108864),
  compression: oneOf(['none', 'gzip']).default('none')
}))

const local = section(z.strictObject({
  dir: nonEmptyString.default('.wharf/kafka'),
  port: int(1, 65535).default(9092),
  nodes: z.literal([1, 3], { error: '1 or 3' }).default(1),
  heap_mb: int(128, 8192).default(512)
}))

const kafka = section(z.strictObject({
  brokers: brokers.optional(),
  client_id: nonEmptyString.default('wharf'),
  connection_timeout_ms: int(100).default(3000),
  request_timeout_ms: int(1000).default(30000),
  tls,
  sasl: sasl.optional(),
  producer,
  local
}))

const CLUSTER_TIMEOUT = 'greater than cluster.heartbeat_interval_ms'
const cluster = section(z.strictObject({
  heartbeat_interval_ms: int(100, 600000).default(2000),
  node_timeout_ms: int(500).default(10000),
  takeover_timeout_ms: int(100, 600000).default(5000)
}).superRefine((c, ctx) => {
  if (c.node_timeout_ms <= c.heartbeat_interval_ms) {
    ctx.addIssue({ code: 'custom', path: ['node_timeout_ms'], message: `must be ${CLUSTER_TIMEOUT}`, params: { expected: CLUSTER_TIMEOUT } })
  }
}))

const strategy = oneOf(STRATEGIES)
const GROUP_NAME = 'a shared-subscription group name: no "/", "+" or "#"'
const sharedSubscription = section(z.strictObject({
  /** how a node picks the local member of a group that gets a message */
  strategy: strategy.default('round_robin'),
  /** per-group override of `strategy` */
  group_strategy: z.record(z.string().regex(/^[^/+#]+$/, { error: GROUP_NAME }), strategy).default({}),
  /** a node that stops heartbeating its shared-subscription groups for this long loses their partitions (Kafka's group.min.session.timeout.ms is 6 s by default) */
  member_timeout_ms: int(6000, 300000).default(10000)
}))

const TOPIC_NAME = 'a Kafka topic name: 1 to 249 letters, digits, ".", "_" or "-", not "." or ".."'
const topicName = z.string({ error: TOPIC_NAME })
  .regex(/^[a-zA-Z0-9._-]{1,249}$/, { error: TOPIC_NAME })
  .refine((n) => n !== '.' && n !== '..', { error: TOPIC_NAME })

const REPLICATION = '-1 (the broker default) or an integer from 1 to 32'
const replicationFactor = z.int({ error: REPLICATION }).refine((n) => n === -1 || (n >= 1 && n <= 32), { error: REPLICATION })

const retentionMs = int(-1)

/** A topic spec whose every key has its own default, so a partial spec keeps the rest. */
function topic<R extends z.ZodType> (name: string, partitions: number, retention: R) {
  return section(z.strictObject({
    name: topicName.default(name),
    partitions: int(1, 10000).default(partitions),
    replication_factor: replicationFactor.default(-1),
    retention_ms: retention
  }))
}

const TOPIC_KEYS = ['messages', 'retained', 'sessions', 'nodes', 'users', 'banned', 'clients', 'api_keys'] as const
const topics = section(z.strictObject({
  messages: topic('mqtt.messages', 6, retentionMs.optional()),
  retained: topic('wharf.retained', 3, retentionMs.optional()),
  sessions: topic('wharf.sessions', 3, retentionMs.optional()),
  nodes: topic('wharf.nodes', 1, retentionMs.default(3600000)),
  users: topic('wharf.users', 1, retentionMs.optional()),
  banned: topic('wharf.banned', 1, retentionMs.optional()),
  /** presence: one record per client id (compacted) */
  clients: topic('wharf.clients', 3, retentionMs.optional()),
  /** the REST API's keys, hashed (compacted) */
  api_keys: topic('wharf.api-keys', 1, retentionMs.optional())
}).superRefine((t, ctx) => {
  const seen = new Map<string, string>()
  for (const key of TOPIC_KEYS) {
    const first = seen.get(t[key].name)
    if (first === undefined) {
      seen.set(t[key].name, key)
      continue
    }
    const other = `topics.${first}.name`
    ctx.addIssue({ code: 'custom', path: [key, 'name'], message: `must differ from ${other}`, params: { expected: `a name other than ${other}` } })
  }
}))

const FILTER = 'an MQTT topic filter ("+" and a last "#" as whole levels)'
const KEY_TEMPLATE = 'a key template of text, ${topic}, ${clientid}, ${username} and {N} (N-th topic level)'
const MQTT_TOPIC_TEMPLATE = 'an MQTT topic template of text and ${key}, without wildcards'

/** A template field: the message names what is wrong (e.g. the unknown placeholder). */
function template (check: (t: string) => string | undefined, expected: string) {
  return z.string({ error: expected }).superRefine((t, ctx) => {
    const problem = check(t)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${problem}; expected ${expected}`, params: { expected }, input: t })
  })
}

const mappingRule = z.strictObject({
  filter: z.string({ error: FILTER }).refine(isValidTopicFilter, { error: FILTER }),
  kafka_topic: topicName,
  key: template(keyTemplateError, KEY_TEMPLATE).default('${topic}'),
  format: oneOf(FORMATS).default('raw'),
  qos: z.literal([0, 1, 2], { error: '0, 1 or 2' }).default(0),
  mqtt_topic: template(mqttTopicTemplateError, MQTT_TOPIC_TEMPLATE).optional()
})

const REGISTRY_URL = 'an http:// or https:// URL of a Confluent-compatible schema registry'
const REGISTRY_AUTH = 'username and password together (HTTP basic authentication), or neither'
/** The schema registry of `avro` rules (mapping/registry-schemas.ts); absent = fingerprint header. */
const schemaRegistry = z.strictObject({
  url: z.string({ error: REGISTRY_URL }).refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { error: REGISTRY_URL }),
  username: z.string({ error: 'a string' }).optional(),
  password: z.string({ error: 'a string' }).optional(),
  request_timeout_ms: int(100, 600000).default(10000)
}).superRefine((r, ctx) => {
  if ((r.username === undefined) !== (r.password === undefined)) {
    const missing = r.username === undefined ? 'username' : 'password'
    ctx.addIssue({ code: 'custom', path: [missing], message: `needs ${REGISTRY_AUTH}`, params: { expected: REGISTRY_AUTH } })
  }
})

/** MQTT <-> Kafka mapping rules, first match wins (mapping/mapping.ts). */
const mapping = section(z.strictObject({
  rules: z.preprocess((v) => (v === null ? undefined : v), z.array(mappingRule, { error: 'a list of mapping rules' }).default([])),
  schema_registry: z.preprocess((v) => (v === null ? undefined : v), schemaRegistry.optional())
}))

/** The whole configuration file (YAML names). */
export const configSchema = z.strictObject({
  node,
  allow_anonymous: allowAnonymous,
  log,
  http,
  listeners: listenersSchema,
  mqtt,
  kafka,
  topics,
  cluster,
  shared_subscription: sharedSubscription,
  mapping,
  authentication: authenticationSchema,
  authorization: authorizationSchema,
  flapping_detect: flappingDetectSchema,
  api_key: apiKeySchema,
  prometheus: prometheusSchema,
  sys_topics: sysTopicsSchema,
  overload_protection: overloadProtectionSchema
}).superRefine((c, ctx) => {
  const internal = [c.topics.retained.name, c.topics.sessions.name, c.topics.nodes.name, c.topics.users.name, c.topics.banned.name, c.topics.clients.name, c.topics.api_keys.name]
  for (const issue of crossRuleIssues(c.mapping.rules, c.topics.messages.name, internal)) {
    ctx.addIssue({ code: 'custom', path: ['mapping', 'rules', issue.index, issue.field], message: issue.message, params: { expected: 'one format per Kafka topic, not one of Wharf\'s own topics' } })
  }
})

/** The validated configuration, defaults applied. */
export type WharfConfig = z.infer<typeof configSchema>
export type { TcpListenerConfig } from './listeners-schema.js'
export type TopicSpec = WharfConfig['topics']['messages']
