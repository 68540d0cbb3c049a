import type { Client, PublishPacket } from 'aedes'

const NONE: ReadonlySet<number> = new Set()

interface Held {
  /** QoS 2 packet ids stored, waiting for their PUBREL */
  qos2: Set<number>
  /** QoS 1 PUBLISHes being written to Kafka (no PUBACK yet) */
  qos1: number
}

/** Why the window refused a PUBLISH: the client broke the Receive Maximum, or the QoS 2 bound. */
export type InboundRefusal = 'receive_maximum_exceeded' | 'awaiting_rel_full'

/**
 * The inbound QoS 1/2 window of each connection, with two bounds. `receiveMaximum`
 * (`mqtt.receive_maximum`): QoS 1 and 2 PUBLISHes not yet acknowledged, MQTT 5's Receive Maximum
 * as Wharf advertises it, applied to 3.1.1 clients too. `maxAwaitingRel` (`mqtt.max_awaiting_rel`,
 * alias `max_inflight_inbound`): QoS 2 ids stored until their PUBREL; aedes 1.2 bounded them itself
 * (`maxInflightInbound`), the 2.0 beta does not, and without a bound a client that keeps sending
 * fresh QoS 2 packet ids and never releases them grows the node's incoming store without end. A
 * slot is taken synchronously when the PUBLISH reaches the publish hook (aedes dispatches one
 * socket read's packets concurrently), keyed by packet id so a retransmitted QoS 2 PUBLISH reuses
 * its own slot; it is freed at the PUBACK (QoS 1) or when the stored id is removed (QoS 2: PUBREL,
 * `mqtt.await_rel_timeout`, clean start).
 */
export class InboundWindow {
  private readonly held = new WeakMap<Client, Held>()

  constructor (readonly receiveMaximum: number, readonly maxAwaitingRel: number = receiveMaximum) {}

  /** Take a slot for this PUBLISH; the bound it broke when the window is full. */
  admit (client: Client, packet: Pick<PublishPacket, 'qos' | 'messageId'>): InboundRefusal | undefined {
    if (packet.qos === 0) return undefined
    let h = this.held.get(client)
    if (h === undefined) this.held.set(client, h = { qos2: new Set(), qos1: 0 })
    if (packet.qos === 2 && packet.messageId !== undefined && h.qos2.has(packet.messageId)) return undefined
    if (h.qos1 + h.qos2.size >= this.receiveMaximum) return 'receive_maximum_exceeded'
    if (packet.qos === 2 && h.qos2.size >= this.maxAwaitingRel) return 'awaiting_rel_full'
    if (packet.qos === 1) h.qos1++
    else if (packet.messageId !== undefined) h.qos2.add(packet.messageId)
    return undefined
  }

  /** Ids of the client's inbound QoS 2 PUBLISHes taken and not yet released (awaiting PUBREL). */
  awaitingRel (client: Client): ReadonlySet<number> {
    return this.held.get(client)?.qos2 ?? NONE
  }

  /** The PUBLISH was answered (QoS 1) or refused before it was stored (QoS 2). */
  settled (client: Client, packet: Pick<PublishPacket, 'qos' | 'messageId'>): void {
    const h = this.held.get(client)
    if (h === undefined) return
    if (packet.qos === 1) h.qos1 = Math.max(0, h.qos1 - 1)
    else if (packet.qos === 2 && packet.messageId !== undefined) h.qos2.delete(packet.messageId)
  }

  /** The client's stored QoS 2 ids were discarded (clean start, end of a clean session). */
  reset (client: Client): void {
    this.held.get(client)?.qos2.clear()
  }

  /** Slots held by a client (for tests and metrics). */
  inFlight (client: Client): number {
    const h = this.held.get(client)
    return h === undefined ? 0 : h.qos1 + h.qos2.size
  }
}
