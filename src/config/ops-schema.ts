import { z } from 'zod'
import { isHost } from './bind.js'
import { sslOptions } from './listeners-schema.js'
import { bool, durationMs, int, nonEmptyString, oneOf, section } from './schema-parts.js'

/*
 * What operators use to see and steer a node: the HTTP port (health, REST API, dashboard,
 * Prometheus), API keys, `$SYS` topics and the log format. EMQX's key names where EMQX has the
 * same setting (`api_key.bootstrap_file`, `prometheus.enable_basic_auth`, `sys_topics.*`).
 */

const HOST = 'a host name or IP address'

/** `http`: the node's HTTP port; `ssl_options` (the listeners' keys) makes it HTTPS. */
export const httpSchema = section(z.strictObject({
  bind: z.string({ error: HOST }).refine(isHost, { error: HOST }).default('0.0.0.0'),
  port: int(0, 65535).default(18083),
  /** HTTPS with these files (the same keys as `listeners.ssl.<name>.ssl_options`); absent = plain HTTP */
  ssl_options: z.preprocess((v) => (v === null ? undefined : v), sslOptions.optional()),
  /** the web dashboard at `/` (the REST API under /api/v1 is always there) */
  dashboard: bool.default(true)
}))

/** `api_key`: keys that exist without Kafka (EMQX's bootstrap file: `name:secret` per line). */
export const apiKeySchema = section(z.strictObject({
  bootstrap_file: nonEmptyString.optional()
}))

/** `prometheus`: whether `/metrics` asks for an API key like `/api` does (EMQX's key). */
export const prometheusSchema = section(z.strictObject({
  enable_basic_auth: bool.default(false)
}))

const DISABLED = 'disabled'
/** An EMQX interval: a duration, or `disabled` (then null). */
function intervalOrDisabled (minMs: number, maxMs: number) {
  const d = durationMs(minMs, maxMs)
  return z.union([z.literal(DISABLED), d], { error: `"disabled" or a duration from ${minMs} ms to ${maxMs} ms` })
    .transform((v) => (v === DISABLED ? null : v))
}

/**
 * `sys_topics` (EMQX's keys): `$SYS/brokers/<node>/...` published to this node's subscribers only,
 * never written to Kafka. `interval` is accepted for `sys_msg_interval` (the name the design brief
 * used); both given is an error naming `interval`.
 */
export const sysTopicsSchema = z.preprocess((v, ctx) => {
  if (typeof v !== 'object' || v === null || !('interval' in v)) return v
  const { interval, ...rest } = v as Record<string, unknown>
  if ('sys_msg_interval' in rest) {
    ctx.addIssue({ code: 'custom', path: ['interval'], message: 'set sys_msg_interval or its alias interval, not both', input: interval })
    return rest
  }
  return { ...rest, sys_msg_interval: interval }
}, section(z.strictObject({
  /** false: no `$SYS` message at all */
  enable: bool.default(true),
  /** version, sysdescr, `$SYS/brokers`, stats/*, metrics/* */
  sys_msg_interval: intervalOrDisabled(100, 86_400_000).default(60_000),
  /** uptime, datetime */
  sys_heartbeat_interval: intervalOrDisabled(100, 86_400_000).default(30_000),
  /** `$SYS/brokers/<node>/clients/<id>/<event>` */
  sys_event_messages: section(z.strictObject({
    client_connected: bool.default(true),
    client_disconnected: bool.default(true),
    client_subscribed: bool.default(false),
    client_unsubscribed: bool.default(false)
  }))
})))

/** `log.format`: human lines (`text`), JSON lines (`json`), or text on a terminal and JSON otherwise (`auto`). */
export const LOG_FORMATS = ['auto', 'text', 'json'] as const
export const logFormat = oneOf(LOG_FORMATS).default('auto')
