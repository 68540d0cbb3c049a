/**
 * What the fuzzer sends on one connection, derived from (seed, connection index) only: a CONNECT
 * (or, for some connections, a bad first packet instead), a run of valid packets with at most one
 * bad case among them, and a PINGREQ whose answer tells the connection is still served. Each bad
 * case names its category and what a conforming server does with it (`close`, `open`, or `any`
 * when the bytes are random or the stream loses its framing).
 */
import { ack, connect, DISCONNECT, packet, PINGREQ, publish, str, subscribe, u16, unsubscribe, varint, type ConnectFields } from './mqtt-bytes.js'
import { Rng } from './rng.js'

export type Expect = 'close' | 'open' | 'any'

export interface Plan {
  index: number
  /** every packet in order (CONNECT first unless the bad case replaces it, PINGREQ last) */
  packets: Buffer[]
  /** the one bad case, if any */
  bad?: { category: string; expect: Expect }
  /** how the bytes are written: all at once, one TCP write per byte, or in random chunks */
  split: 'none' | 'bytes' | 'chunks'
  /** seeds the chunk sizes of a `chunks` split */
  chunkSeed: number
  /** after the PINGRESP, drop the TCP connection (its will fires) instead of sending DISCONNECT */
  abrupt: boolean
}

interface Ctx { rng: Rng; index: number; clientId: string; seed: number }
type BadCase = (c: Ctx) => Buffer
interface Category { name: string; expect: Expect; make: BadCase }

/** invalid UTF-8 and what MQTT forbids in a string: a lone continuation byte, an overlong NUL, a surrogate, 0xff, U+0000 */
const BAD_UTF8 = [[0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0xfe, 0xfe], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x00]]
function badUtf8 (rng: Rng, prefix: string): Buffer {
  return Buffer.concat([Buffer.from(prefix), Buffer.from(rng.pick(BAD_UTF8)), Buffer.from(rng.chance(0.5) ? 'x' : '')])
}

function validConnect (c: Ctx, over: Partial<ConnectFields> = {}): Buffer {
  return connect({ clientId: c.clientId, clean: true, keepalive: 60, ...over })
}

function topic (c: Ctx): string { return `fz/${c.seed}/${c.index}/${c.rng.int(8)}` }

/** A valid packet a connected client may send. */
function validPacket (c: Ctx, id: number): Buffer {
  const { rng } = c
  switch (rng.int(10)) {
    case 0: case 1: case 2: return publish(topic(c), rng.bytes(rng.int(64)), 0, { retain: rng.chance(0.02) })
    case 3: case 4: return publish(topic(c), rng.bytes(rng.int(300)), 1, { id })
    case 5: return Buffer.concat([publish(topic(c), rng.bytes(rng.int(32)), 2, { id }), ack(6, id)])
    case 6: return subscribe(id, [{ filter: rng.pick([`fz/${c.seed}/${c.index}/#`, `fz/${c.seed}/${c.index}/+`, topic(c)]), qos: rng.int(3) }])
    case 7: return unsubscribe(id, [`fz/${c.seed}/${c.index}/#`])
    case 8: return ack(4, rng.between(1, 65535))
    // no PINGREQ here: the plan's last packet is the one PINGREQ, whose answer says the connection is still served
    default: return publish(topic(c), Buffer.alloc(0), 0, { retain: rng.chance(0.1) })
  }
}

/** A valid packet a client must not send before its CONNECT. */
function anyNonConnect (c: Ctx): Buffer {
  const { rng } = c
  switch (rng.int(6)) {
    case 0: return publish(topic(c), rng.bytes(8), rng.int(3), { id: 1 })
    case 1: return subscribe(1, [{ filter: topic(c), qos: 1 }])
    case 2: return unsubscribe(1, [topic(c)])
    case 3: return ack(rng.pick([4, 5, 6, 7] as const), 1)
    case 4: return PINGREQ
    default: return DISCONNECT
  }
}

/** The first packet is not a well-formed CONNECT. */
const PRE_CONNECT: Category[] = [
  { name: 'packet before CONNECT', expect: 'close', make: anyNonConnect },
  { name: 'CONNECT protocol level not 4', expect: 'close', make: c => validConnect(c, { level: c.rng.pick([0, 1, 2, 3, 5, 6, 127, 255]) }) },
  { name: 'CONNECT protocol name wrong', expect: 'close', make: c => validConnect(c, { protocolName: c.rng.pick<string | Buffer>(['MQTX', 'mqtt', '', 'MQIsdp', c.rng.bytes(4)]) }) },
  { name: 'CONNECT client id invalid UTF-8', expect: 'close', make: c => validConnect(c, { clientId: badUtf8(c.rng, 'fz-') }) },
  { name: 'CONNECT user name invalid UTF-8', expect: 'close', make: c => validConnect(c, { username: badUtf8(c.rng, 'u') }) },
  { name: 'CONNECT will topic invalid UTF-8', expect: 'close', make: c => validConnect(c, { will: { topic: badUtf8(c.rng, 'w/'), payload: Buffer.from('x'), qos: 0, retain: false } }) },
  { name: 'CONNECT will topic wildcard', expect: 'close', make: c => validConnect(c, { will: { topic: c.rng.pick(['w/#', 'w/+/x', '#']), payload: Buffer.from('x'), qos: 0, retain: false } }) },
  { name: 'CONNECT reserved flag bit', expect: 'close', make: c => validConnect(c, { extraFlags: 0x01 }) },
  { name: 'CONNECT will QoS 3', expect: 'close', make: c => validConnect(c, { will: { topic: `fz/${c.seed}/will`, payload: Buffer.from('x'), qos: 3, retain: false } }) },
  { name: 'CONNECT will bits without will', expect: 'close', make: c => validConnect(c, { extraFlags: c.rng.pick([0x08, 0x10, 0x20, 0x38]) }) },
  { name: 'CONNECT password without user name', expect: 'close', make: c => validConnect(c, { password: Buffer.from('secret') }) },
  { name: 'CONNECT empty client id, clean 0', expect: 'close', make: c => validConnect(c, { clientId: '', clean: false }) },
  { name: 'CONNECT header flags set', expect: 'close', make: c => { const b = validConnect(c); b[0] = 0x10 | c.rng.between(1, 15); return b } },
  { name: 'CONNECT 65535-byte client id', expect: 'any', make: c => validConnect(c, { clientId: 'f'.repeat(65535) }) }
]

/** A wrong remaining length on an otherwise valid packet. */
function reframed (c: Ctx, delta: number): Buffer {
  const body = publish(topic(c), c.rng.bytes(c.rng.int(40)), 0).subarray(2) // short packets: the varint is one byte
  return packet(3, 0, body, varint(Math.max(0, body.length + delta)))
}

/** One bad case after a good CONNECT. */
const POST_CONNECT: Category[] = [
  { name: 'second CONNECT', expect: 'close', make: c => validConnect(c) },
  { name: 'server-only packet type', expect: 'close', make: c => packet(c.rng.pick([2, 9, 11, 13]), 0, c.rng.pick([Buffer.from([0, 0]), u16(1), Buffer.alloc(0), Buffer.from([0, 1, 0])])) },
  { name: 'reserved packet type 0/15', expect: 'close', make: c => packet(c.rng.pick([0, 15]), c.rng.int(16), c.rng.bytes(c.rng.int(8))) },
  { name: 'reserved flag bits', expect: 'close', make: c => c.rng.pick([
    () => ack(c.rng.pick([4, 5, 7] as const), 1, c.rng.between(1, 15)),
    () => ack(6, 1, c.rng.pick([0, 1, 3, 8, 15])),
    () => subscribe(1, [{ filter: topic(c), qos: 0 }], c.rng.pick([0, 1, 3, 15])),
    () => unsubscribe(1, [topic(c)], c.rng.pick([0, 1, 3, 15])),
    () => packet(c.rng.pick([12, 14]), c.rng.between(1, 15), Buffer.alloc(0))
  ])() },
  { name: 'PUBLISH QoS 3', expect: 'close', make: c => publish(topic(c), Buffer.from('q3'), 3, { id: 7 }) },
  { name: 'PUBLISH QoS 0 with DUP', expect: 'any', make: c => publish(topic(c), Buffer.from('d'), 0, { dup: true }) },
  { name: 'SUBSCRIBE QoS 3 / reserved option bits', expect: 'close', make: c => subscribe(2, [{ filter: topic(c), qos: c.rng.pick([3, 4, 0x81, 0xff]) }]) },
  { name: 'PUBLISH topic invalid UTF-8', expect: 'close', make: c => publish(badUtf8(c.rng, 'fz/'), Buffer.from('u'), c.rng.int(2), { id: 3 }) },
  { name: 'SUBSCRIBE filter invalid UTF-8', expect: 'close', make: c => subscribe(3, [{ filter: badUtf8(c.rng, 'fz/'), qos: 0 }]) },
  { name: 'UNSUBSCRIBE filter invalid UTF-8', expect: 'close', make: c => unsubscribe(3, [badUtf8(c.rng, 'fz/')]) },
  { name: 'PUBLISH empty topic', expect: 'close', make: c => publish('', Buffer.from('e'), c.rng.int(2), { id: 4 }) },
  { name: 'SUBSCRIBE empty filter', expect: 'close', make: () => subscribe(4, [{ filter: '', qos: 0 }]) },
  { name: 'PUBLISH topic with wildcard', expect: 'close', make: c => publish(c.rng.pick(['fz/#', 'fz/+/x', '#', '+']), Buffer.from('w'), c.rng.int(2), { id: 5 }) },
  { name: 'SUBSCRIBE misplaced wildcard', expect: 'close', make: c => subscribe(5, [{ filter: c.rng.pick(['fz#', 'fz/#/x', 'fz+', 'fz/+x']), qos: 0 }]) },
  { name: 'SUBSCRIBE with no filters', expect: 'close', make: () => packet(8, 2, u16(6)) },
  { name: 'UNSUBSCRIBE with no filters', expect: 'close', make: () => packet(10, 2, u16(6)) },
  { name: 'packet id 0', expect: 'close', make: c => c.rng.pick([() => publish(topic(c), Buffer.from('z'), 1, { id: 0 }), () => subscribe(0, [{ filter: topic(c), qos: 0 }]), () => unsubscribe(0, [topic(c)])])() },
  { name: 'remaining length too short', expect: 'any', make: c => reframed(c, -c.rng.between(1, 4)) },
  { name: 'remaining length too long', expect: 'any', make: c => reframed(c, c.rng.between(1, 20)) },
  { name: 'remaining length of 5 bytes', expect: 'close', make: c => Buffer.concat([Buffer.from([c.rng.pick([0x30, 0x82, 0x62, 0xc0])]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), c.rng.bytes(8)]) },
  { name: 'remaining length 268 MB, truncated', expect: 'any', make: c => Buffer.concat([Buffer.from([c.rng.pick([0x30, 0x32, 0x82, 0x10])]), Buffer.from([0xff, 0xff, 0xff, 0x7f]), str(topic(c)), c.rng.bytes(c.rng.int(64))]) },
  { name: 'remaining length varint cut off', expect: 'any', make: () => Buffer.from([0x30, 0x80, 0x80]) },
  { name: 'fields cut short', expect: 'close', make: c => c.rng.pick([() => packet(3, 0, Buffer.from([0x00, 0x09, 0x61])), () => packet(4, 0, Buffer.from([0x01])), () => packet(8, 2, Buffer.from([0x00, 0x01, 0x00, 0x05, 0x61]))])() },
  { name: 'random byte flips of a valid packet', expect: 'any', make: c => flip(c, validPacket(c, 9)) },
  { name: 'random bytes', expect: 'any', make: c => c.rng.bytes(c.rng.between(1, 200)) },
  { name: 'acks for unknown packet ids', expect: 'open', make: c => Buffer.concat([ack(4, c.rng.between(1, 65535)), ack(5, c.rng.between(1, 65535)), ack(6, c.rng.between(1, 65535)), ack(7, c.rng.between(1, 65535))]) },
  { name: 'PUBLISH 65535-byte topic', expect: 'open', make: c => publish(`fz/${c.index}/`.padEnd(65535, 'x'), Buffer.from('t'), 0) },
  { name: 'SUBSCRIBE with 300 filters', expect: 'open', make: c => subscribe(10, Array.from({ length: 300 }, (_v, i) => ({ filter: `fz/${c.seed}/${c.index}/many/${i}`, qos: i % 3 }))) },
  { name: 'packets after DISCONNECT', expect: 'close', make: c => Buffer.concat([DISCONNECT, validPacket(c, 11)]) }
]

/** Flip 1 to 3 random bits or bytes of a valid packet (the fixed header included). */
function flip (c: Ctx, valid: Buffer): Buffer {
  const b = Buffer.from(valid)
  for (let n = c.rng.between(1, 3); n > 0; n--) {
    const at = c.rng.int(b.length)
    b[at] = c.rng.chance(0.5) ? (b[at] as number) ^ (1 << c.rng.int(8)) : c.rng.int(256)
  }
  return b
}

export const CATEGORIES = [...PRE_CONNECT, ...POST_CONNECT].map(k => k.name)

/** The plan of connection `index` of a run with `seed`. */
export function planConnection (seed: number, index: number): Plan {
  const rng = new Rng(seed, index)
  // a few client ids are shared (takeovers), some sessions are persistent
  const clientId = rng.chance(0.1) ? `fz-${seed}-pool-${rng.int(16)}` : `fz-${seed}-${index}`
  const c: Ctx = { rng, index, clientId, seed }
  const split = rng.chance(0.1) ? 'bytes' : rng.chance(0.1) ? 'chunks' : 'none'
  const packets: Buffer[] = []
  let bad: Plan['bad']
  if (rng.chance(0.15)) {
    const k = rng.pick(PRE_CONNECT)
    packets.push(k.make(c))
    bad = { category: k.name, expect: k.expect }
  } else {
    packets.push(validConnect(c, { clean: !rng.chance(0.1) }))
  }
  const fillers = rng.between(1, 24)
  const badAt = bad === undefined && rng.chance(0.85) ? rng.int(fillers + 1) : -1
  for (let i = 0; i <= fillers; i++) {
    if (i === badAt) {
      const k = rng.pick(POST_CONNECT)
      packets.push(k.make(c))
      bad = { category: k.name, expect: k.expect }
    }
    if (i < fillers) packets.push(validPacket(c, i + 1))
  }
  packets.push(PINGREQ)
  return { index, packets, chunkSeed: rng.u32(), abrupt: rng.chance(0.3), ...(bad === undefined ? {} : { bad }), split: split === 'bytes' && packets.reduce((n, p) => n + p.length, 0) > 4096 ? 'chunks' : split }
}
