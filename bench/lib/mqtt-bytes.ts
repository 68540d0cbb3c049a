/**
 * MQTT 3.1.1 packets as raw bytes, built by hand so a fuzzer can also build the ones no MQTT
 * library would write: any flags, any remaining length, any string bytes, any protocol level.
 */

/** The remaining-length varint of `n` (any `n`; more than four bytes when `n` needs them). */
export function varint (n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

/** A length-prefixed string field; `s` may be raw bytes (invalid UTF-8) or longer than a field allows. */
export function str (s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  return Buffer.concat([Buffer.from([(b.length >> 8) & 0xff, b.length & 0xff]), b])
}

export function u16 (n: number): Buffer { return Buffer.from([(n >> 8) & 0xff, n & 0xff]) }

/** A packet: fixed header byte, remaining length (the body's, unless `remaining` overrides it), body. */
export function packet (type: number, flags: number, body: Buffer, remaining?: Buffer): Buffer {
  return Buffer.concat([Buffer.from([((type & 0x0f) << 4) | (flags & 0x0f)]), remaining ?? varint(body.length), body])
}

export interface ConnectFields {
  clientId: string | Buffer
  clean: boolean
  keepalive?: number
  protocolName?: string | Buffer
  level?: number
  will?: { topic: string | Buffer; payload: Buffer; qos: number; retain: boolean }
  username?: string | Buffer
  password?: Buffer
  /** extra flag bits or-ed in (the reserved bit 0, will bits without a will) */
  extraFlags?: number
}

export function connect (c: ConnectFields): Buffer {
  let flags = (c.clean ? 0x02 : 0) | (c.extraFlags ?? 0)
  if (c.will !== undefined) flags |= 0x04 | ((c.will.qos & 3) << 3) | (c.will.retain ? 0x20 : 0)
  if (c.username !== undefined) flags |= 0x80
  if (c.password !== undefined) flags |= 0x40
  const body = Buffer.concat([
    str(c.protocolName ?? 'MQTT'), Buffer.from([c.level ?? 4, flags]), u16(c.keepalive ?? 60), str(c.clientId),
    ...(c.will === undefined ? [] : [str(c.will.topic), str(c.will.payload)]),
    ...(c.username === undefined ? [] : [str(c.username)]),
    ...(c.password === undefined ? [] : [str(c.password)])
  ])
  return packet(1, 0, body)
}

export function publish (topic: string | Buffer, payload: Buffer, qos: number, opts: { id?: number; retain?: boolean; dup?: boolean } = {}): Buffer {
  const flags = (opts.dup === true ? 0x08 : 0) | ((qos & 3) << 1) | (opts.retain === true ? 1 : 0)
  const body = Buffer.concat([str(topic), ...(qos > 0 ? [u16(opts.id ?? 1)] : []), payload])
  return packet(3, flags, body)
}

/** PUBACK (4), PUBREC (5), PUBREL (6, flags 2), PUBCOMP (7) */
export function ack (type: 4 | 5 | 6 | 7, id: number, flags = type === 6 ? 2 : 0): Buffer {
  return packet(type, flags, u16(id))
}

export function subscribe (id: number, filters: Array<{ filter: string | Buffer; qos: number }>, flags = 2): Buffer {
  return packet(8, flags, Buffer.concat([u16(id), ...filters.flatMap(f => [str(f.filter), Buffer.from([f.qos])])]))
}

export function unsubscribe (id: number, filters: Array<string | Buffer>, flags = 2): Buffer {
  return packet(10, flags, Buffer.concat([u16(id), ...filters.map(f => str(f))]))
}

export const PINGREQ = Buffer.from([0xc0, 0x00])
export const DISCONNECT = Buffer.from([0xe0, 0x00])
