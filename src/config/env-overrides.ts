import { parse } from 'yaml'
import { ConfigError } from './errors.js'

/** Environment variables that start with this are configuration overrides. */
export const ENV_PREFIX = 'WHARF_'
/** Names the configuration file; not an override. */
export const CONFIG_FILE_VAR = 'WHARF_CONFIG'
/**
 * `WHARF_` variables read elsewhere, not configuration keys: the file name, the `wharf kafka`
 * commands' log level, and the local Kafka's version and jar directory. Any other `WHARF_`
 * variable is an override, so a misspelt one is an error rather than silently ignored.
 */
export const NOT_OVERRIDES: ReadonlySet<string> = new Set([CONFIG_FILE_VAR, 'WHARF_LOG_LEVEL', 'WHARF_KAFKA_VERSION', 'WHARF_KAFKA_JARS_DIR'])
/** Separates levels: `WHARF_KAFKA__PRODUCER__LINGER_MS` is `kafka.producer.linger_ms`. */
const LEVEL_SEPARATOR = '__'

/** One environment variable turned into a configuration value. */
export interface EnvOverride {
  /** The key path, e.g. `['kafka', 'producer', 'linger_ms']`. */
  path: string[]
  /** The variable's name, e.g. `WHARF_KAFKA__PRODUCER__LINGER_MS`. */
  variable: string
  /** The variable's text as given. */
  raw: string
  /** The text read as a YAML scalar (boolean, number, null) or kept as a string. */
  value: unknown
}

/** All overrides, plus the nested object they make. */
export interface EnvOverrides {
  tree: Record<string, unknown>
  overrides: EnvOverride[]
}

const NULL_LITERAL = /^(~|null|Null|NULL)$/
const QUOTED = /^(["']).*\1$/s

/**
 * Reads an environment value as a YAML scalar: `true` and `18083` become a boolean and a
 * number, a quoted value is unquoted. Anything else (including what YAML would turn into a
 * collection, cut at a `#`, or reject) stays the plain string.
 */
export function parseEnvValue (raw: string): unknown {
  let value: unknown
  try {
    value = parse(raw, { logLevel: 'error' })
  } catch {
    return raw
  }
  if (typeof value === 'boolean' || typeof value === 'number') return value
  if (value === null) return NULL_LITERAL.test(raw.trim()) ? null : raw
  if (typeof value === 'string' && QUOTED.test(raw.trim())) return value
  return raw
}

function isMapping (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Puts one override into the tree. `setBy` maps each dotted path set so far to its variable,
 * to name both sides when a key is set both as a value and as a section.
 */
function place (tree: Record<string, unknown>, override: EnvOverride, setBy: Map<string, string>): void {
  const { path, variable } = override
  let node = tree
  for (const [i, segment] of path.entries()) {
    const here = path.slice(0, i + 1).join('.')
    const last = i === path.length - 1
    const existing = Object.hasOwn(node, segment) ? node[segment] : undefined
    if (existing !== undefined && (last || !isMapping(existing))) {
      const other = setBy.get(here) ?? [...setBy].find(([p]) => p.startsWith(`${here}.`))?.[1]
      throw new ConfigError(here, 'one value or one section', `set both by ${other ?? '?'} and by ${variable}`)
    }
    if (last) {
      node[segment] = override.value
      setBy.set(here, variable)
      return
    }
    if (existing === undefined) node[segment] = {}
    node = node[segment] as Record<string, unknown>
  }
}

/**
 * Turns `WHARF_*` environment variables into a nested override object: levels are
 * separated by `__`, keys lowercased (a single `_` stays inside a key). NOT_OVERRIDES are skipped.
 */
export function envOverrides (env: NodeJS.ProcessEnv): EnvOverrides {
  const tree: Record<string, unknown> = {}
  const overrides: EnvOverride[] = []
  const setBy = new Map<string, string>()
  const names = Object.keys(env).filter((n) => n.startsWith(ENV_PREFIX) && !NOT_OVERRIDES.has(n)).sort()
  for (const variable of names) {
    const raw = env[variable]
    if (raw === undefined) continue
    const path = variable.slice(ENV_PREFIX.length).toLowerCase().split(LEVEL_SEPARATOR)
    if (path.some((segment) => segment === '')) {
      throw new ConfigError(variable, `${ENV_PREFIX}<KEY>[__<KEY>...]`, 'not a valid override name: empty key between "__"')
    }
    const override = { path, variable, raw, value: parseEnvValue(raw) }
    place(tree, override, setBy)
    overrides.push(override)
  }
  return { tree, overrides }
}

/** The variable that set `path` or one of its parents (the closest one). */
export function envSourceOf (overrides: readonly EnvOverride[], path: readonly string[]): string | undefined {
  let best: EnvOverride | undefined
  for (const o of overrides) {
    const covers = o.path.length <= path.length && o.path.every((segment, i) => segment === path[i])
    if (covers && (best === undefined || o.path.length > best.path.length)) best = o
  }
  return best?.variable
}
