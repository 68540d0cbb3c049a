import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse, YAMLParseError } from 'yaml'
import type { z } from 'zod'
import { CONFIG_FILE_VAR, envOverrides, envSourceOf, type EnvOverride } from './env-overrides.js'
import { ConfigError, expectedPhrase, issueToConfigError } from './errors.js'
import { configSchema, type WharfConfig } from './schema.js'

export interface LoadConfigOptions {
  /** The YAML file; else `WHARF_CONFIG` from `env`; else none (defaults and env only). */
  file?: string | undefined
  /** Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv | undefined
}

type Tree = Record<string, unknown>

function isMapping (value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Mappings merge key by key; anything else in `over` replaces what is in `base`. */
function deepMerge (base: Tree, over: Tree): Tree {
  const out: Tree = { ...base }
  for (const [key, value] of Object.entries(over)) {
    const current = Object.hasOwn(out, key) ? out[key] : undefined
    out[key] = isMapping(current) && isMapping(value) ? deepMerge(current, value) : value
  }
  return out
}

/** Reads and parses the file; every failure is a ConfigError on key `config`. */
function readConfigFile (file: string, source: string | undefined): Tree {
  const path = resolve(file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why = e.code === 'ENOENT' ? 'no such file' : e.message
    throw new ConfigError('config', 'a readable YAML file', `cannot read ${path}: ${why}`, source)
  }
  let data: unknown
  try {
    data = parse(text, { logLevel: 'error' })
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err
    const reason = err.message.split('\n')[0]?.replace(/:$/, '') ?? err.message
    throw new ConfigError('config', 'a valid YAML file', `${path} is not valid YAML: ${reason}`, source)
  }
  if (data === null || data === undefined) return {}
  if (!isMapping(data)) {
    throw new ConfigError('config', 'a YAML mapping of keys', `${path} must hold a mapping of keys at the top level`, source)
  }
  return data
}

/** Sets the value at `path` (whose parents exist) in a copy of `tree`. */
function setAt (tree: Tree, path: readonly string[], value: unknown): Tree {
  const [head, ...rest] = path
  if (head === undefined) return tree
  const child = tree[head]
  return { ...tree, [head]: rest.length === 0 ? value : setAt(isMapping(child) ? child : {}, rest, value) }
}

/**
 * Env values are read as YAML scalars, so `WHARF_KAFKA__SASL__PASSWORD=123456` is a number.
 * Where the schema wants a string at a path set by a variable, put back the variable's text.
 */
function restoreEnvStrings (data: Tree, issues: readonly z.core.$ZodIssue[], overrides: readonly EnvOverride[], done: Set<EnvOverride>): Tree | undefined {
  let restored: Tree | undefined
  for (const issue of issues) {
    if (issue.code !== 'invalid_type' || issue.expected !== 'string') continue
    const path = issue.path.map(String).join('.')
    const override = overrides.find((o) => o.path.join('.') === path && o.value !== o.raw && !done.has(o))
    if (override === undefined) continue
    done.add(override)
    restored = setAt(restored ?? data, override.path, override.raw)
  }
  return restored
}

/**
 * Loads the configuration: the YAML file (if any) deep-merged with the `WHARF_*` environment
 * overrides (env wins), validated and with defaults applied. Throws a ConfigError.
 */
export function loadConfig (opts: LoadConfigOptions = {}): WharfConfig {
  const env = opts.env ?? process.env
  const fromEnv = env[CONFIG_FILE_VAR] === '' ? undefined : env[CONFIG_FILE_VAR]
  const file = opts.file ?? fromEnv
  const source = opts.file === undefined && file !== undefined ? CONFIG_FILE_VAR : undefined
  const { tree, overrides } = envOverrides(env)
  let data = deepMerge(file === undefined ? {} : readConfigFile(file, source), tree)
  const restoredOverrides = new Set<EnvOverride>()
  for (;;) {
    const result = configSchema.safeParse(data, { error: expectedPhrase, reportInput: true })
    if (result.success) return result.data
    const restored = restoreEnvStrings(data, result.error.issues, overrides, restoredOverrides)
    if (restored === undefined) throw issueToConfigError(result.error.issues, data, (path) => envSourceOf(overrides, path))
    data = restored
  }
}
