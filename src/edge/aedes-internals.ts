import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { PassThrough, type Duplex } from 'node:stream'
import type { Aedes, AuthenticateError, Client, PublishPacket } from 'aedes'
import type { Qos } from '../protocol/message.js'

/*
 * Every private field and method of aedes that Wharf uses, typed once and reached from here only.
 * aedes 1.x has no public API for handing one packet to one client, taking a packet id, reading a
 * client's granted subscriptions or telling a will from a PUBLISH; Wharf needs all of them (durable
 * sessions, shared subscriptions, the QoS of wildcard deliveries). `checkAedes()` runs when the node
 * starts and names the installed aedes version if anything here is missing, so an upgrade fails at
 * start instead of at the first delivery. This is also the seam that the move to aedes 2.x (MQTT 5)
 * changes.
 */

const require = createRequire(import.meta.url)

/** The aedes minor version these internals were read from (package.json pins `~1.2.0`). */
export const VERIFIED_AEDES = '1.2'

/** The installed aedes version (its package.json is not among its exports: read it beside its entry point). */
export const AEDES_VERSION = (JSON.parse(readFileSync(join(dirname(require.resolve('aedes')), 'package.json'), 'utf8')) as { version: string }).version

/** aedes' packet as it travels through its emitter: a broker-wide counter identifies it. */
export interface AedesPacket extends PublishPacket {
  brokerId: string
  brokerCounter: number
}

/** The private parts of aedes' per-connection client that Wharf uses. */
interface ClientInternals {
  /** hand one packet to this client through its QoS 1/2 flow; `cb` once written */
  deliverQoS: (packet: AedesPacket, cb: () => void) => void
  /** hand one packet to this client at QoS 0; `cb` once written */
  deliver0: (packet: AedesPacket, cb: () => void) => void
  /** the next packet id aedes assigns (aedes keeps an id a packet already has) */
  _nextId: number
  /** granted subscriptions, filter -> { qos } */
  subscriptions: Record<string, { qos: number }>
  /** the will aedes publishes when the connection ends abnormally (null after a DISCONNECT) */
  will: PublishPacket | null
  /** the connection's byte stream */
  conn: Duplex
  /** aedes' 'readable' listener and the callback of each handled packet: parses what the stream holds when no packet is in hand */
  _nextBatch: (err?: Error | null) => void
  /** packets parsed and not yet handled (1 before the first read) */
  _parsingBatch: number
}

interface BrokerInternals {
  /** connected clients by id */
  clients: Record<string, Client>
  /** the persistence aedes was built with */
  persistence: IncomingPersistence
}

/** aedes' in-memory persistence, as aedes calls it (promise style). */
export interface IncomingPersistence {
  incomingGetPacket (client: Client, packet: { messageId?: number }): Promise<unknown>
}

type PacketConstructor = new (original: object, broker: Aedes) => AedesPacket
// CommonJS, typed as a namespace: load it the CommonJS way
const Packet = require('aedes-packet') as PacketConstructor

/** A field or method of aedes that Wharf relies on is not there. */
export class AedesShapeError extends Error {
  constructor (missing: string[]) {
    super(`aedes ${AEDES_VERSION} lacks what Wharf uses (${missing.join(', ')}); Wharf was verified with aedes ${VERIFIED_AEDES}.x`)
    this.name = 'AedesShapeError'
  }
}

/**
 * Checks the installed aedes has every internal used here, on a real broker and a real (never
 * connected) client. Throws AedesShapeError naming what is missing; returns a warning text when the
 * version differs from the verified one but everything is there.
 */
export function checkAedes (aedes: Aedes): string | undefined {
  const missing: string[] = []
  const broker = aedes as unknown as Partial<BrokerInternals>
  if (typeof broker.clients !== 'object' || broker.clients === null) missing.push('Aedes.clients')
  if (typeof broker.persistence?.incomingGetPacket !== 'function') missing.push('Aedes.persistence.incomingGetPacket')
  const probe = new PassThrough()
  const client = aedes.handle(probe) as unknown as Partial<ClientInternals> & { close?: () => void } | undefined
  if (client === undefined) {
    missing.push('Aedes.handle() returning the client')
  } else {
    if (typeof client.deliverQoS !== 'function') missing.push('Client.deliverQoS')
    if (typeof client.deliver0 !== 'function') missing.push('Client.deliver0')
    if (typeof client._nextId !== 'number') missing.push('Client._nextId')
    if (typeof client.subscriptions !== 'object') missing.push('Client.subscriptions')
    if (!('will' in client)) missing.push('Client.will')
    if (typeof client._nextBatch !== 'function') missing.push('Client._nextBatch')
    if (typeof client._parsingBatch !== 'number') missing.push('Client._parsingBatch')
    if (client.conn?.listeners('readable').includes(client._nextBatch as () => void) !== true) missing.push("Client._nextBatch as the stream's 'readable' listener")
  }
  probe.destroy()
  const packet = new Packet({ cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false }, aedes)
  if (typeof packet.brokerCounter !== 'number' || typeof packet.brokerId !== 'string') missing.push('aedes-packet brokerId/brokerCounter')
  if (missing.length > 0) throw new AedesShapeError(missing)
  if (!AEDES_VERSION.startsWith(`${VERIFIED_AEDES}.`)) return `aedes ${AEDES_VERSION} is not the verified ${VERIFIED_AEDES}.x; the internals Wharf uses are present`
  return undefined
}

const internals = (client: Client): ClientInternals => client as unknown as ClientInternals

/**
 * aedes 1.2 parses more of a client's bytes on every 'readable' event of its stream, even while a
 * packet is still being handled: its count of packets in hand goes down without a packet being
 * done. A PUBLISH that arrives behind the CONNECT but in a later TCP read is then handled before
 * the CONNECT went through (before authentication, with no client id: Wharf wrote a record with a
 * null client id header that kafkajs cannot encode, and the producer retried it forever), and the
 * packets of a connected client overlap. After this, new bytes are parsed only once every packet
 * in hand is done (each one's callback reads on); while one waits (a CONNECT being authenticated,
 * a PUBLISH waiting for Kafka) the bytes stay in the stream, which pushes back on the client.
 */
export function parseOneBatchAtATime (client: Client): void {
  const c = internals(client)
  const nextBatch = c._nextBatch
  // aedes starts at 1 so that its first 'readable' (taken for a finished packet) brings it to 0
  if (c._parsingBatch === 1) c._parsingBatch = 0
  c.conn.removeListener('readable', nextBatch)
  c.conn.on('readable', () => { if (c._parsingBatch <= 0) nextBatch() })
}

/** The client connected to this broker under `id`, if any. */
export function connectedClient (aedes: Aedes, id: string): Client | undefined {
  return (aedes as unknown as BrokerInternals).clients[id]
}

/** The client's granted subscriptions (filter -> QoS), as aedes keeps them. */
export function grantedSubscriptions (client: Client): Readonly<Record<string, { qos: number }>> {
  return internals(client).subscriptions
}

/** Is `packet` the will aedes is publishing for `client` (the connection is ending abnormally)? */
export function isWillOf (client: Client, packet: PublishPacket): boolean {
  return internals(client).will === packet
}

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

/** Is this one of Wharf's own direct packets (see `directPacket`)? */
export function isDirectPacket (packet: PublishPacket): boolean {
  return (packet as AedesPacket).brokerId === ''
}

/** The broker-wide counter of a packet that went through aedes. */
export function packetCounter (packet: PublishPacket): number {
  return (packet as AedesPacket).brokerCounter
}

/** Hand a packet to one client through aedes (QoS 1/2 flow or QoS 0); `cb` once it is written. */
export function deliverTo (client: Client, packet: AedesPacket, cb: () => void): void {
  const c = internals(client)
  if (packet.qos > 0) c.deliverQoS(packet, cb)
  else c.deliver0(packet, cb)
}

/** Take the next packet id of a client, as aedes would. */
export function takePacketId (client: Client): number {
  const c = internals(client)
  const id = c._nextId
  c._nextId = id >= 65535 ? 1 : id + 1
  return id
}

/** Make aedes continue numbering after `highest` (ids of deliveries to be resent must not collide). */
export function continuePacketIdsAfter (client: Client, highest: number): void {
  internals(client)._nextId = (highest % 65535) + 1
}

/** aedes' persistence as its publish handler calls it. */
export function incomingPersistence (aedes: Aedes): IncomingPersistence {
  return (aedes as unknown as BrokerInternals).persistence
}

/** CONNACK return codes of MQTT 3.1.1 that Wharf answers with. */
export type ConnackRefusal = 2 | 3 | 4 | 5

/** The error aedes' authenticate callback takes to refuse a CONNECT with `returnCode`. */
export function connectRefusal (returnCode: ConnackRefusal, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as unknown as AuthenticateError
}
