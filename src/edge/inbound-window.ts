import type { Client, PublishPacket } from 'aedes'

interface Held {
  /** QoS 2 packet ids stored, waiting for their PUBREL */
  qos2: Set<number>
  /** QoS 1 PUBLISHes being written to Kafka (no PUBACK yet) */
  qos1: number
}

/**
 * The inbound QoS 1/2 window of each connection: MQTT 5's Receive Maximum as Wharf advertises it,
 * and `mqtt.max_inflight_inbound` for MQTT 3.1.1 (aedes 1.2's `maxInflightInbound`, which the 2.0
 * beta lacks). Without it a client that keeps sending fresh QoS 2 packet ids and never releases
 * them grows the node's incoming store without bound. A slot is taken synchronously when the
 * PUBLISH reaches the publish hook (aedes dispatches one socket read's packets concurrently), keyed
 * by packet id so a retransmitted QoS 2 PUBLISH reuses its own slot; it is freed at the PUBACK (QoS
 * 1) or when the PUBREL removes the stored id (QoS 2).
 */
export class InboundWindow {
  private readonly held = new WeakMap<Client, Held>()

  constructor (readonly limit: number) {}

  /** Take a slot for this PUBLISH; false when the window is full (the client broke the limit). */
  admit (client: Client, packet: Pick<PublishPacket, 'qos' | 'messageId'>): boolean {
    if (packet.qos === 0) return true
    let h = this.held.get(client)
    if (h === undefined) this.held.set(client, h = { qos2: new Set(), qos1: 0 })
    if (packet.qos === 2 && packet.messageId !== undefined && h.qos2.has(packet.messageId)) return true
    if (h.qos1 + h.qos2.size >= this.limit) return false
    if (packet.qos === 1) h.qos1++
    else if (packet.messageId !== undefined) h.qos2.add(packet.messageId)
    return true
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
