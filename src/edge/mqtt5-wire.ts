import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import type { Duplex } from 'node:stream'
import type { Client } from 'aedes'
import type { IConnackPacket, IPublishPacket, Packet } from 'mqtt-packet'
import { TopicAliases } from '../protocol/topic-aliases.js'
import { fixedHeaderBytes } from '../protocol/packet-size.js'

/*
 * What Wharf changes in what aedes 2.0.0-beta.1 writes to MQTT 5 clients, where aedes has no
 * option for it. Part of the aedes-internals seam (docs/architecture.md, "MQTT 5 engine"). aedes
 * writes every packet through mqtt-packet's `writeToStream`, called on the module object it shares
 * with Wharf (checked at start: `missingForWire`), so wrapping that one function changes what goes
 * out without patching aedes. Only the streams of connections Wharf handed to aedes are touched.
 */

const require = createRequire(import.meta.url)

type WriteToStream = (packet: Packet, stream: Duplex, opts?: { protocolVersion?: number }) => boolean
interface MqttPacketModule {
  writeToStream: WriteToStream & { wharfWrapped?: true }
  generate: (packet: Packet, opts?: { protocolVersion?: number }) => Buffer
}

const mqttPacket = require('mqtt-packet') as MqttPacketModule

/** CONNACK properties Wharf advertises on top of what aedes sets from its options. */
export type AdvertisedProperties = Pick<NonNullable<IConnackPacket['properties']>,
  'retainAvailable' | 'wildcardSubscriptionAvailable' | 'subscriptionIdentifiersAvailable' | 'sharedSubscriptionAvailable' | 'maximumQoS'>

const advertised = new WeakMap<Duplex, AdvertisedProperties>()

/** Streams whose client resumed a stored session (Session Present = 1 in its CONNACK). */
const resumed = new WeakSet<Duplex>()

/**
 * The client on `stream` resumed a stored session: its successful CONNACK says Session Present
 * [MQTT-3.2.2-2], whether or not the session has subscriptions. aedes sets the flag only when it
 * restored at least one subscription (its `restoreSubs`), so a resumed session without any was
 * answered 0, and a client that trusts the flag would start over (every MQTT version).
 */
export function sessionPresentOn (stream: Duplex): void {
  installWrap()
  resumed.add(stream)
}

/**
 * aedes hard-codes `sharedSubscriptionAvailable: false` in every MQTT 5 CONNACK (its shared
 * subscriptions would be per instance); Wharf's are cluster-wide. A successful v5 CONNACK on
 * `stream` gets `properties` merged in.
 */
export function advertiseOn (stream: Duplex, properties: AdvertisedProperties): void {
  installWrap()
  advertised.set(stream, properties)
}

/** Properties of one connection's successful v5 CONNACK (enhanced authentication's method and data). */
const connackOf = new WeakMap<Duplex, NonNullable<IConnackPacket['properties']>>()

/** The successful MQTT 5 CONNACK on `stream` carries `properties` too. */
export function addToConnack (stream: Duplex, properties: NonNullable<IConnackPacket['properties']>): void {
  installWrap()
  connackOf.set(stream, { ...connackOf.get(stream), ...properties })
}

function installWrap (): void {
  const original = mqttPacket.writeToStream
  if (original.wharfWrapped === true) return
  const wrapped: MqttPacketModule['writeToStream'] = function writeToStream (this: unknown, packet, stream, opts) {
    if (packet.cmd === 'connack' && (packet.returnCode ?? 0) === 0 && (packet.reasonCode ?? 0) === 0) {
      if (resumed.has(stream)) packet.sessionPresent = true
      const extra = opts?.protocolVersion === 5 ? advertised.get(stream) : undefined
      if (extra !== undefined) packet.properties = { ...packet.properties, ...extra }
      const own = connackOf.get(stream)
      if (own !== undefined) packet.properties = { ...packet.properties, ...own }
    } else if (packet.cmd === 'suback' && opts?.protocolVersion === 5) {
      subackWithCodes(packet, stream)
    } else if (packet.cmd === 'publish' && opts?.protocolVersion === 5) {
      packet = withTopicAlias(packet, stream)
    } else if ((packet.cmd === 'puback' || packet.cmd === 'pubrec') && opts?.protocolVersion === 5) {
      ackWithCode(packet, stream)
    }
    return original.call(this, packet, stream, opts)
  }
  wrapped.wharfWrapped = true
  mqttPacket.writeToStream = wrapped
}

/**
 * Refuses an MQTT 5 CONNECT with any CONNACK reason code (aedes maps only 3.1.1's return codes 2-5):
 * the CONNACK is written here, the connection closed, and aedes, which then finds the client
 * closed when its authenticate hook calls back, writes nothing more. `reasonString` is sent when
 * given (`mqtt.reason_strings`), also to a client that asked for no problem information: a CONNACK
 * may carry it [MQTT-3.1.2-29].
 */
export function refuseConnectV5 (client: Client, reasonCode: number, reasonString?: string): void {
  const packet: IConnackPacket = { cmd: 'connack', sessionPresent: false, reasonCode }
  if (reasonString !== undefined) packet.properties = { reasonString }
  client.conn.write(mqttPacket.generate(packet, { protocolVersion: 5 }))
  client.close()
}

/** What the wire changes need and are not there (aedes and Wharf on one mqtt-packet module). */
export function missingForWire (): string[] {
  const fromAedes = require.resolve('mqtt-packet', { paths: [dirname(require.resolve('aedes'))] })
  return fromAedes === require.resolve('mqtt-packet') ? [] : [`one mqtt-packet for aedes and Wharf (aedes has ${fromAedes})`]
}

/** SUBACK reason codes Wharf decided for some filters of a SUBSCRIBE, by packet id and index. */
const subackCodes = new WeakMap<Duplex, Map<number, Map<number, number>>>()

/**
 * A SUBACK to an MQTT 5 client carries `code` for the filter at `index` of SUBSCRIBE `messageId`
 * (aedes can only say 0x87 for a filter its hook refused).
 */
export function overrideSubackCode (stream: Duplex, messageId: number, index: number, code: number): void {
  installWrap()
  let byId = subackCodes.get(stream)
  if (byId === undefined) subackCodes.set(stream, byId = new Map())
  let codes = byId.get(messageId)
  if (codes === undefined) byId.set(messageId, codes = new Map())
  codes.set(index, code)
}

/** Applies `overrideSubackCode` to a SUBACK about to be written to `stream`. */
function subackWithCodes (packet: Packet, stream: Duplex): void {
  if (packet.cmd !== 'suback' || packet.messageId === undefined) return
  const byId = subackCodes.get(stream)
  const codes = byId?.get(packet.messageId)
  if (byId === undefined || codes === undefined) return
  byId.delete(packet.messageId)
  packet.granted = packet.granted.map((g, i) => codes.get(i) ?? g) as typeof packet.granted
}

/** The outbound topic aliases of each MQTT 5 connection whose client accepts them. */
const aliases = new WeakMap<Duplex, TopicAliases>()

/**
 * The server sends topic aliases on `stream` (its client's CONNECT had Topic Alias Maximum > 0):
 * up to `max` of them, the table new with the connection (aliases never outlive it [MQTT-3.3.2-7]).
 */
export function aliasTopicsOn (stream: Duplex, max: number): void {
  if (max <= 0) return
  installWrap()
  aliases.set(stream, new TopicAliases(max))
}

/**
 * aedes does not send topic aliases. A PUBLISH to a client with an alias table goes out with the
 * alias: its topic and the alias the first time (and when an alias is re-mapped), an empty topic
 * and the alias afterwards. A copy: aedes' packet (and the properties it shares with other
 * subscribers) is left as it was.
 */
function withTopicAlias (packet: IPublishPacket, stream: Duplex): IPublishPacket {
  const table = aliases.get(stream)
  const alias = table?.aliasFor(packet.topic)
  if (alias === undefined) return packet
  return { ...packet, topic: alias.known ? '' : packet.topic, properties: { ...packet.properties, topicAlias: alias.alias } }
}

/** PUBACK/PUBREC reason codes Wharf decided for PUBLISHes it refused, by packet id. */
const ackCodes = new WeakMap<Duplex, Map<number, number>>()

/**
 * The PUBACK or PUBREC for the MQTT 5 PUBLISH `messageId` on `stream` carries `code` (aedes answers
 * every refused PUBLISH with 0x87, not authorized): call before the publish hook calls back with
 * its error.
 */
export function overrideAckCode (stream: Duplex, messageId: number, code: number): void {
  installWrap()
  let byId = ackCodes.get(stream)
  if (byId === undefined) ackCodes.set(stream, byId = new Map())
  byId.set(messageId, code)
}

/** Applies `overrideAckCode` to a failed PUBACK/PUBREC about to be written to `stream`. */
function ackWithCode (packet: Packet, stream: Duplex): void {
  if ((packet.cmd !== 'puback' && packet.cmd !== 'pubrec') || packet.messageId === undefined) return
  const byId = ackCodes.get(stream)
  const code = byId?.get(packet.messageId)
  if (byId === undefined || code === undefined) return
  byId.delete(packet.messageId)
  if ((packet.reasonCode ?? 0) >= 0x80) packet.reasonCode = code
}

const NO_PAYLOAD = Buffer.alloc(0)

/**
 * The size of `packet` on the wire as an MQTT 5 PUBLISH (fixed header included), with its topic
 * spelled out. The packet is encoded without its payload (the properties vary too much to add up
 * by hand) and the payload's length added.
 */
export function publishWireSize (packet: { topic: string; payload: Buffer | string; qos: number; properties?: object | undefined }): number {
  const head = mqttPacket.generate({
    cmd: 'publish', topic: packet.topic, payload: NO_PAYLOAD, qos: packet.qos as 0 | 1 | 2, retain: false, dup: false, messageId: 1,
    properties: { ...packet.properties, topicAlias: undefined }
  } as IPublishPacket, { protocolVersion: 5 })
  const headRemaining = head.length - fixedHeaderSize(head.length)
  const remaining = headRemaining + (typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length)
  return remaining + fixedHeaderBytes(remaining)
}

/** The fixed header's size of an encoded packet of `total` bytes. */
function fixedHeaderSize (total: number): number {
  for (let n = 2; n <= 5; n++) {
    const remaining = total - n
    if (remaining < 128 ** (n - 1)) return n
  }
  return 5
}
