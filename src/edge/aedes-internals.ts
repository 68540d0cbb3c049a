import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { PassThrough, type Duplex } from 'node:stream'
import type { Aedes, AuthenticateError, Client, PublishPacket } from 'aedes'
import type { Qos } from '../protocol/message.js'
import type { WireProperties } from '../protocol/message-properties.js'
import { subscriptionOptionsOf, type HeldSubscription } from '../protocol/subscription-options.js'
import { missingForHardening } from './aedes-hardening.js'
import { missingForWire, refuseConnectV5 } from './mqtt5-wire.js'
import { REASON } from '../protocol/reason-codes.js'
import { packetBytes } from '../protocol/packet-size.js'

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

/**
 * The aedes version these internals were read from (package.json pins it exactly: a beta may move
 * its internals in any release; `aedes-hardening.ts` closes its regressions against 1.2.0).
 */
export const VERIFIED_AEDES = '2.0.0-beta.1'

/** The installed aedes version (its package.json is not among its exports: read it beside its entry point). */
export const AEDES_VERSION = (JSON.parse(readFileSync(join(dirname(require.resolve('aedes')), 'package.json'), 'utf8')) as { version: string }).version

/** aedes' packet as it travels through its emitter: a broker-wide counter identifies it. */
export interface AedesPacket extends PublishPacket {
  brokerId: string
  brokerCounter: number
}

/** aedes 2's Subscription (`lib/handlers/subscribe.js`): granted QoS and the MQTT 5 options as the SUBSCRIBE gave them. */
interface AedesSubscription {
  qos: number
  /** No Local, Retain As Published, Retain Handling, Subscription Identifier (absent for 3.1.1) */
  nl?: boolean
  rap?: boolean
  rh?: number
  si?: number
}

/** The private parts of aedes' per-connection client that Wharf uses. */
interface ClientInternals {
  /** hand one packet to this client through its QoS 1/2 flow; `cb` once written */
  deliverQoS: (packet: AedesPacket, cb: () => void) => void
  /** hand one packet to this client at QoS 0; `cb` once written */
  deliver0: (packet: AedesPacket, cb: () => void) => void
  /** the next packet id aedes assigns (aedes keeps an id a packet already has) */
  _nextId: number
  /** granted subscriptions, filter -> aedes' Subscription */
  subscriptions: Record<string, AedesSubscription>
  /** the will aedes publishes when the connection ends abnormally (null after a DISCONNECT) */
  will: PublishPacket | null
  /** MQTT 5 Clean Start as the CONNECT said it (aedes 2 keeps `clean` for "session expiry = 0") */
  _cleanStart?: boolean
  /** MQTT 5 Server Keep Alive: aedes sends it in the CONNACK and times the connection by it */
  _serverKeepAlive?: number
  /** MQTT 5: the Session Expiry Interval the CONNECT asked for (before aedes capped it) */
  _connectSessionExpiryInterval?: number
  /** the connection's byte stream */
  conn: Duplex
  /** Wharf's: aedes' own read-on callback, which `parseOneBatchAtATime` replaced */
  _wharfReadOn?: (err?: Error) => void
  /** Wharf's: a read is due on the next turn (`parseOneBatchAtATime`) */
  _wharfReadPending?: boolean
  /** mqtt-packet's parser of this connection's bytes (emits 'packet' for every packet read) */
  _parser: ParserInternals
  /** set when the client sent DISCONNECT */
  _disconnected: boolean
  /** 1.5 x the CONNECT's keepalive in ms, plus 1 (-1: none) */
  _keepaliveInterval: number
  /** aedes reads the next chunk only while false (`pause()` / `resume()`) */
  _paused?: boolean
  /** packets of the current read still being handled; aedes reads again when it reaches 0 */
  _parsingBatch: number
  /** aedes' 'readable' listener and the callback of each handled packet: reads the next chunk when nothing is being handled */
  _nextBatch: (err?: Error | null) => void
  /** the keep-alive timer (null until CONNECT, or with keep-alive 0) */
  _keepaliveTimer: NodeJS.Timeout | null
  /** aedes 2: refuses a packet above `maximumPacketSize` (v5: DISCONNECT 0x95; else the connection is closed), once */
  rejectPacketTooLarge: (wireSize: number, done?: () => void) => void
  pause: () => void
}

/** The private parts of mqtt-packet's parser (one per connection) that Wharf uses. */
interface ParserInternals {
  /** parses what is buffered plus `buf` as far as it goes (a state machine: it resumes where it stopped) */
  parse: (buf: Buffer) => number
  /** the bytes read but not parsed yet */
  _list: { length: number; append: (buf: Buffer) => unknown; get: (index: number) => number }
  /** reads the remaining length; true once it is known (then in `packet.length`) */
  _parseLength: () => boolean
  packet: { cmd: string; length: number }
  prependListener: (event: 'packet', fn: (this: ParserInternals, packet: unknown) => void) => unknown
  on: (event: 'packet', listener: (packet: { cmd: string; length: number; qos?: number }) => void) => unknown
  /** aedes' own back reference: its 'packet' listener (`enqueue`) reads the client from it */
  client: Client
  /** Wharf's: a parse is running (`parseOneBatchAtATime`) */
  _wharfParsing?: boolean
  /** Wharf's: the edge's watch of this connection's packets (`watchIncoming`) */
  _wharfWatch?: IncomingWatch
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
  incomingDelPacket (client: Client, packet: { messageId?: number }): Promise<unknown>
}

type PacketConstructor = new (original: object, broker: Aedes) => AedesPacket
// CommonJS, typed as a namespace: load it the CommonJS way
const Packet = require('aedes-packet') as PacketConstructor

/** A field or method of aedes that Wharf relies on is not there. */
export class AedesShapeError extends Error {
  constructor (missing: string[]) {
    super(`aedes ${AEDES_VERSION} lacks what Wharf uses (${missing.join(', ')}); Wharf was verified with aedes ${VERIFIED_AEDES}`)
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
  if (typeof broker.persistence?.incomingDelPacket !== 'function') missing.push('Aedes.persistence.incomingDelPacket')
  const probe = new PassThrough()
  const client = aedes.handle(probe) as unknown as Partial<ClientInternals> & { close?: () => void } | undefined
  if (client === undefined) {
    missing.push('Aedes.handle() returning the client')
  } else {
    if (typeof client.deliverQoS !== 'function') missing.push('Client.deliverQoS')
    if (typeof client.deliver0 !== 'function') missing.push('Client.deliver0')
    if (typeof client._nextId !== 'number') missing.push('Client._nextId')
    if (!((client as { _topicAliases?: unknown })._topicAliases instanceof Map)) missing.push('Client._topicAliases (a Map)')
    if (typeof client.subscriptions !== 'object') missing.push('Client.subscriptions')
    if (!('will' in client)) missing.push('Client.will')
    if (typeof client._parser?.on !== 'function') missing.push('Client._parser')
    if (typeof client._disconnected !== 'boolean') missing.push('Client._disconnected')
    if (typeof client._keepaliveInterval !== 'number') missing.push('Client._keepaliveInterval')
    missing.push(...missingReadInternals(client), ...missingForHardening(client))
    if (client.conn?.listeners('readable').includes(client._nextBatch as () => void) !== true) missing.push("Client._nextBatch as the stream's 'readable' listener")
  }
  probe.destroy()
  const packet = new Packet({ cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false }, aedes)
  if (typeof packet.brokerCounter !== 'number' || typeof packet.brokerId !== 'string') missing.push('aedes-packet brokerId/brokerCounter')
  missing.push(...missingForHardening(undefined, aedes), ...missingForWire())
  if (missing.length > 0) throw new AedesShapeError(missing)
  if (AEDES_VERSION !== VERIFIED_AEDES) return `aedes ${AEDES_VERSION} is not the verified ${VERIFIED_AEDES}; the internals Wharf uses are present`
  return undefined
}

/** What `watchIncoming`, `pauseReading` / `resumeReading` and the QoS 2 expiry need of a client and its parser. */
function missingReadInternals (client: Partial<ClientInternals>): string[] {
  const missing: string[] = []
  const parser = client._parser
  if (typeof parser?._parseLength !== 'function') missing.push('Client._parser._parseLength (mqtt-packet)')
  if (typeof parser?.parse !== 'function' || typeof parser?._list?.length !== 'number' || typeof parser?._list?.append !== 'function') missing.push('Client._parser.parse/_list (mqtt-packet)')
  if (typeof parser?.packet !== 'object' || !('length' in (parser?.packet ?? {}))) missing.push('Client._parser.packet.length (mqtt-packet)')
  if (typeof parser?.prependListener !== 'function') missing.push('Client._parser.prependListener')
  if ((parser?.client as unknown) !== client) missing.push('Client._parser.client (aedes\' back reference)')
  if (typeof client._parsingBatch !== 'number') missing.push('Client._parsingBatch')
  if (typeof client._nextBatch !== 'function') missing.push('Client._nextBatch')
  if (typeof client.pause !== 'function') missing.push('Client.pause')
  if (typeof client.rejectPacketTooLarge !== 'function') missing.push('Client.rejectPacketTooLarge')
  if (!('_keepaliveTimer' in client)) missing.push('Client._keepaliveTimer')
  return missing
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
 *
 * A packet can also be done within the parse that produced it (a QoS 0 PUBLISH is): aedes' callback
 * would then read the stream and parse the next chunk inside the running parse, and mqtt-packet's
 * parser, a state machine over one buffer list, is not reentrant (a QoS 0 flood read that way was
 * cut mid-packet: "Invalid header flag bits"). Such a callback only counts the packet; the read that
 * it would have done happens after the parse, on the next turn of the event loop.
 */
export function parseOneBatchAtATime (client: Client): void {
  const c = internals(client)
  const readOn = c._nextBatch
  c._wharfReadOn = readOn
  c._wharfReadPending = false
  const parser = c._parser
  parser._wharfParsing = false
  // the only per-connection function: aedes' handlers call it without `this`; 'readable' calls it on the stream
  c._nextBatch = function nextBatch (this: unknown, err?: Error | null): void {
    if (this === c.conn) { if (c._parsingBatch <= 0 && parser._wharfParsing !== true) readOn(); return }
    if (parser._wharfParsing !== true || (err !== undefined && err !== null) || c._paused === true) { readOn(err ?? undefined); return }
    c._parsingBatch--
    if (c._parsingBatch <= 0) {
      c._parsingBatch = 0
      if (c._wharfReadPending !== true) { c._wharfReadPending = true; setImmediate(readLater, client) }
    }
  }
  parser.parse = parseOnce
  // aedes starts at 1 so that its first 'readable' (taken for a finished packet) brings it to 0
  if (c._parsingBatch === 1) c._parsingBatch = 0
  c.conn.removeListener('readable', readOn)
  c.conn.on('readable', c._nextBatch)
}

/** The read a batch's last packet asked for, on the next turn (shared by every connection). */
function readLater (client: Client): void {
  const c = internals(client)
  c._wharfReadPending = false
  if (client.closed || c._paused === true || c._parsingBatch > 0) return
  // aedes' callback takes one packet off the count, then reads when it reaches 0
  c._parsingBatch = 1
  c._wharfReadOn?.()
}

/** mqtt-packet's parse, never reentrant: bytes handed over during a parse join the buffer list the running parse reads. */
function parseOnce (this: ParserInternals, buf: Buffer): number {
  if (this._wharfParsing === true) { if (buf.length > 0) this._list.append(buf); return this._list.length }
  this._wharfParsing = true
  try {
    return (Object.getPrototypeOf(this) as ParserInternals).parse.call(this, buf)
  } finally {
    this._wharfParsing = false
  }
}

/** The client connected to this broker under `id`, if any. */
export function connectedClient (aedes: Aedes, id: string): Client | undefined {
  return (aedes as unknown as BrokerInternals).clients[id]
}

/** The client's granted subscriptions (filter -> QoS), as aedes keeps them. */
export function grantedSubscriptions (client: Client): Readonly<Record<string, { qos: number }>> {
  return internals(client).subscriptions
}

/**
 * What an MQTT 5 client's CONNECT asked of the server's deliveries to it (aedes 2 keeps both,
 * unused): Receive Maximum (QoS 1/2 PUBLISHes unacknowledged at once; 65535 when absent) and
 * Maximum Packet Size (bytes of a whole packet; undefined = no limit). Undefined for 3.1.1 and
 * before the CONNECT went through.
 */
export function flowLimitsOf (client: Client): { receiveMaximum: number; maximumPacketSize: number | undefined } | undefined {
  if (client.version !== 5) return undefined
  const c = client as unknown as { receiveMaximum?: number; maximumPacketSize?: number }
  return { receiveMaximum: c.receiveMaximum ?? 65535, maximumPacketSize: c.maximumPacketSize }
}

const held = new WeakMap<AedesSubscription, HeldSubscription>()

/**
 * The client's granted subscriptions with their MQTT 5 options, as aedes keeps them (it makes a
 * new Subscription object on every change, so each is converted once).
 */
export function * heldSubscriptions (client: Client): Generator<[string, HeldSubscription]> {
  const subs = internals(client).subscriptions
  for (const filter in subs) {
    const sub = subs[filter] as AedesSubscription
    let h = held.get(sub)
    if (h === undefined) held.set(sub, h = { ...subscriptionOptionsOf({ nl: sub.nl, rap: sub.rap, rh: sub.rh, id: sub.si }), qos: sub.qos as Qos })
    yield [filter, h]
  }
}

/** MQTT 5 Clean Start, or clean session for MQTT 3.1/3.1.1: the previous session is discarded. */
export function cleanStartOf (client: Client): boolean {
  return client.version === 5 ? internals(client)._cleanStart === true : client.clean
}

/**
 * MQTT 5 Server Keep Alive, set before aedes handles the CONNECT (preConnect). Not aedes'
 * `keepaliveLimit` option: with it aedes refuses every 3.1.1 client asking more (or keep-alive 0)
 * with CONNACK return code 6, which 3.1.1 does not have.
 */
export function imposeServerKeepAlive (client: Client, seconds: number): void {
  internals(client)._serverKeepAlive = seconds
}

/** `hook` sees every packet the client sends, parsed, before aedes handles it (and may change it). */
export function beforeAedesHandles (client: Client, hook: PacketHook): void {
  internals(client)._parser.prependListener('packet', listenerOf(hook))
}

/** Sees one packet of `client` before aedes handles it; one function for every connection. */
export type PacketHook = (client: Client, packet: { cmd: string }) => void

/** The parser listener of each hook, made once: it finds the client on the parser (aedes' `_parser.client`). */
const listeners = new WeakMap<PacketHook, (this: ParserInternals, packet: unknown) => void>()

function listenerOf (hook: PacketHook): (this: ParserInternals, packet: unknown) => void {
  let listener = listeners.get(hook)
  if (listener === undefined) {
    listener = function beforeAedes (this: ParserInternals, packet: unknown): void { hook(this.client, packet as { cmd: string }) }
    listeners.set(hook, listener)
  }
  return listener
}

/**
 * End a connection from the server: an MQTT 5 client gets a DISCONNECT with `reasonCode` first
 * (aedes closes right after writing it, so the corked stream is flushed here); MQTT 3.1.1 has no
 * server DISCONNECT, the connection is closed. `done` once closed.
 */
export function endConnection (client: Client, reasonCode: number, done?: () => void): void {
  if (client.closed) { done?.(); return }
  if (client.version !== 5) { client.close(done); return }
  client.disconnect({ reasonCode }, () => done?.())
  const conn = client.conn as Duplex & { writableCorked?: number }
  while ((conn.writableCorked ?? 0) > 0) conn.uncork()
}

/** Calls `listener` with every packet the client sends (after aedes' own handling was queued). */
export function onIncomingPacket (client: Client, listener: (packet: { cmd: string; length: number; qos?: number }) => void): void {
  internals(client)._parser.on('packet', listener)
}

/** The Session Expiry Interval an MQTT 5 client's CONNECT asked for (undefined before CONNECT, or 3.1.1). */
export function connectSessionExpiryOf (client: Client): number | undefined {
  return internals(client)._connectSessionExpiryInterval
}

/** Did the client end its connection with DISCONNECT? */
export function disconnectedCleanly (client: Client): boolean {
  return internals(client)._disconnected
}

/** The keepalive the client asked for in CONNECT, in seconds (0 = none). */
export function keepaliveOf (client: Client): number {
  const ms = internals(client)._keepaliveInterval
  return ms > 0 ? Math.round((ms - 1) / 1500) : 0
}

/** Is `packet` the will aedes is publishing for `client` (the connection is ending abnormally)? */
export function isWillOf (client: Client, packet: PublishPacket): boolean {
  return internals(client).will === packet
}

/** aedes-packet copies a `properties` key even when undefined: only MQTT 5 messages get one. */
function withProperties<T extends object> (packet: T, properties: WireProperties | undefined): T {
  if (properties !== undefined) (packet as T & { properties: WireProperties }).properties = properties
  return packet
}

/**
 * A PUBLISH for aedes' emitter (it gets the broker's id and the next packet counter); MQTT 5
 * `properties` go to v5 subscribers (aedes copies them per delivery, never changes them in place).
 */
export function emitterPacket (aedes: Aedes, message: { topic: string; payload: Buffer | string; qos: Qos }, properties?: WireProperties): AedesPacket {
  return new Packet(withProperties({ cmd: 'publish', topic: message.topic, payload: message.payload, qos: message.qos, retain: false, dup: false }, properties), aedes)
}

/**
 * A PUBLISH Wharf hands to one client itself (a resume, a shared-subscription message): without a
 * broker id, so aedes' per-client de-duplication of emitter packets leaves it alone.
 */
export function directPacket (aedes: Aedes, message: { topic: string; payload: Buffer | string }, qos: Qos, dup: boolean, messageId?: number, properties?: WireProperties): AedesPacket {
  const packet = new Packet(withProperties({ cmd: 'publish', topic: message.topic, payload: message.payload, qos, retain: false, dup }, properties), aedes)
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

/** The topic aliases a client set (MQTT 5), as aedes' PUBLISH handler uses them: `get` and `set` only. */
class LazyTopicAliases {
  private map: Map<number, string> | undefined
  get (alias: number): string | undefined { return this.map?.get(alias) }
  set (alias: number, topic: string): this {
    (this.map ??= new Map()).set(alias, topic)
    return this
  }
}

/**
 * aedes 2.0's client makes a Map for the topic aliases its client may set on every connection,
 * MQTT 3.1.1 ones included (~0.4 KB of an idle connection's heap); this one makes it at the first
 * alias. aedes' PUBLISH handler only calls `get` and `set` on it (checked in `checkAedes`).
 */
export function lazyTopicAliases (client: Client): void {
  const c = client as unknown as { _topicAliases?: unknown }
  if (c._topicAliases instanceof Map && c._topicAliases.size === 0) c._topicAliases = new LazyTopicAliases()
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

/** What Wharf watches in a connection's incoming bytes, packet by packet. */
export interface IncomingWatch {
  /** a remaining length above this closes the connection before the body is buffered */
  maxPacketSize: number
  /** a packet's remaining length is above `maxPacketSize` (its whole size in `bytes`): the connection ends */
  onTooLarge: (client: Client, cmd: string, bytes: number) => void
  /** the fixed header of a packet was read: its type and whole size (fixed header included) */
  onHeader: (client: Client, cmd: string, bytes: number) => void
  /** a whole packet was parsed, before aedes handles it (may change it, e.g. a SUBSCRIBE's QoS) */
  onPacket?: PacketHook | undefined
}

/**
 * Watches a connection's packets as mqtt-packet parses them. mqtt-packet 9 has no maximum packet
 * size and buffers a packet whole before it parses it, so a PUBLISH announcing 200 MB would be
 * held in memory as its bytes arrive. Here the remaining length is checked the moment the parser
 * has read it (`_parseLength`, before any byte of the body): above `maxPacketSize` parsing stops
 * and aedes 2's own refusal ends the connection (DISCONNECT 0x95 to a connected MQTT 5 client, as
 * [MQTT-3.2.2-15] wants; a close otherwise). aedes checks the same bound itself (its
 * `maximumPacketSize`, set to the same size: `aedesMqtt5Options`), but only once a whole socket
 * read was parsed. Per-instance: other parsers are left alone.
 *
 * It is also where a paused client (`pauseReading`) stops: aedes parses a whole socket read at
 * once, so a pause decided at one packet would otherwise let every packet after it in the same
 * read through (up to 64 KiB of them). Parsing stops before the next packet's length instead, its
 * bytes stay in the parser, and `resumeReading` parses on from there.
 */
export function watchIncoming (client: Client, watch: IncomingWatch): void {
  const parser = internals(client)._parser
  parser._wharfWatch = watch
  parser._parseLength = parseLengthWithLimit
  if (watch.onPacket !== undefined) parser.prependListener('packet', listenerOf(watch.onPacket))
}

/** mqtt-packet's `_parseLength` with the connection's watch applied (shared by every connection: the parser knows its client and watch). */
function parseLengthWithLimit (this: ParserInternals): boolean {
  const client = this.client
  const c = internals(client)
  if (c._paused === true) return false
  if (!(Object.getPrototypeOf(this) as ParserInternals)._parseLength.call(this)) return false
  const watch = this._wharfWatch as IncomingWatch
  const { cmd, length } = this.packet
  const bytes = packetBytes(length)
  if (length > watch.maxPacketSize) {
    watch.onTooLarge(client, cmd, bytes)
    // an MQTT 5 CONNECT too large: CONNACK 0x95 (3.2.2.2), when its protocol level is among the bytes read
    if (cmd === 'connect' && !client.connecting && !client.connected && connectProtocolLevel(this._list) === 5) {
      refuseConnectV5(client, REASON.packetTooLarge)
      return false
    }
    // aedes' own refusal, once per connection: DISCONNECT 0x95 to a connected MQTT 5 client, else the connection is closed
    c.rejectPacketTooLarge(bytes)
    return false
  }
  watch.onHeader(client, cmd, bytes)
  return true
}

/**
 * The protocol level of a CONNECT whose fixed header was just read, from its variable header's
 * first bytes (protocol name, then the level), if they have arrived; undefined otherwise.
 */
function connectProtocolLevel (list: ParserInternals['_list']): number | undefined {
  if (list.length < 2) return undefined
  const nameLength = (list.get(0) << 8) | list.get(1)
  return list.length > 2 + nameLength ? list.get(2 + nameLength) : undefined
}

/**
 * Stops aedes reading the client's socket (aedes' own `pause()`: its read loop returns early).
 * What was already read is still handled; the socket's buffer fills and TCP pushes back.
 */
export function pauseReading (client: Client): void {
  internals(client).pause()
}

const NOTHING = Buffer.alloc(0)
const pausedNow = (c: ClientInternals): boolean => c._paused === true

/**
 * Parses and reads again: first the packets held back in the parser (`watchIncoming`), then, if
 * that did not pause the client again, the socket. Not aedes' `resume()`: aedes counts the packets
 * of a read in `_parsingBatch` and reads again when the count reaches 0, but a packet that
 * finishes while paused does not count down, so after a pause with packets in flight `resume()`
 * would never read again (the client stalls for good). The count starts over here; packets still
 * in flight then count below 0, which aedes clamps, as it does after any 'readable' event.
 */
export function resumeReading (client: Client): void {
  const c = internals(client)
  if (c._paused !== true) return
  c._paused = false
  if (client.closed) return
  c._parsingBatch = 0
  if (c._parser._list.length > 0) c._parser.parse(NOTHING)
  // parsing may have paused the client again (a packet over its rate) or closed it
  if (c._parsingBatch > 0 || pausedNow(c) || client.closed) return
  c._parsingBatch = 1
  c._nextBatch()
}

/** A paused client sends nothing aedes reads, PINGREQ included: keep its keep-alive timer from firing. */
export function refreshKeepalive (client: Client): void {
  internals(client)._keepaliveTimer?.refresh()
}

/**
 * Forgets an inbound QoS 2 PUBLISH whose PUBREL did not come (`mqtt.await_rel_timeout`): its
 * stored id is removed, which frees its slot of the inbound window (`hardenIncomingStore`). The
 * message is in Kafka already; a PUBREL that comes later still gets its PUBCOMP, a retransmission
 * is taken as a new message.
 */
export async function expireAwaitingRel (aedes: Aedes, client: Client, messageId: number): Promise<void> {
  await incomingPersistence(aedes).incomingDelPacket(client, { messageId }).catch(() => undefined)
}

/** The limits aedes applies itself, by the text of the error it closes the connection with. */
const AEDES_REFUSALS: Array<[RegExp, 'idle_timeout' | 'topic_levels']> = [
  [/^connect did not arrive in time$/, 'idle_timeout'],
  [/^topic has too many levels$/, 'topic_levels']
]

/**
 * Which of aedes' own limits closed a connection with `err` (aedes 2.0.0-beta.1's messages), if
 * any. QoS 2 awaiting PUBREL is Wharf's own bound (`InboundWindow`), counted where it refuses.
 */
export function aedesRefusal (err: Error): 'idle_timeout' | 'topic_levels' | undefined {
  return AEDES_REFUSALS.find(([re]) => re.test(err.message))?.[1]
}
