import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import type { Packet } from 'mqtt-packet'
import { fixedHeaderBytes } from '../protocol/packet-size.js'
import { utf8Length, writeUtf8 } from '../util/short-utf8.js'

/*
 * How every MQTT packet reaches a client's socket (issue 18). aedes writes each packet through
 * mqtt-packet's `writeToStream`, which hands the socket five to eight small chunks per PUBLISH
 * (fixed header, length, topic length, topic, packet id, properties, payload), each a `write()`
 * through the stream machinery and an iovec of the `writev` that follows. Here the packet is
 * encoded into one buffer first (mqtt-packet's own `generate`, the same bytes) and written once.
 * mqtt-packet corks the stream until the next tick; here it stays corked until the end of the
 * event loop's turn (`setImmediate`), so that everything one turn writes to a socket (the
 * deliveries of every fetch response and the PUBACKs of every Kafka acknowledgement that turn
 * handled) goes out in one system call, in the order written: on loopback a `writev` costs the
 * writer 15-20 µs of CPU however few bytes it carries. Part of the aedes-internals seam: it replaces the function
 * on the mqtt-packet module aedes shares with Wharf (checked at start, `missingForWire`), and must
 * be the innermost wrapper: mqtt5-wire.ts' packet rewrites wrap it (installed on the first
 * connection, after the edge installs this).
 */

const require = createRequire(import.meta.url)

type WriteToStream = (packet: Packet, stream: Duplex, opts?: { protocolVersion?: number }) => boolean
interface MqttPacketModule {
  writeToStream: WriteToStream & { wharfWrapped?: true }
  generate: (packet: Packet, opts?: { protocolVersion?: number }) => Buffer
}

const mqttPacket = require('mqtt-packet') as MqttPacketModule

/**
 * Payloads above this are written as mqtt-packet writes them (the payload as its own chunk, not
 * copied): copying a large payload costs more than the chunks it saves.
 */
const COPY_PAYLOAD_UP_TO = 16 * 1024

/** Streams corked this turn, uncorked together at its end. */
const corked = new Set<Duplex>()
let flushScheduled = false

function flush (): void {
  flushScheduled = false
  for (const stream of corked) {
    // every packet corked once (the traffic meter counts packets by their cork); mqtt-packet's own
    // next-tick uncork of a large payload finds nothing left to undo, which is harmless
    while (stream.writableCorked > 0) stream.uncork()
  }
  corked.clear()
}

/** Corks `stream` until the end of this turn of the event loop. */
function corkForTurn (stream: Duplex): void {
  stream.cork()
  corked.add(stream)
  if (!flushScheduled) {
    flushScheduled = true
    setImmediate(flush)
  }
}

/**
 * The two packets of every message, encoded straight into one buffer without mqtt-packet's
 * per-packet accumulator (an EventEmitter and two arrays) and debug calls: a PUBLISH without MQTT 5
 * properties (a string topic, a Buffer or string payload), and a 3.1.1 PUBACK. Byte-identical to
 * mqtt-packet's `generate` (test/unit/packet-writer.test.ts); undefined for anything else.
 */
export function encodeHot (packet: Packet, version: number): Buffer | undefined {
  if (packet.cmd === 'puback') {
    if (version === 5 || typeof packet.messageId !== 'number') return undefined
    const out = Buffer.allocUnsafe(4)
    out[0] = 0x40
    out[1] = 2
    out.writeUInt16BE(packet.messageId, 2)
    return out
  }
  if (packet.cmd !== 'publish') return undefined
  const { topic, messageId, properties } = packet
  const qos = packet.qos ?? 0
  if (typeof topic !== 'string' || topic === '' || qos > 2 || (qos > 0 && typeof messageId !== 'number')) return undefined
  if (version === 5 && properties !== undefined && Object.keys(properties).length > 0) return undefined
  const payload = packet.payload ?? EMPTY
  const payloadBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  const topicBytes = utf8Length(topic)
  const length = 2 + topicBytes + (qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0) + payloadBytes
  const out = Buffer.allocUnsafe(fixedHeaderBytes(length) + length)
  out[0] = 0x30 | (packet.dup === true ? 0x08 : 0) | (qos << 1) | (packet.retain === true ? 1 : 0)
  let o = 1
  let n = length
  do {
    let digit = n % 128
    n = Math.floor(n / 128)
    if (n > 0) digit |= 0x80
    out[o++] = digit
  } while (n > 0)
  out.writeUInt16BE(topicBytes, o)
  o += 2
  o += writeUtf8(out, topic, o)
  if (qos > 0) { out.writeUInt16BE(messageId as number, o); o += 2 }
  if (version === 5) out[o++] = 0 // no properties
  if (typeof payload === 'string') out.write(payload, o, 'utf8')
  else payload.copy(out, o)
  return out
}

const EMPTY = Buffer.alloc(0)

/** Installed in this process (other wrappers may sit on top of it since). */
let installed = false

/**
 * Makes every MQTT packet one write of one buffer. Idempotent; false (and nothing changed) when
 * another wrapper was installed before it, since that one would then be bypassed.
 */
export function writeWholePackets (): boolean {
  if (installed) return true
  const original = mqttPacket.writeToStream
  if (original.wharfWrapped === true) return false
  const { generate } = mqttPacket
  const whole: MqttPacketModule['writeToStream'] = function writeToStream (this: unknown, packet, stream, opts) {
    if (packet.cmd === 'publish' && packet.payload !== undefined && packet.payload.length > COPY_PAYLOAD_UP_TO) {
      return original.call(this, packet, stream, opts)
    }
    let bytes: Buffer | undefined
    try {
      bytes = encodeHot(packet, opts?.protocolVersion ?? 4) ?? generate(packet, opts)
    } catch {
      // an invalid packet: mqtt-packet destroys the stream with the reason, as before
      return original.call(this, packet, stream, opts)
    }
    if (typeof stream.cork === 'function') corkForTurn(stream)
    return stream.write(bytes)
  }
  mqttPacket.writeToStream = whole
  installed = true
  return true
}
