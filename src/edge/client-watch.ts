import type { Aedes, Client } from 'aedes'
import type { Duplex } from 'node:stream'
import type { ClientEvents, DisconnectReason, Subscription } from '../presence/client-events.js'
import { packetCode, type TrafficCounters } from '../observability/traffic.js'
import { connectedClient, disconnectedCleanly, grantedSubscriptions, keepaliveOf, onIncomingPacket } from './aedes-internals.js'

export interface ClientWatchOptions {
  /** the connection's claim id, once its CONNECT went through */
  connOf: (client: Client) => string | undefined
  usernameOf: (client: Client) => string | undefined
  connectionOf: (client: Client) => { listener: string; peerhost: string }
  events?: ClientEvents | undefined
  traffic?: TrafficCounters | undefined
}

/**
 * Tells `events` (presence, `$SYS`) when a client's CONNACK went out, when it subscribes and
 * unsubscribes and when it goes, with the reason; and counts every connection's packets and bytes
 * into `traffic`. Reads aedes' events and, through `aedes-internals.ts`, what aedes does not say
 * (a clean DISCONNECT, the keepalive, the parser). Packets sent are counted at the connection's
 * stream: mqtt-packet corks the stream before each packet and writes the fixed header first.
 */
export function watchClients (aedes: Aedes, opts: ClientWatchOptions): void {
  const { events, traffic } = opts
  if (traffic !== undefined) {
    const handle = aedes.handle.bind(aedes)
    // one listener for every connection's incoming packets
    const received = (p: { cmd: string; length: number; qos?: number }): void => traffic.received(packetCode(p.cmd), p.length, p.qos ?? 0)
    aedes.handle = (stream, request) => {
      const client = handle(stream, request)
      meter(client, traffic, received)
      return client
    }
  }
  if (events === undefined) return
  const keepaliveExpired = new WeakSet<Client>()
  const errors = new WeakMap<Client, Error>()
  aedes.on('keepaliveTimeout', client => keepaliveExpired.add(client))
  aedes.on('clientError', (client, err) => errors.set(client, err))
  aedes.on('clientReady', client => {
    const conn = opts.connOf(client)
    if (conn === undefined) return
    const { listener, peerhost } = opts.connectionOf(client)
    const subs: Subscription[] = Object.entries(grantedSubscriptions(client)).map(([f, s]) => [f, s.qos])
    events.connected({
      clientId: client.id,
      conn,
      username: opts.usernameOf(client),
      peerhost,
      listener,
      protoVer: client.version,
      clean: client.clean,
      keepalive: keepaliveOf(client),
      subs
    })
  })
  aedes.on('subscribe', (subs, client) => {
    const conn = opts.connOf(client)
    const granted = subs.filter(s => (s.qos as number) !== 128).map((s): Subscription => [s.topic, s.qos])
    if (conn !== undefined && granted.length > 0) events.subscribed(client.id, conn, granted)
  })
  aedes.on('unsubscribe', (filters, client) => {
    const conn = opts.connOf(client)
    // aedes reports every filter again when a clean session's connection closes
    if (conn !== undefined && !client.closed) events.unsubscribed(client.id, conn, filters)
  })
  aedes.on('clientDisconnect', client => {
    const conn = opts.connOf(client)
    if (conn !== undefined) events.disconnected(client.id, conn, reasonOf(client))
  })

  function reasonOf (client: Client): DisconnectReason {
    if (disconnectedCleanly(client)) return 'normal'
    if (keepaliveExpired.has(client)) return 'keepalive_timeout'
    if (aedes.closed) return 'server_shutdown'
    const err = errors.get(client)
    if (err !== undefined) return (err as NodeJS.ErrnoException).code !== undefined || err.message === 'drain timeout' ? 'sock_error' : 'protocol_error'
    const now = connectedClient(aedes, client.id)
    if (now !== undefined && now !== client) return 'takenover'
    return (client.conn as Duplex).readableEnded ? 'sock_closed' : 'server_closed'
  }
}

/** What the traffic meter keeps on a connection's stream: the counters, and its own cork and write. */
interface MeterState {
  t: TrafficCounters
  /** the next chunk written starts a packet (mqtt-packet and the packet writer cork before each) */
  header: boolean
  cork: Duplex['cork']
  write: Duplex['write']
}

const METER = Symbol('wharf.traffic-meter')
type MeteredStream = Duplex & { [METER]: MeterState }

/** The metered `cork` of every connection's stream (one function for all; the state is on the stream). */
function meteredCork (this: MeteredStream): void {
  const m = this[METER]
  m.header = true
  m.cork.call(this)
}

/** The metered `write` of every connection's stream. */
function meteredWrite (this: MeteredStream, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  const m = this[METER]
  const bytes = Buffer.isBuffer(chunk) ? chunk : undefined
  m.t.bytesOut += bytes !== undefined ? bytes.length : Buffer.byteLength(String(chunk))
  if (m.header && bytes !== undefined && bytes.length > 0) {
    m.header = false
    m.t.sent(bytes[0] as number)
  }
  return (m.write as (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean).call(this, chunk, encoding, cb)
}

/**
 * Counts the packets and bytes of one connection, both ways (`received`: the incoming packets'
 * listener, shared). The stream's `cork` and `write` become two functions shared by every
 * connection, with the connection's state in one small object on the stream (no closures per
 * connection).
 */
function meter (client: Client, t: TrafficCounters, received: (p: { cmd: string; length: number; qos?: number }) => void): void {
  onIncomingPacket(client, received)
  const stream = client.conn as MeteredStream
  stream[METER] = { t, header: false, cork: stream.cork, write: stream.write }
  stream.cork = meteredCork
  stream.write = meteredWrite as Duplex['write']
}
