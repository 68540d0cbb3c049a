import type { Admin, Kafka } from 'kafkajs'
import type { Logger } from '../observability/logger.js'
import { retryRetriable } from './retry.js'

/** Low and high watermark of one partition, keyed "topic:partition". */
export type Watermarks = Map<string, { low: bigint; high: bigint }>

export function tpKey (topic: string, partition: number): string {
  return `${topic}:${partition}`
}

export function splitTpKey (key: string): { topic: string; partition: number } {
  const cut = key.lastIndexOf(':')
  return { topic: key.slice(0, cut), partition: Number(key.slice(cut + 1)) }
}

/**
 * The watermarks of a fixed set of topics, through one admin connection kept open. Concurrent
 * callers share requests, but every caller gets the answer of a request sent after its call
 * (read-your-writes: a record acknowledged before `fetch()` is below the high watermark it returns).
 */
export class EndOffsets {
  private admin: Admin | undefined
  private connecting: Promise<Admin> | undefined
  private inFlight: Promise<Watermarks> | undefined
  private next: Promise<Watermarks> | undefined

  constructor (private readonly kafka: Kafka, private readonly topics: readonly string[], private readonly logger: Logger) {}

  fetch (): Promise<Watermarks> {
    if (this.inFlight === undefined) {
      this.inFlight = this.request().finally(() => { this.inFlight = undefined })
      return this.inFlight
    }
    if (this.next === undefined) {
      // the request in flight may have been answered before this call's writes: queue one more
      const after = this.inFlight.then(() => undefined, () => undefined)
      this.next = after.then(() => {
        this.next = undefined
        return this.fetch()
      })
    }
    return this.next
  }

  async close (): Promise<void> {
    const admin = this.admin
    this.admin = undefined
    this.connecting = undefined
    await admin?.disconnect().catch(() => undefined)
  }

  private async connected (): Promise<Admin> {
    if (this.admin !== undefined) return this.admin
    this.connecting ??= (async () => {
      const admin = this.kafka.admin()
      await admin.connect()
      this.admin = admin
      return admin
    })().finally(() => { this.connecting = undefined })
    return this.connecting
  }

  private async request (): Promise<Watermarks> {
    const admin = await this.connected()
    const result: Watermarks = new Map()
    for (const topic of this.topics) {
      const offsets = await retryRetriable(`offsets of ${topic}`, () => admin.fetchTopicOffsets(topic), this.logger)
      for (const o of offsets) result.set(tpKey(topic, o.partition), { low: BigInt(o.low), high: BigInt(o.high) })
    }
    return result
  }
}
