import type { KafkaMessage } from 'kafkajs'
import { decodeSessionsTopicEntry, type SessionRecord, type WillRecord } from './session-record.js'

/**
 * This node's view of the sessions topic, built by reading it from the start: the latest session
 * record and will of every client id. Anyone may wait for the next change of one client's entries
 * (a takeover waits for the previous owner's final record this way).
 */
export class SessionView {
  readonly sessions = new Map<string, SessionRecord>()
  readonly wills = new Map<string, WillRecord>()
  private readonly waiters = new Map<string, Array<() => void>>()
  /** records this version could not read (newer versions, foreign writers) */
  unreadable = 0

  readonly onBatch = async (_topic: string, _partition: number, records: KafkaMessage[]): Promise<void> => {
    for (const m of records) {
      if (m.key === null) continue
      const entry = decodeSessionsTopicEntry(m.key.toString('utf8'), m.value)
      if (entry.record === null && m.value !== null && m.value.length > 0) this.unreadable++
      if (entry.kind === 'session') {
        if (entry.record === null) this.sessions.delete(entry.clientId)
        else this.sessions.set(entry.clientId, entry.record)
      } else if (entry.record === null) {
        this.wills.delete(entry.clientId)
      } else {
        this.wills.set(entry.clientId, entry.record)
      }
      const waiting = this.waiters.get(entry.clientId)
      if (waiting !== undefined) {
        this.waiters.delete(entry.clientId)
        for (const w of waiting) w()
      }
    }
  }

  /** Resolves at the next change of `clientId`'s session or will, or after `ms`. */
  nextChange (clientId: string, ms: number): Promise<void> {
    return new Promise(resolve => {
      const list = this.waiters.get(clientId) ?? []
      const wake = (): void => { clearTimeout(timer); resolve() }
      const timer = setTimeout(() => {
        const left = (this.waiters.get(clientId) ?? []).filter(w => w !== wake)
        if (left.length > 0) this.waiters.set(clientId, left)
        else this.waiters.delete(clientId)
        resolve()
      }, ms)
      list.push(wake)
      this.waiters.set(clientId, list)
    })
  }
}
