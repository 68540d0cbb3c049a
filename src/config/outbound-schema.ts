import { z } from 'zod'
import { durationMs, int } from './schema-parts.js'

/*
 * `mqtt.*` keys that bound what a node holds for one subscriber (its outbound side): EMQX's
 * `max_inflight` and `max_mqueue_len`, a byte bound on what waits in the client's socket, and how
 * long a client may stay over its bounds. Spread into the `mqtt` section of schema.ts.
 */

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }

/**
 * A size in bytes: a number, or EMQX's form ("64KB", "1MB", binary units); within [min, max].
 */
export function byteSize (min: number, max: number) {
  const error = `a size in bytes (a number, or e.g. "512KB", "1MB"), from ${min} to ${max}`
  return z.union([z.number(), z.string()], { error }).transform((v, ctx) => {
    const m = typeof v === 'number' ? [String(v), String(v), ''] : /^\s*(\d+)\s*(b|kb|mb|gb)?\s*$/i.exec(v)
    const bytes = m === null ? NaN : Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? NaN)
    if (!Number.isInteger(bytes) || bytes < min || bytes > max) {
      ctx.addIssue({ code: 'custom', message: error, input: v })
      return z.NEVER
    }
    return bytes
  })
}

/** The outbound bounds of each client, as keys of the `mqtt` section. */
export const outboundLimitsShape = {
  /** QoS 1/2 deliveries a client may have unacknowledged (EMQX's name and default) */
  max_inflight: int(1, 65535).default(32),
  /** QoS 1/2 messages of a clean session waiting for room in its window or socket (EMQX's name and default); 0 = none wait */
  max_mqueue_len: int(0, 1_000_000).default(1000),
  /** bytes waiting in a client's socket (and its queue) beyond which its deliveries wait or drop */
  max_client_buffer_bytes: byteSize(65536, 1024 ** 3).default(1024 * 1024),
  /** a client over its bounds this long is disconnected */
  slow_client_timeout: durationMs(1000, 3_600_000).default(60_000)
}
