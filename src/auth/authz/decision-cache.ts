/**
 * A small LRU of one client's authorization decisions, with an age limit. It is tied to a rules
 * generation: after a reload the authorizer sees another generation and starts afresh.
 */
export class DecisionCache {
  private readonly entries = new Map<string, { allow: boolean; at: number }>()
  /** the most recently used key (last in `entries`): a repeated hit, a client publishing to one topic, needs no reordering */
  private lastKey: string | undefined

  constructor (readonly generation: number, private readonly maxSize: number, private readonly ttlMs: number) {}

  get (key: string, now: number): boolean | undefined {
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    if (now - e.at >= this.ttlMs) {
      this.entries.delete(key)
      if (key === this.lastKey) this.lastKey = undefined
      return undefined
    }
    if (key !== this.lastKey) {
      this.entries.delete(key)
      this.entries.set(key, e) // most recently used goes last
      this.lastKey = key
    }
    return e.allow
  }

  set (key: string, allow: boolean, now: number): void {
    this.entries.delete(key)
    this.entries.set(key, { allow, at: now })
    this.lastKey = key
    if (this.entries.size > this.maxSize) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
      if (oldest === this.lastKey) this.lastKey = undefined
    }
  }

  get size (): number { return this.entries.size }
}
