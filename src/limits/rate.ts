/*
 * Rates and sizes written as EMQX writes them: "1000/s", "100/10s", "6000/m", "1MB/s", "512KB",
 * "infinity". Pure (the configuration schema and the limiters both use it); imports nothing.
 */

/** An amount per interval, as tokens per second. */
export interface Rate {
  /** tokens (messages, bytes, connections) per second */
  perSecond: number
  /** the text it was read from, for messages */
  text: string
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }
const TIME_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }

/**
 * A byte size: an integer, or a number with KB, MB or GB (1024-based, as EMQX's "1MB" = 1048576).
 * undefined when the text is not one.
 */
export function parseByteSize (value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value)
  if (m === null) return undefined
  const n = Math.floor(Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] as number))
  return Number.isSafeInteger(n) ? n : undefined
}

/**
 * A rate: `<amount>/<interval>`, where the interval is a unit (`s`, `m`, `h`, `d`, `ms`) with an
 * optional count before it (`10s`), and the amount a count or, with `sizes`, a byte size
 * (`1MB/s`). A bare number is per second. `infinity` is no limit (undefined). Throws a RangeError
 * that says what is wrong.
 */
export function parseRate (value: string | number, sizes: boolean): Rate | undefined {
  if (typeof value === 'number') {
    if (!(value > 0) || !Number.isFinite(value)) throw new RangeError('a rate above 0')
    return { perSecond: value, text: `${value}/s` }
  }
  const text = value.trim()
  if (text === 'infinity') return undefined
  const slash = text.indexOf('/')
  const amountText = slash < 0 ? text : text.slice(0, slash)
  const intervalText = slash < 0 ? 's' : text.slice(slash + 1).trim()
  const amount = sizes ? parseByteSize(amountText) : (/^\s*\d+(?:\.\d+)?\s*$/.test(amountText) ? Number(amountText) : undefined)
  if (amount === undefined || amount <= 0) throw new RangeError(sizes ? 'an amount such as 1000, 512KB or 1MB' : 'a count such as 1000')
  const m = /^(\d+(?:\.\d+)?)?\s*(ms|s|m|h|d)$/.exec(intervalText)
  const seconds = m === null ? NaN : Number(m[1] ?? 1) * (TIME_UNITS[m[2] as string] as number)
  if (!(seconds > 0)) throw new RangeError('an interval such as s, 10s, m or h')
  return { perSecond: amount / seconds, text }
}
