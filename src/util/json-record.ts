/**
 * The JSON object in the value of a record of one of Wharf's own compacted topics (users, API keys,
 * bans, presence, nodes): null for a tombstone (no value or an empty one), undefined when the value
 * is not a JSON object. Each record type checks its own fields on the result.
 */
export function readJsonObject (value: Buffer | null): Record<string, unknown> | null | undefined {
  if (value === null || value.length === 0) return null
  let v: unknown
  try {
    v = JSON.parse(value.toString('utf8'))
  } catch {
    return undefined
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined
}
