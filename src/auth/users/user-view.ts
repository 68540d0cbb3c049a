import type { KafkaMessage } from 'kafkajs'
import { decodeUserRecord, type UserRecord } from './user-record.js'

/**
 * This node's view of the users topic: the latest record of every user name, built by reading the
 * topic from the start before the node reports ready, then kept current by tailing it, so a user
 * added or deleted on any machine counts on every node without a restart.
 */
export class UserView {
  private readonly users = new Map<string, UserRecord>()
  /** records this version could not read (newer versions, foreign writers) */
  unreadable = 0

  get size (): number { return this.users.size }

  get (username: string): UserRecord | undefined { return this.users.get(username) }

  /** All users, sorted by name. */
  list (): UserRecord[] {
    return [...this.users.values()].sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0))
  }

  /** Apply one record (from the log, or just acknowledged by Kafka). */
  apply (key: string, value: Buffer | null): void {
    const record = decodeUserRecord(key, value)
    if (record === undefined) {
      this.unreadable++
      return
    }
    if (record === null) this.users.delete(key)
    else this.users.set(key, record)
  }

  readonly onBatch = async (_topic: string, _partition: number, records: KafkaMessage[]): Promise<void> => {
    for (const m of records) if (m.key !== null) this.apply(m.key.toString('utf8'), m.value)
  }
}
