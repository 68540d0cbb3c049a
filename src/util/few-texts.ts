/** Do the bytes of `d` at `at` start with those of `b`? (`d` has room for them.) */
export function sameBytes (d: Uint8Array, at: number, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (d[at + i] !== b[i]) return false
  return true
}

/**
 * Texts that come back as the same bytes again and again (Kafka header names, node names): the
 * first `capacity` distinct ones are kept with their bytes, and one seen again is found by comparing
 * bytes instead of being decoded from UTF-8 again (a call into C++ each). Any other is decoded as
 * Buffer decodes it: the same text, no faster.
 */
export class FewTexts {
  private readonly bytes: Buffer[] = []
  private readonly texts: string[] = []

  constructor (private readonly capacity: number) {}

  /** The UTF-8 text of `length` bytes at `at` of `d`; `hint` is the entry to look at first (texts that come in the same order). */
  text (d: Buffer, at: number, length: number, hint = 0): string {
    const bytes = this.bytes
    const guess = bytes[hint]
    if (guess !== undefined && guess.length === length && sameBytes(d, at, guess)) return this.texts[hint] as string
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as Buffer
      if (b.length === length && sameBytes(d, at, b)) return this.texts[i] as string
    }
    const text = d.toString('utf8', at, at + length)
    if (bytes.length < this.capacity) {
      bytes.push(Buffer.from(d.subarray(at, at + length)))
      this.texts.push(text)
    }
    return text
  }
}
