/**
 * Kafka's murmur2 key hash (the Java client's `Utils.murmur2`, which kafkajs' DefaultPartitioner uses)
 * in 32-bit integer arithmetic. kafkajs 2.2.4 computes it on 64-bit BigInt Longs, a few objects per
 * four key bytes, and copies string keys into a Buffer first: about 2 % of an edge's busy time at max
 * rate, for one hash per record produced (and per record placed or routed). Only the low 32 bits are
 * ever read there, so `Math.imul` gives the same value (test/unit/murmur2.test.ts compares them).
 */

const SEED = 0x9747b28c
const M = 0x5bd1e995

/** The murmur2 hash of the key's bytes (UTF-8 for a string), as a signed 32-bit integer. */
export function murmur2 (key: string | Buffer): number {
  if (typeof key === 'string') {
    for (let i = 0; i < key.length; i++) {
      if (key.charCodeAt(i) > 0x7f) return murmur2Bytes(Buffer.from(key))
    }
    return murmur2Ascii(key)
  }
  return murmur2Bytes(key)
}

function murmur2Bytes (data: Buffer): number {
  const length = data.length
  let h = (SEED ^ length) | 0
  const length4 = length & ~3
  for (let i = 0; i < length4; i += 4) {
    let k = (data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  const tail = length & 3
  if (tail === 3) h ^= (data[length4 + 2] as number) << 16
  if (tail >= 2) h ^= (data[length4 + 1] as number) << 8
  if (tail >= 1) h = Math.imul(h ^ (data[length4] as number), M)
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h
}

/** The same over an ASCII string's char codes (its UTF-8 bytes), without copying it into a Buffer. */
function murmur2Ascii (data: string): number {
  const length = data.length
  let h = (SEED ^ length) | 0
  const length4 = length & ~3
  for (let i = 0; i < length4; i += 4) {
    let k = data.charCodeAt(i) | (data.charCodeAt(i + 1) << 8) | (data.charCodeAt(i + 2) << 16) | (data.charCodeAt(i + 3) << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  const tail = length & 3
  if (tail === 3) h ^= data.charCodeAt(length4 + 2) << 16
  if (tail >= 2) h ^= data.charCodeAt(length4 + 1) << 8
  if (tail >= 1) h = Math.imul(h ^ data.charCodeAt(length4), M)
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h
}
