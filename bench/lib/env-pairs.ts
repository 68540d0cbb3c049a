/** `--env KEY=value` options as an environment (the value may itself hold `=`). */
export function envPairs (pairs: string[] | undefined): Record<string, string> {
  return Object.fromEntries((pairs ?? []).map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
}
