import { packetBytes } from '../protocol/packet-size.js'

/** MQTT control packet types by their 4-bit code (index), as /metrics labels them. */
export const PACKET_TYPES = [
  'reserved', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp',
  'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'
] as const

export type PacketType = typeof PACKET_TYPES[number]

/** The code of a packet type named as mqtt-packet names it (`cmd`); 0 when unknown. */
export function packetCode (cmd: string): number {
  const i = (PACKET_TYPES as readonly string[]).indexOf(cmd)
  return i < 0 ? 0 : i
}

/**
 * What this node's MQTT connections carried, as plain numbers the edge adds to on its hot path and
 * /metrics and `$SYS` read: packets by type and direction, PUBLISH packets by QoS, MQTT bytes.
 */
export class TrafficCounters {
  readonly packetsIn: number[] = new Array<number>(16).fill(0)
  readonly packetsOut: number[] = new Array<number>(16).fill(0)
  /** PUBLISH packets by QoS (0, 1, 2) */
  readonly publishIn: number[] = [0, 0, 0]
  readonly publishOut: number[] = [0, 0, 0]
  bytesIn = 0
  bytesOut = 0

  /** A packet read: its type code, remaining length and (PUBLISH) QoS. */
  received (code: number, length: number, qos: number): void {
    this.packetsIn[code] = (this.packetsIn[code] ?? 0) + 1
    this.bytesIn += packetBytes(length)
    if (code === 3) this.publishIn[qos] = (this.publishIn[qos] ?? 0) + 1
  }

  /** A packet about to be written, by its fixed header's first byte. */
  sent (firstByte: number): void {
    const code = firstByte >> 4
    this.packetsOut[code] = (this.packetsOut[code] ?? 0) + 1
    if (code === 3) {
      const qos = Math.min((firstByte >> 1) & 3, 2)
      this.publishOut[qos] = (this.publishOut[qos] ?? 0) + 1
    }
  }

  /** PUBLISH packets received (any QoS). */
  get messagesIn (): number { return this.packetsIn[3] as number }
  /** PUBLISH packets sent (any QoS; resends included). */
  get messagesOut (): number { return this.packetsOut[3] as number }
}
