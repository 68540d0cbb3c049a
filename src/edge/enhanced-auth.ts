import type { Client, PreConnectHandler } from 'aedes'
import mqttPacket, { type IAuthPacket, type IConnectPacket, type Packet } from 'mqtt-packet'
import type { EnhancedAuthenticator, EnhancedExchange, EnhancedOutcome } from '../auth/hooks.js'
import type { Logger } from '../observability/logger.js'
import { beforeAedesHandles, endConnection, type PacketHook } from './aedes-internals.js'
import { addToConnack, refuseConnectV5 } from './mqtt5-wire.js'

/** AUTH reason codes (MQTT 5.0, 3.15.2.1). */
const CONTINUE_AUTHENTICATION = 0x18
const RE_AUTHENTICATE = 0x19
const PROTOCOL_ERROR = 0x82
const IMPLEMENTATION_SPECIFIC_ERROR = 0x83

/** mqtt-packet's parser keeps the bytes of a packet not complete yet in `_list`. */
interface PendingBytes { _list: { length: number } }

/** The most a client may send during one exchange (AUTH packets of a few hundred bytes). */
const MAX_EXCHANGE_BYTES = 64 * 1024

export interface EnhancedAuthOptions {
  /** `authentication.scram`; undefined: aedes refuses every Authentication Method (0x8C) */
  authenticator: EnhancedAuthenticator | undefined
  /** the bound on one exchange (`mqtt.idle_timeout`, as for the CONNECT itself) */
  timeoutMs: number
  logger: Logger
}

/** A CONNECT or exchange that cannot go on; aedes gets it as its preConnect error and closes. */
export class EnhancedAuthError extends Error {
  override readonly name = 'EnhancedAuthError'
}

/**
 * MQTT 5 enhanced authentication (AUTH, MQTT 5.0 section 4.12) in front of aedes 2.0.0-beta.1,
 * which refuses a CONNECT with an Authentication Method (0x8C) and closes the connection on any
 * AUTH packet. The CONNECT is held in aedes' preConnect hook (aedes reads nothing more from the
 * connection meanwhile): the exchange's AUTH packets are written and read here on the stream,
 * with a parser of its own, until the exchange ends. Then the CONNECT goes on to aedes without
 * its Authentication Method and Data, under the user name the exchange established, and the
 * authenticate hook (ConnectFlow) passes the outcome (`outcomeOf`) to the authentication chain,
 * which applies bans and counts failures as for a password. A successful CONNACK carries the
 * method and the last Authentication Data (SCRAM's server-final-message).
 *
 * Refusals: a method not offered, aedes' own CONNACK 0x8C; a failed exchange, CONNACK 0x86 from
 * the chain; a packet other than AUTH (continue, same method) or DISCONNECT during the exchange,
 * CONNACK 0x82; no answer within `timeoutMs`, the connection is closed. After the CONNACK an AUTH
 * to re-authenticate (0x19) is refused with DISCONNECT 0x83 (not supported), any other AUTH with
 * DISCONNECT 0x82.
 */
export class EnhancedAuth {
  private readonly outcomes = new WeakMap<Client, EnhancedOutcome>()
  private readonly log: Logger

  constructor (private readonly opts: EnhancedAuthOptions) {
    this.log = opts.logger.child({ component: 'enhanced-auth' })
  }

  /** How the client's exchange ended (read once, by the authenticate hook). */
  outcomeOf (client: Client): EnhancedOutcome | undefined {
    const outcome = this.outcomes.get(client)
    this.outcomes.delete(client)
    return outcome
  }

  /** `first` (the other preConnect steps), then the exchange for a CONNECT that asks for one. */
  preConnect (first: PreConnectHandler): PreConnectHandler {
    return (client, packet, done) => first(client, packet, (err, ok) => {
      const method = packet.protocolVersion === 5 ? packet.properties?.authenticationMethod : undefined
      const exchange = method === undefined ? undefined : this.opts.authenticator?.begin(method)
      // no exchange: aedes answers an unknown method with 0x8C itself
      if (err !== null || !ok || method === undefined || exchange === undefined) { done(err, ok); return }
      this.run(client, packet as IConnectPacket, method, exchange, done)
    })
  }

  /** AUTH packets after the CONNACK: refused before aedes, which would only drop the connection. */
  attach (client: Client): void {
    beforeAedesHandles(client, this.refuseLateAuth)
  }

  /** One function for every connection (attach). */
  private readonly refuseLateAuth: PacketHook = (client, packet) => {
    if (packet.cmd !== 'auth' || client.version !== 5 || !client.connected) return
    const reasonCode = (packet as IAuthPacket).reasonCode
    this.log.debug({ clientId: client.id, reasonCode }, 'AUTH after CONNACK refused')
    endConnection(client, reasonCode === RE_AUTHENTICATE ? IMPLEMENTATION_SPECIFIC_ERROR : PROTOCOL_ERROR)
  }

  private run (client: Client, packet: IConnectPacket, method: string, exchange: EnhancedExchange, done: Parameters<PreConnectHandler>[2]): void {
    const conn = client.conn
    const parser = mqttPacket.parser({ protocolVersion: 5 })
    let finished = false
    let received = 0
    const finish = (): void => {
      finished = true
      clearTimeout(timer)
      conn.removeListener('readable', onReadable)
    }
    const protocolError = (why: string): void => {
      if (finished) return
      finish()
      this.log.debug({ clientId: packet.clientId, why }, 'enhanced authentication: protocol error')
      if (!client.closed) refuseConnectV5(client, PROTOCOL_ERROR)
      done(new EnhancedAuthError(`enhanced authentication: ${why}`), false)
    }
    const goOn = (data: Buffer | undefined): void => {
      const step = exchange.step(data ?? Buffer.alloc(0))
      if (!step.done) {
        const auth: IAuthPacket = { cmd: 'auth', reasonCode: CONTINUE_AUTHENTICATION, properties: { authenticationMethod: method, authenticationData: step.data } }
        conn.write(mqttPacket.generate(auth, { protocolVersion: 5 }))
        return
      }
      finish()
      if (step.verified) {
        this.outcomes.set(client, { method, verified: true, superuser: step.superuser })
        addToConnack(conn, { authenticationMethod: method, authenticationData: step.data })
      } else {
        this.outcomes.set(client, { method, verified: false, why: step.why })
      }
      // the CONNECT as aedes and the authenticate hook see it: the exchange's user, no password
      packet.username = step.username
      delete packet.password
      if (packet.properties !== undefined) {
        delete packet.properties.authenticationMethod
        delete packet.properties.authenticationData
      }
      done(null, true)
    }
    // packets are judged once the parse of a read returned, so that one parse cannot both end the
    // exchange and carry bytes beyond it
    const parsed: Packet[] = []
    parser.on('packet', (p: Packet) => parsed.push(p))
    parser.on('error', (err: Error) => protocolError(err.message))
    const onPacket = (p: Packet): void => {
      if (p.cmd === 'disconnect') { finish(); done(new EnhancedAuthError('enhanced authentication: the client disconnected'), false); client.close(); return }
      if (p.cmd !== 'auth') { protocolError(`${p.cmd} during the exchange`); return }
      if (p.reasonCode !== CONTINUE_AUTHENTICATION) { protocolError(`AUTH with reason code ${p.reasonCode}`); return }
      if (p.properties?.authenticationMethod !== method) { protocolError('AUTH with another Authentication Method'); return }
      goOn(p.properties.authenticationData)
    }
    const onReadable = (): void => {
      let chunk: Buffer | null
      while (!finished && (chunk = conn.read() as Buffer | null) !== null) {
        received += chunk.length
        if (received > MAX_EXCHANGE_BYTES) { protocolError('too many bytes'); return }
        parser.parse(chunk)
        while (!finished && parsed.length > 0) {
          const p = parsed.shift() as Packet
          // [MQTT-3.1.2-30]: nothing but AUTH or DISCONNECT until the CONNACK
          if (p.cmd === 'auth' && (parsed.length > 0 || (parser as unknown as PendingBytes)._list.length > 0)) { protocolError('bytes after an AUTH before the answer'); return }
          onPacket(p)
        }
      }
    }
    const timer = setTimeout(() => {
      if (finished) return
      finish()
      this.log.debug({ clientId: packet.clientId }, 'enhanced authentication did not finish in time')
      done(new EnhancedAuthError('enhanced authentication did not finish in time'), false)
    }, this.opts.timeoutMs)
    conn.on('readable', onReadable)
    goOn(packet.properties?.authenticationData)
    if (!finished) onReadable()
  }
}
