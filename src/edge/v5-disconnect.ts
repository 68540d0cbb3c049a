import type { Client } from 'aedes'
import { REASON } from '../protocol/reason-codes.js'
import { beforeAedesHandles, connectSessionExpiryOf, endConnection, type PacketHook } from './aedes-internals.js'

/** DISCONNECT reason code 0x04: "disconnect with will message" (aedes keeps the will for it). */
const DISCONNECT_WITH_WILL = 0x04

/**
 * An MQTT 5 DISCONNECT with a non-zero Session Expiry Interval after a CONNECT that said 0 is a
 * protocol error and not a valid DISCONNECT (§3.14.2.2.2): the server answers
 * DISCONNECT 0x82 and the connection ends as an abnormal one, its will published. aedes 2.0.0-beta.1
 * ignores the interval but takes the packet for a normal DISCONNECT (the will discarded); before
 * it handles the packet, the server's DISCONNECT is written and the packet is handed on as
 * "disconnect with will message", the one reason for which aedes keeps the will.
 */
export function refuseSessionExpiryRaise (client: Client): void {
  beforeAedesHandles(client, refuseRaise)
}

/** The check itself, one function for every connection. */
const refuseRaise: PacketHook = (client, packet) => {
  if (packet.cmd !== 'disconnect' || client.version !== 5) return
  const p = packet as { reasonCode?: number; properties?: { sessionExpiryInterval?: number } }
  const raised = p.properties?.sessionExpiryInterval ?? 0
  if (raised === 0 || connectSessionExpiryOf(client) !== 0) return
  delete p.properties?.sessionExpiryInterval
  p.reasonCode = DISCONNECT_WITH_WILL
  endConnection(client, REASON.protocolError)
}
