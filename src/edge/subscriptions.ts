import type { Client } from 'aedes'
import { isShareFilter } from '../protocol/share-filter.js'

/** What the node reads for its clients' subscriptions (routing's live reader). */
export interface InterestSink {
  /**
   * A local client holds `filter` from now on. Resolves once every partition the filter needs is
   * being read from a position taken during this call, so a message published after the SUBACK
   * that follows reaches the client.
   */
  hold (filter: string): Promise<void>
  /** A local client no longer holds `filter`. */
  release (filter: string): void
  /** Per partition read now ("topic:partition"), the offset below which every record was handed to the local subscribers. */
  positions (): Map<string, bigint>
  /** The partitions a filter needs ("topic:partition"). */
  partitionsOf (filter: string): string[]
}

/**
 * The plain subscriptions of this node's connected clients, per client, so that the node's
 * interest counts each (client, filter) once: a SUBSCRIBE that repeats a filter changes nothing, an
 * UNSUBSCRIBE or the end of the connection releases what the client held. Shared subscriptions
 * (`$share/`, `$queue/`) are read by their Kafka groups and are not counted here.
 */
export class ClientSubscriptions {
  private readonly byClient = new WeakMap<Client, Set<string>>()

  constructor (private readonly sink: InterestSink) {}

  /** Before the SUBACK (or the CONNACK of a resumed session): resolves when the filter is read. */
  hold (client: Client, filter: string): Promise<void> {
    if (isShareFilter(filter)) return Promise.resolve()
    let held = this.byClient.get(client)
    if (held === undefined) this.byClient.set(client, held = new Set())
    if (held.has(filter)) return Promise.resolve()
    held.add(filter)
    return this.sink.hold(filter)
  }

  /** Where the node reads the partitions `filter` needs (for a persistent session's cursors). */
  positionsOf (filter: string): Map<string, bigint> {
    const all = this.sink.positions()
    const out = new Map<string, bigint>()
    for (const key of this.sink.partitionsOf(filter)) {
      const at = all.get(key)
      if (at !== undefined) out.set(key, at)
    }
    return out
  }

  /** Every partition read now and its position. */
  positions (): Map<string, bigint> {
    return this.sink.positions()
  }

  /** The client unsubscribed from `filters` (aedes' `unsubscribe` event). */
  release (client: Client, filters: readonly string[]): void {
    const held = this.byClient.get(client)
    if (held === undefined) return
    for (const filter of filters) {
      if (held.delete(filter)) this.sink.release(filter)
    }
  }

  /** The connection ended: everything it held is released. */
  clientGone (client: Client): void {
    const held = this.byClient.get(client)
    if (held === undefined) return
    this.byClient.delete(client)
    for (const filter of held) this.sink.release(filter)
  }
}
