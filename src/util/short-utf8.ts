/**
 * UTF-8 length and writing of the short strings every message carries (header names, topics, client
 * ids, node names, '1', 'true'), done in JavaScript when the string is short and ASCII: each
 * `Buffer.byteLength` or `buf.write` is a call into C++ that costs more than the few bytes it
 * handles. Anything longer or not ASCII goes through Buffer as before; the bytes are the same.
 */

/** Up to this many UTF-16 units a string is looked at here; longer ones go to Buffer at once. */
const SHORT = 48

/** Bytes of `s` in UTF-8. */
export function utf8Length (s: string): number {
  const n = s.length
  if (n > SHORT) return Buffer.byteLength(s)
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s)
  return n
}

/** Writes `s` as UTF-8 at `offset` (the buffer has room for it); returns the bytes written. */
export function writeUtf8 (buf: Buffer, s: string, offset: number): number {
  const n = s.length
  if (n <= SHORT) {
    let i = 0
    for (; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c > 0x7f) break
      buf[offset + i] = c
    }
    if (i === n) return n
  }
  return buf.write(s, offset)
}
