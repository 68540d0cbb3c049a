import { z } from 'zod'
import { tryParseHostPort } from './bind.js'

/*
 * Building blocks shared by the configuration schemas (schema.ts and the sections in their own
 * files, such as listeners-schema.ts). Custom messages are "expected ..." phrases (the words after
 * "expected"); rule violations carry `params.expected` and read as a whole sentence.
 */

/** An integer in [min, max] (or >= min), with one readable message for every failure. */
export function int (min: number, max?: number) {
  const error = max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`
  const atLeast = z.int({ error }).min(min, { error })
  return max === undefined ? atLeast : atLeast.max(max, { error })
}

/** One of a fixed set of words. */
export function oneOf<const T extends readonly [string, ...string[]]> (values: T) {
  return z.enum(values, { error: `one of ${values.join(', ')}` })
}

/**
 * A section: a mapping whose keys all have defaults. Absent or empty (YAML `node:` with every
 * child commented out is null) means all defaults.
 */
export function section<T extends z.ZodType<unknown, object>> (schema: T) {
  return z.preprocess((v) => (v === null ? undefined : v), schema.prefault({} as z.input<T>))
}

export const bool = z.boolean({ error: 'true or false' })
export const nonEmptyString = z.string({ error: 'a non-empty string' }).min(1, { error: 'a non-empty string' })

export const BIND = 'host:port, [ipv6]:port or port, with port 0 to 65535'
/** A listener address, kept as text (use `parseBind`); a bare YAML number is a port. */
export const bindAddress = z.preprocess(
  (v) => (typeof v === 'number' && Number.isInteger(v) ? String(v) : v),
  z.string({ error: BIND }).refine((s) => tryParseHostPort(s, true) !== undefined, { error: BIND })
)

/** The listener names allowed under `listeners.<kind>`. */
export const LISTENER_NAME_PATTERN = /^[a-z0-9_-]+$/
export const LISTENER_NAME = 'a listener name of lowercase letters, digits, "_" and "-"'

/**
 * A list of `item` (at least `min` of them), or one comma-separated string of them: the form an
 * environment variable gives.
 */
export function listOrCommaString<T extends z.ZodType> (item: T, error: string, min = 0) {
  return z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? [] : v.split(',').map((s) => s.trim())) : v),
    z.array(item, { error }).min(min, { error })
  )
}

const DURATION = 'a duration: milliseconds, or a number with ms, s, m or h (e.g. "3s")'
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
/**
 * A duration in EMQX's form ("3s", "500ms", "1m") or a number of milliseconds; the result is in
 * milliseconds, within [minMs, maxMs].
 */
export function durationMs (minMs: number, maxMs: number) {
  const error = `${DURATION}, from ${minMs} ms to ${maxMs} ms`
  return z.union([z.number(), z.string()], { error }).transform((v, ctx) => {
    const m = typeof v === 'number' ? [String(v), String(v), 'ms'] : /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(v)
    const ms = m === null ? NaN : Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? NaN)
    if (!Number.isInteger(ms) || ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: error, input: v })
      return z.NEVER
    }
    return ms
  })
}

function isMapping (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Accepts `alias` as another name of `key` (the older or other product's spelling): renamed
 * before validation, so the result only has `key`. Both given is an error naming the alias.
 * Typed as `schema` itself: the renaming changes no types.
 */
export function withAlias<T extends z.ZodType> (schema: T, alias: string, key: string): T {
  return z.preprocess((value, ctx) => {
    if (!isMapping(value) || !Object.hasOwn(value, alias)) return value
    const { [alias]: aliased, ...rest } = value
    if (Object.hasOwn(value, key)) {
      const expected = `${key} or its alias ${alias}, not both`
      ctx.addIssue({ code: 'custom', path: [alias], message: `set ${expected}`, params: { expected }, input: aliased })
      return rest
    }
    return { ...rest, [key]: aliased }
  }, schema) as unknown as T
}
