import type { KafkaMessage } from 'kafkajs'
import { apiKeyRecord, decodeApiKeyRecord, secretMatches, type ApiKeyRecord } from './api-key-record.js'

/** Why a presented API key was refused (logged, never told to the caller). */
export type ApiKeyRefusal = 'unknown_key' | 'wrong_secret' | 'expired'

/**
 * This node's API keys: the keys topic, read from the start before the node reports ready and then
 * tailed (a key added or deleted with `wharf api-keys` counts on every node), plus the keys of
 * `api_key.bootstrap_file`, which live in this node's memory only (hashed as well).
 */
export class ApiKeyView {
  private readonly keys = new Map<string, ApiKeyRecord>()
  private readonly bootstrap = new Map<string, ApiKeyRecord>()
  unreadable = 0

  constructor (private readonly now: () => number = Date.now) {}

  get size (): number { return this.keys.size + this.bootstrap.size }

  /** Keys from the bootstrap file's `name:secret` pairs (a key in Kafka with the same name wins). */
  addBootstrap (pairs: Array<[name: string, secret: string]>): void {
    for (const [name, secret] of pairs) this.bootstrap.set(name, apiKeyRecord(name, secret, 'api_key.bootstrap_file', null))
  }

  apply (key: string, value: Buffer | null): void {
    const r = decodeApiKeyRecord(key, value)
    if (r === undefined) this.unreadable++
    else if (r === null) this.keys.delete(key)
    else this.keys.set(key, r)
  }

  readonly onBatch = async (_topic: string, _partition: number, records: KafkaMessage[]): Promise<void> => {
    for (const m of records) if (m.key !== null) this.apply(m.key.toString('utf8'), m.value)
  }

  /** The key, when `secret` is its secret and it has not expired; else why not. */
  check (name: string, secret: string): ApiKeyRecord | ApiKeyRefusal {
    const r = this.keys.get(name) ?? this.bootstrap.get(name)
    if (r === undefined) return 'unknown_key'
    if (!secretMatches(r, secret)) return 'wrong_secret'
    if (r.expiresAt !== null && r.expiresAt <= this.now()) return 'expired'
    return r
  }

  /** Every key (bootstrap ones included), by name. */
  list (): ApiKeyRecord[] {
    const all = new Map([...this.bootstrap, ...this.keys])
    return [...all.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }
}

/** The `name:secret` lines of a bootstrap file (blank lines and `#` comments skipped); throws naming the line. */
export function parseBootstrapFile (text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim()
    if (t === '' || t.startsWith('#')) return
    const cut = t.indexOf(':')
    if (cut <= 0 || cut === t.length - 1) throw new Error(`line ${i + 1}: expected name:secret`)
    pairs.push([t.slice(0, cut), t.slice(cut + 1)])
  })
  return pairs
}
