/**
 * A small seeded pseudo-random generator (mulberry32), so a fuzzing run is repeated exactly by its
 * seed: each connection gets its own stream from (seed, index), whatever order connections run in.
 */
export class Rng {
  private state: number

  constructor (seed: number, stream = 0) {
    // mix the two numbers so neighbouring seeds or streams do not start alike
    let h = (seed ^ 0x9e3779b9) >>> 0
    h = Math.imul(h ^ (stream + 0x7f4a7c15), 0x85ebca6b) >>> 0
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
    this.state = (h ^ (h >>> 16)) >>> 0
  }

  /** A uniform 32-bit unsigned integer. */
  u32 (): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** An integer in [0, n). */
  int (n: number): number { return this.u32() % n }

  /** An integer in [lo, hi]. */
  between (lo: number, hi: number): number { return lo + this.int(hi - lo + 1) }

  chance (p: number): boolean { return this.u32() / 0x100000000 < p }

  pick<T> (items: readonly T[]): T { return items[this.int(items.length)] as T }

  bytes (n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff
    return b
  }
}
