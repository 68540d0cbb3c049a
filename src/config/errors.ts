import type { z } from 'zod'

/**
 * A configuration problem, reported on one line:
 * `invalid configuration: <key>: <problem> (from <ENV_VAR>)`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  /** The dotted path of the offending key (`config` for the file itself). */
  readonly key: string
  /** What a valid value looks like, e.g. "an integer from 0 to 1000". */
  readonly expected: string

  /** `source` names where the value came from (an environment variable), when known. */
  constructor (key: string, expected: string, problem: string, source?: string) {
    super(`invalid configuration: ${key}: ${problem}${source === undefined ? '' : ` (from ${source})`}`)
    this.key = key
    this.expected = expected
  }
}

/** Finds the environment variable that produced a path (or one of its parents). */
export type SourceOf = (path: readonly string[]) => string | undefined

type Issue = z.core.$ZodIssue
type Path = readonly PropertyKey[]

const TYPE_PHRASES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list'
}

/**
 * The per-parse zod error map: turns an issue that has no message of its own in the schema
 * into an "expected ..." phrase (the text that follows "expected").
 */
export function expectedPhrase (issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': return TYPE_PHRASES[issue.expected] ?? `a value of type ${issue.expected}`
    case 'invalid_value': return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
    case 'too_small': return `a value of at least ${String(issue.minimum)}`
    case 'too_big': return `a value of at most ${String(issue.maximum)}`
    case 'invalid_key': return issue.issues[0]?.message ?? 'a valid key'
    case 'unrecognized_keys': return 'a known key (see config.example.yaml)'
    default: return undefined
  }
}

/** Describes a value for "got ...": strings quoted, long ones cut. */
export function describeValue (value: unknown): string {
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list'
  if (typeof value === 'object' && value !== null) return 'a mapping'
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
  return String(value)
}

/** Keys whose values are secrets: a message never shows them (`kafka.sasl.password`, `authentication.jwt.secret`, ...). */
const SECRET_KEYS = new Set(['password', 'secret', 'password_hash_salt'])

/** Whether the value at `path` is a secret (a password, a key, the pepper, an HTTP header). */
export function isSecretPath (path: readonly string[]): boolean {
  return path.some((segment, i) => SECRET_KEYS.has(segment) || (segment === 'headers' && i < path.length - 1))
}

/** The value at `path` inside plain data, and whether it is there at all. */
function valueAt (data: unknown, path: Path): { found: boolean; value?: unknown } {
  let node = data
  for (const segment of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, segment)) return { found: false }
    node = (node as Record<PropertyKey, unknown>)[segment]
  }
  return { found: true, value: node }
}

/** Typos cause the other issues, so an unknown key is reported before anything else. */
function firstIssue (issues: readonly Issue[]): Issue | undefined {
  return issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]
}

/**
 * Turns the first zod issue into a ConfigError. `data` is the input that was validated (to
 * show what was given); custom issues that carry `params.expected` use their message as the
 * whole problem text (rules such as "must differ from ..."), others read "expected ..., got ...".
 */
export function issueToConfigError (issues: readonly Issue[], data: unknown, sourceOf: SourceOf): ConfigError {
  const issue = firstIssue(issues)
  if (issue === undefined) return new ConfigError('config', 'a valid configuration', 'invalid')
  const path = issue.path.map(String)
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0] ?? '?')
  const key = path.length === 0 ? 'config' : path.join('.')
  const source = sourceOf(path)
  if (issue.code === 'unrecognized_keys') return new ConfigError(key, issue.message, 'unknown key', source)
  const params = issue.code === 'custom' ? issue.params : undefined
  if (typeof params?.expected === 'string') return new ConfigError(key, params.expected, issue.message, source)

  const expected = issue.message
  const given = issue.code === 'invalid_key' ? { found: true, value: issue.input } : valueAt(data, issue.path)
  const got = given.found ? given.value : issue.input
  const problem = !given.found && got === undefined
    ? `missing (expected ${expected})`
    : `expected ${expected}, got ${isSecretPath(path) ? 'a value not shown here (a secret)' : describeValue(got)}`
  return new ConfigError(key, expected, problem, source)
}
