import { createRequire } from 'node:module'

/**
 * Allocation-light encoding for kafkajs 2.2.4 (the last release; its protocol encoder is not going to
 * change under us). kafkajs builds every Produce request out of many small `Encoder`s — one per record
 * and one per record header — and each `new Encoder()` zero-fills a fresh 512-byte Buffer of its own,
 * and every varint goes through a temporary array and `Buffer.from`. At Wharf's rates (one record per
 * MQTT PUBLISH, six headers each) that was about half of kafkajs' encoding time and most of the edge's
 * garbage. This replaces three methods of kafkajs' `Encoder` so that encoders start empty and grow from
 * Node's pooled `Buffer.allocUnsafe` (bytes beyond the written length are never read: kafkajs only
 * ever reads `encoder.buffer`, a slice up to the written offset), and varints are written in place.
 * The bytes produced are identical (test/unit/kafkajs-encoder.test.ts compares them).
 */

interface EncoderClass {
  nextPowerOfTwo: (value: number) => number
  prototype: {
    buf: Buffer
    offset: number
    ensureAvailable: (length: number) => void
    writeUVarInt: (value: number) => unknown
    writeVarLong: (value: unknown) => unknown
    writeBufferInternal: (buffer: Buffer) => void
  }
}

const require = createRequire(import.meta.url)
const PATCHED = Symbol.for('wharf.kafkajs-encoder-patched')

/** kafkajs' Encoder class (the one every request encoder of this kafkajs install uses). */
export function kafkajsEncoder (): EncoderClass {
  return require('kafkajs/src/protocol/encoder.js') as EncoderClass
}

/** The smallest power of two >= value (kafkajs' own `nextPowerOfTwo`). */
function powerOfTwo (value: number): number {
  let n = 1
  while (n < value) n *= 2
  return n
}

/** The installed kafkajs version. */
export function kafkajsVersion (): string {
  return (require('kafkajs/package.json') as { version: string }).version
}

/**
 * Patches kafkajs' Encoder once per process. Returns false (and changes nothing) when the installed
 * kafkajs is not the one this was written for; the caller logs that.
 */
export function patchKafkajsEncoder (): boolean {
  if (kafkajsVersion() !== '2.2.4') return false
  const Encoder = kafkajsEncoder() as EncoderClass & { [PATCHED]?: true }
  if (Encoder[PATCHED] === true) return true
  const proto = Encoder.prototype
  if (typeof proto.ensureAvailable !== 'function' || typeof proto.writeUVarInt !== 'function' ||
    typeof proto.writeVarLong !== 'function' || typeof Encoder.nextPowerOfTwo !== 'function') return false

  const writeVarLong = proto.writeVarLong

  // the constructor is `this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))` and is its only
  // caller once ensureAvailable below no longer uses it: start every encoder with an empty buffer
  Encoder.nextPowerOfTwo = () => 0

  proto.ensureAvailable = function (this: EncoderClass['prototype'], length: number): void {
    const needed = this.offset + length
    if (needed <= this.buf.length) return
    const grown = Buffer.allocUnsafe(Math.max(64, powerOfTwo(needed)))
    this.buf.copy(grown, 0, 0, this.offset)
    this.buf = grown
  }

  // LEB128 of an unsigned 32-bit value, as kafkajs writes it, without the temporary array and Buffer
  proto.writeUVarInt = function (this: EncoderClass['prototype'], value: number) {
    this.ensureAvailable(5)
    const buf = this.buf
    let offset = this.offset
    while ((value & 0xffffff80) !== 0) {
      buf[offset++] = (value & 0x7f) | 0x80
      value >>>= 7
    }
    buf[offset++] = value & 0x7f
    this.offset = offset
    return this
  }

  // varlongs (record timestamp deltas) are nearly always small numbers: zigzag them in 32 bits, which
  // gives the same bytes as kafkajs' 64-bit Long arithmetic for |value| < 2^30; anything else as before
  proto.writeVarLong = function (this: EncoderClass['prototype'], value: unknown) {
    if (typeof value === 'number' && Number.isInteger(value) && value > -0x40000000 && value < 0x40000000) {
      return this.writeUVarInt(((value << 1) ^ (value >> 31)) >>> 0)
    }
    return writeVarLong.call(this, value)
  }

  Object.defineProperty(Encoder, PATCHED, { value: true })
  return true
}
