import { z } from 'zod'

/*
 * Configuration of authentication, authorization and brute-force bans (EMQX's key names where
 * EMQX has the same setting). Durations take milliseconds or EMQX-style strings (`500ms`, `30s`,
 * `1m`, `5m`, `1h`, `1d`) and come out in milliseconds. Part of configSchema (schema.ts).
 */

const intIn = (min: number, max: number) => {
  const error = `an integer from ${min} to ${max}`
  return z.int({ error }).min(min, { error }).max(max, { error })
}
const choice = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `one of ${values.join(', ')}` })
const flag = z.boolean({ error: 'true or false' })
const text = z.string({ error: 'a non-empty string' }).min(1, { error: 'a non-empty string' })
/** A mapping whose keys all have defaults: absent or YAML-empty (null) means all defaults. */
const withDefaults = <T extends z.ZodType<unknown, object>>(schema: T) =>
  z.preprocess((v) => (v === null ? undefined : v), schema.prefault({} as z.input<T>))

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 }
const DURATION = 'a duration: milliseconds, or a number with ms, s, m, h or d (e.g. 30s)'
/** A duration in ms from an integer (ms) or `<n><unit>`; `min`/`max` bound the result. */
export function duration (min: number, max: number) {
  return z.union([z.int(), z.string()], { error: DURATION })
    .transform((v, ctx) => {
      let ms: number
      if (typeof v === 'number') {
        ms = v
      } else {
        const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(v)
        if (m === null) {
          ctx.addIssue({ code: 'custom', message: DURATION, input: v })
          return z.NEVER
        }
        ms = Math.round(Number(m[1]) * (UNITS[m[2] as string] as number))
      }
      if (ms < min || ms > max) {
        const expected = `a duration from ${min} ms to ${max} ms`
        ctx.addIssue({ code: 'custom', message: `must be ${expected}, got ${ms} ms`, params: { expected }, input: v })
        return z.NEVER
      }
      return ms
    })
}

export const AUTHN_SOURCES = ['built_in_database', 'jwt', 'http'] as const

const HASH_FIELDS: Record<string, readonly string[]> = {
  pbkdf2: ['mac_fun', 'iterations', 'dk_length'],
  bcrypt: ['salt_rounds'],
  sha256: ['salt_position'],
  sha512: ['salt_position'],
  plain: []
}

/** `authentication.password_hash_algorithm`: how new and changed passwords are hashed. */
export const passwordHashAlgorithmSchema = withDefaults(z.strictObject({
  name: choice(['pbkdf2', 'bcrypt', 'sha256', 'sha512', 'plain']).default('pbkdf2'),
  mac_fun: choice(['sha256', 'sha512']).optional(),
  iterations: intIn(1000, 10_000_000).optional(),
  dk_length: intIn(16, 128).optional(),
  salt_rounds: intIn(4, 31).optional(),
  salt_position: choice(['prefix', 'suffix']).optional()
}).superRefine((a, ctx) => {
  const allowed = HASH_FIELDS[a.name] as readonly string[]
  for (const key of ['mac_fun', 'iterations', 'dk_length', 'salt_rounds', 'salt_position'] as const) {
    if (a[key] !== undefined && !allowed.includes(key)) {
      const expected = allowed.length === 0 ? `no other key with name ${a.name}` : `only ${allowed.join(', ')} with name ${a.name}`
      ctx.addIssue({ code: 'custom', path: [key], message: `does not apply to ${a.name}; expected ${expected}`, params: { expected } })
    }
  }
}).transform((a) => {
  switch (a.name) {
    case 'pbkdf2': return { name: a.name, mac_fun: a.mac_fun ?? 'sha256', iterations: a.iterations ?? 27500, dk_length: a.dk_length ?? 32 } as const
    case 'bcrypt': return { name: a.name, salt_rounds: a.salt_rounds ?? 10 } as const
    case 'sha256':
    case 'sha512': return { name: a.name, salt_position: a.salt_position ?? 'prefix' } as const
    case 'plain': return { name: a.name } as const
  }
}))

const URL_TEXT = 'an http:// or https:// URL'
const httpUrl = z.string({ error: URL_TEXT }).refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { error: URL_TEXT })
const CLAIM_VALUE = 'a literal, ${clientid} or ${username}'

/** `authentication.jwt`. */
export const jwtSchema = withDefaults(z.strictObject({
  from: choice(['password', 'username']).default('password'),
  algorithm: choice(['hmac-based', 'public-key']).default('hmac-based'),
  secret: text.optional(),
  secret_base64_encoded: flag.default(false),
  public_key: text.optional(),
  use_jwks: flag.default(false),
  endpoint: httpUrl.optional(),
  jwks_file: text.optional(),
  refresh_interval: duration(1000, 86400000).default(300000),
  verify_claims: z.record(z.string(), z.string({ error: CLAIM_VALUE })).default({}),
  acl_claim_name: text.default('acl'),
  disconnect_after_expire: flag.default(true),
  leeway: duration(0, 600000).default(5000)
}))

/** `authentication.http`. */
export const httpAuthSchema = withDefaults(z.strictObject({
  url: httpUrl.optional(),
  headers: z.record(z.string(), z.string({ error: 'a string' })).default({}),
  request_timeout: duration(100, 60000).default(5000),
  cache: withDefaults(z.strictObject({
    enable: flag.default(true),
    ttl: duration(1000, 86400000).default(60000),
    max_size: intIn(1, 10_000_000).default(100000)
  }))
}))

const SCRAM_ALGORITHMS = ['sha256', 'sha512'] as const

/**
 * `authentication.scram`: MQTT 5 enhanced authentication (AUTH) with SCRAM against the users topic
 * (EMQX's mechanism `scram`, backend `built_in_database`, with its `algorithm` and `iteration_count`).
 */
export const scramSchema = withDefaults(z.strictObject({
  enable: flag.default(false),
  // one algorithm, a list, or one comma-separated string of them
  algorithm: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v),
    z.array(choice(SCRAM_ALGORITHMS), { error: `a list of ${SCRAM_ALGORITHMS.join(', ')}` }).min(1, { error: 'at least one algorithm' }).default([...SCRAM_ALGORITHMS]))
    .transform((a) => [...new Set(a)]),
  iteration_count: intIn(4096, 10_000_000).default(4096)
}))

function need (ctx: z.RefinementCtx, path: (string | number)[], expected: string): void {
  ctx.addIssue({ code: 'custom', path, message: `missing (expected ${expected})`, params: { expected } })
}

/** `authentication`: the chain and its sources' settings. */
export const authenticationSchema = withDefaults(z.strictObject({
  // a list, or one comma-separated string of them (WHARF_AUTHENTICATION__CHAIN=built_in_database,jwt)
  chain: z.preprocess((v) => (typeof v === 'string' ? (v.trim() === '' ? [] : v.split(',').map((s) => s.trim())) : v),
    z.array(choice(AUTHN_SOURCES), { error: `a list of ${AUTHN_SOURCES.join(', ')}` }).default([]))
    .refine((c) => new Set(c).size === c.length, { error: 'each source at most once', params: { expected: 'each source at most once' } }),
  password_hash_algorithm: passwordHashAlgorithmSchema,
  password_hash_salt: text.optional(),
  jwt: jwtSchema,
  http: httpAuthSchema,
  scram: scramSchema
}).superRefine((a, ctx) => {
  if (a.chain.includes('jwt')) {
    const j = a.jwt
    if (j.algorithm === 'hmac-based' && j.secret === undefined) need(ctx, ['jwt', 'secret'], 'the HMAC secret, as jwt is in the chain')
    if (j.algorithm === 'public-key' && !j.use_jwks && j.public_key === undefined) need(ctx, ['jwt', 'public_key'], 'a PEM public key, or use_jwks with endpoint or jwks_file')
    if (j.algorithm === 'public-key' && j.use_jwks && (j.endpoint === undefined) === (j.jwks_file === undefined)) need(ctx, ['jwt', 'endpoint'], 'either endpoint or jwks_file with use_jwks')
  }
  if (a.chain.includes('http') && a.http.url === undefined) need(ctx, ['http', 'url'], 'the URL of the HTTP authentication service, as http is in the chain')
}))

/** `authorization`. */
export const authorizationSchema = withDefaults(z.strictObject({
  file: text.optional(),
  mosquitto_acl_file: text.optional(),
  no_match: choice(['allow', 'deny']).default('allow'),
  deny_action: choice(['ignore', 'disconnect']).default('ignore'),
  cache: withDefaults(z.strictObject({
    enable: flag.default(true),
    max_size: intIn(1, 1_000_000).default(32),
    ttl: duration(1000, 86400000).default(60000)
  }))
}))

/** `flapping_detect`: bans after repeated failed logins (per address and per user name). */
export const flappingDetectSchema = withDefaults(z.strictObject({
  enable: flag.default(true),
  max_count: intIn(1, 1_000_000).default(15),
  window_time: duration(1000, 86400000).default(60000),
  ban_time: duration(1000, 31_536_000_000).default(300000)
}))

export type AuthenticationConfig = z.infer<typeof authenticationSchema>
export type AuthorizationConfig = z.infer<typeof authorizationSchema>
export type FlappingDetectConfig = z.infer<typeof flappingDetectSchema>
