import { z } from 'zod'
import { parseByteSize, parseRate } from '../limits/rate.js'
import { parseWatermark, type Watermark } from '../limits/overload-monitor.js'
import { bool, durationMs, int, section, withAlias } from './schema-parts.js'

/*
 * The value shapes of limits (EMQX's forms: "1000/s", "1MB/s", "1MB", "85%", "infinity") and the
 * `overload_protection` section. The mqtt.* limits themselves are in schema.ts' mqtt section, the
 * per-listener rates in listeners-schema.ts.
 */

const RATE = 'a rate such as "1000/s", "100/10s" or "6000/m", or "infinity"'
const BYTE_RATE = 'a rate such as "1MB/s", "512KB/s" or "1000/s" (bytes), or "infinity"'

/**
 * A rate or "infinity", as tokens per second (undefined: no limit). `sizes`: the amount may be a
 * byte size ("1MB/s").
 */
export function rate (sizes: boolean) {
  const error = sizes ? BYTE_RATE : RATE
  return z.union([z.number(), z.string()], { error }).transform((v, ctx): number | undefined => {
    try {
      return parseRate(v, sizes)?.perSecond
    } catch {
      ctx.addIssue({ code: 'custom', message: error, input: v })
      return z.NEVER
    }
  })
}

/** A byte size in [min, max]: an integer or EMQX's "1MB", "512KB". */
export function byteSize (min: number, max: number) {
  const error = `a size in bytes (e.g. 1048576 or "1MB") from ${min} to ${max}`
  return z.union([z.number(), z.string()], { error }).transform((v, ctx) => {
    const n = parseByteSize(v)
    if (n === undefined || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: error, input: v })
      return z.NEVER
    }
    return n
  })
}

/** An integer >= min, or "infinity" (Infinity). */
export function countOrInfinity (min: number) {
  const error = `an integer >= ${min}, or "infinity"`
  return z.union([z.int(), z.literal('infinity')], { error }).transform((v, ctx) => {
    if (v === 'infinity') return Infinity
    if (v < min) {
      ctx.addIssue({ code: 'custom', message: error, input: v })
      return z.NEVER
    }
    return v
  })
}

const WATERMARK = 'a share such as "85%", a size in bytes such as "2GB", or "off"'
/** A watermark as written: a percentage of a whole ("85%"), bytes ("2GB", 2147483648), or "off" (read with parseWatermark). */
const watermark = z.union([z.number(), z.string()], { error: WATERMARK })
  .refine(v => parseWatermark(v) !== null, { error: WATERMARK })

const LOW_ABOVE_HIGH = 'a low watermark of the same kind (% or bytes) at or below the high one'

/**
 * `overload_protection` (EMQX's section and its `enable`, `backoff_new_conn`; the watermarks are
 * Wharf's): when heap, RSS or the bytes waiting for Kafka reach a high watermark, or Kafka has
 * acknowledged nothing for `kafka_ack_timeout` while records wait, the node refuses new CONNECTs
 * (0x03) and stops reading publishers, until every value is below its low watermark again.
 * Percentages are of V8's heap limit, of the memory the process may use (cgroup limit, else the
 * machine's) and of `kafka.producer.max_pending_bytes`.
 */
export const overloadProtectionSchema = section(z.strictObject({
  enable: bool.default(true),
  backoff_new_conn: bool.default(true),
  backoff_publish: bool.default(true),
  heap_high_watermark: watermark.default('90%'),
  heap_low_watermark: watermark.default('80%'),
  rss_high_watermark: watermark.default('90%'),
  rss_low_watermark: watermark.default('80%'),
  kafka_pending_high_watermark: watermark.default('90%'),
  kafka_pending_low_watermark: watermark.default('50%'),
  kafka_ack_timeout: durationMs(100, 3_600_000).default(10_000),
  check_interval: durationMs(10, 60_000).default(1000)
}).superRefine((o, ctx) => {
  for (const what of ['heap', 'rss', 'kafka_pending'] as const) {
    const high = parseWatermark(o[`${what}_high_watermark`])
    const low = parseWatermark(o[`${what}_low_watermark`])
    if (high === undefined || high === null || low === undefined || low === null) continue
    const sameKind = ('percent' in high) === ('percent' in low)
    const value = (w: NonNullable<Watermark>): number => 'percent' in w ? w.percent : w.bytes
    if (!sameKind || value(low) > value(high)) {
      ctx.addIssue({ code: 'custom', path: [`${what}_low_watermark`], message: `must be ${LOW_ABOVE_HIGH}`, params: { expected: LOW_ABOVE_HIGH } })
    }
  }
}))

/**
 * The `mqtt.*` limits on what one client sends (spread into the mqtt section). EMQX's names; the
 * older Wharf names are aliases (`withMqttLimitAliases`).
 */
export const mqttInputLimits = {
  /** remaining length of any packet; a larger one closes the connection before its body is read */
  max_packet_size: byteSize(64, 268_435_455).default(1_048_576),
  /** longest client id accepted in CONNECT, in characters (alias: max_client_id_length) */
  max_clientid_len: int(1, 65535).default(256),
  /** levels of a topic name or filter; aedes' matcher allows 100 at most */
  max_topic_levels: int(1, 100).default(100),
  /** a PUBLISH above it closes the connection; a SUBSCRIBE is granted at most this QoS */
  max_qos_allowed: z.literal([0, 1, 2], { error: '0, 1 or 2' }).default(2),
  /** subscriptions per client; more are refused (SUBACK 0x80) */
  max_subscriptions: countOrInfinity(1).prefault('infinity'),
  /** inbound QoS 2 PUBLISHes waiting for their PUBREL per client; one more closes the connection (alias: max_inflight_inbound) */
  max_awaiting_rel: countOrInfinity(1).default(100),
  /** an inbound QoS 2 PUBLISH whose PUBREL does not come within this is forgotten */
  await_rel_timeout: durationMs(1000, 86_400_000).default(300_000),
  /** a connection that sends no CONNECT within this is closed (alias: connect_timeout_ms) */
  idle_timeout: durationMs(1000, 3_600_000).default(15_000)
}

/** Wharf's earlier names of EMQX's keys, accepted as aliases (both given is an error). */
export function withMqttLimitAliases<T extends z.ZodType> (schema: T): T {
  return withAlias(withAlias(withAlias(schema, 'max_client_id_length', 'max_clientid_len'), 'max_inflight_inbound', 'max_awaiting_rel'), 'connect_timeout_ms', 'idle_timeout')
}
