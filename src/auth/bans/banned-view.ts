import type { KafkaMessage } from 'kafkajs'
import { banKey, decodeBanRecord, type BanRecord } from './banned-record.js'

/** Who a ban check looks at. */
export interface BanSubject { clientId: string; username?: string | undefined; peerhost: string }

/**
 * This node's view of the banned topic: read from the start before the node reports ready, then
 * tailed. `isBanned` answers from memory; a ban past its `until` no longer counts (the record stays
 * until someone deletes it).
 */
export class BannedView {
  private readonly bans = new Map<string, BanRecord>()
  unreadable = 0

  constructor (private readonly now: () => number = Date.now) {}

  get size (): number { return this.bans.size }

  apply (key: string, value: Buffer | null): void {
    const r = decodeBanRecord(key, value)
    if (r === undefined) this.unreadable++
    else if (r === null) this.bans.delete(key)
    else this.bans.set(banKey(r.kind, r.value), r)
  }

  /** Applies a ban this node made, before Kafka echoes it back (the same record goes to the topic). */
  add (r: BanRecord): void { this.bans.set(banKey(r.kind, r.value), r) }

  readonly onBatch = async (_topic: string, _partition: number, records: KafkaMessage[]): Promise<void> => {
    for (const m of records) if (m.key !== null) this.apply(m.key.toString('utf8'), m.value)
  }

  /** The ban in force for the client (by client id, user name or address), if any. */
  banOf (c: BanSubject): BanRecord | undefined {
    const now = this.now()
    const keys = [banKey('clientid', c.clientId), banKey('peerhost', c.peerhost)]
    if (c.username !== undefined) keys.push(banKey('username', c.username))
    for (const k of keys) {
      const r = this.bans.get(k)
      if (r !== undefined && (r.until === null || r.until > now)) return r
    }
    return undefined
  }

  isBanned (c: BanSubject): boolean { return this.banOf(c) !== undefined }

  /** Bans in force, by key. */
  list (): BanRecord[] {
    const now = this.now()
    return [...this.bans.values()].filter(r => r.until === null || r.until > now)
  }
}
