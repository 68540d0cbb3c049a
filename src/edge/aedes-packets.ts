import { createRequire } from 'node:module'
import type { Aedes, Client, PublishPacket } from 'aedes'
import type { Qos } from '../protocol/message.js'

/** aedes' packet as it travels through its emitter: a broker-wide counter identifies it. */
export interface AedesPacket extends PublishPacket {
  brokerId: string
  brokerCounter: number
}

/** The parts of aedes' client that deliver one packet (their callbacks fire once it is written). */
export interface DeliveringClient extends Client {
  deliverQoS: (packet: AedesPacket, cb: () => void) => void
  deliver0: (packet: AedesPacket, cb: () => void) => void
  /** the next packet id aedes assigns (aedes keeps an id a packet already has) */
  _nextId: number
}

type PacketConstructor = new (original: object, broker: Aedes) => AedesPacket
// CommonJS, typed as a namespace: load it the CommonJS way
const Packet = createRequire(import.meta.url)('aedes-packet') as PacketConstructor

/** A PUBLISH for aedes' emitter (it gets the broker's id and the next packet counter). */
export function emitterPacket (aedes: Aedes, message: { topic: string; payload: Buffer | string; qos: Qos }): AedesPacket {
  return new Packet({ cmd: 'publish', topic: message.topic, payload: message.payload, qos: message.qos, retain: false, dup: false }, aedes)
}

/**
 * A PUBLISH Wharf hands to one client itself (a resume, a shared-subscription message): without a
 * broker id, so aedes' per-client de-duplication of emitter packets leaves it alone.
 */
export function directPacket (aedes: Aedes, message: { topic: string; payload: Buffer | string }, qos: Qos, dup: boolean, messageId?: number): AedesPacket {
  const packet = new Packet({ cmd: 'publish', topic: message.topic, payload: message.payload, qos, retain: false, dup }, aedes)
  packet.brokerId = ''
  if (messageId !== undefined) packet.messageId = messageId
  return packet
}

/** Hand a packet to one client through aedes (QoS 1/2 flow or QoS 0); `cb` once it is written. */
export function deliverTo (client: Client, packet: AedesPacket, cb: () => void): void {
  const c = client as DeliveringClient
  if (packet.qos > 0) c.deliverQoS(packet, cb)
  else c.deliver0(packet, cb)
}

/** Take the next packet id of a client, as aedes would. */
export function takePacketId (client: Client): number {
  const c = client as DeliveringClient
  const id = c._nextId
  c._nextId = id >= 65535 ? 1 : id + 1
  return id
}
