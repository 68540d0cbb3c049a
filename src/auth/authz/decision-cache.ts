/**
 * A small LRU of one client's authorization decisions, with an age limit. It is tied to a rules
 * generation: after a reload the authorizer sees another generation and starts afresh.
 */
export class DecisionCache {
  private readonly entries = new Map<string, { allow: boolean; at: number }>()

  constructor (readonly generation: number, private readonly maxSize: number, private readonly ttlMs: number) {}

  get (key: string, now: number): boolean | undefined {
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    this.entries.delete(key)
    if (now - e.at >= this.ttlMs) return undefined
    this.entries.set(key, e) // most recently used goes last
    return e.allow
  }

  set (key: string, allow: boolean, now: number): void {
    this.entries.delete(key)
    this.entries.set(key, { allow, at: now })
    if (this.entries.size > this.maxSize) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
  }

  get size (): number { return this.entries.size }
}
