import type { Client, ConnectPacket, PreConnectHandler } from 'aedes'
import type { ConnackRefusal } from './aedes-internals.js'

export interface ConnectLimits {
  /** `mqtt.max_client_id_length`, in characters */
  maxClientIdLength: number
  /** `mqtt.max_username_length`, in characters */
  maxUsernameLength: number
  /** `mqtt.max_qos_allowed`: a will above it is refused (MQTT 5: CONNACK 0x9B) */
  maxQos: 0 | 1 | 2
  /** a refusal that does not depend on the packet (the node is overloaded: CONNACK 0x03), asked first */
  refuse?: ((client: Client) => ConnectRuleBreach | undefined) | undefined
  /** told of every breach of a configured limit (client id or user name too long), to count it */
  onLimitBreach?: ((client: Client, breach: ConnectRuleBreach) => void) | undefined
}

/** Why a CONNECT breaks a rule of the protocol or of the configuration, and its CONNACK code. */
export interface ConnectRuleBreach {
  returnCode: ConnackRefusal
  reason: 'empty_client_id_with_persistent_session' | 'empty_client_id_mqtt_3_1' | 'client_id_too_long' | 'username_too_long' | 'will_qos_not_supported' | 'overloaded'
}

/** The rule a CONNECT breaks, if any (pure). */
export function connectRuleBreach (packet: Pick<ConnectPacket, 'clientId' | 'clean' | 'username' | 'protocolVersion' | 'will'>, limits: ConnectLimits): ConnectRuleBreach | undefined {
  if (packet.clientId === '') {
    // [MQTT-3.1.3-8]: a zero-length id is allowed only with clean session = 1 (the server assigns
    // one, [MQTT-3.1.3-6]); MQTT 3.1 allows none at all (1 to 23 characters)
    if (packet.protocolVersion === 3) return { returnCode: 2, reason: 'empty_client_id_mqtt_3_1' }
    // MQTT 5 assigns one whatever Clean Start says [MQTT-3.1.3-6]
    if (packet.clean === false && packet.protocolVersion !== 5) return { returnCode: 2, reason: 'empty_client_id_with_persistent_session' }
  }
  if (packet.clientId.length > limits.maxClientIdLength) return { returnCode: 2, reason: 'client_id_too_long' }
  // MQTT 3.1.1 has no return code for a user name that is too long: "bad user name or password"
  if (packet.username !== undefined && packet.username.length > limits.maxUsernameLength) return { returnCode: 4, reason: 'username_too_long' }
  // [MQTT-3.2.2-12]: a will QoS the server does not support refuses the CONNECT (MQTT 5: 0x9B).
  // MQTT 3.1.1 has no return code for it: 5 (not authorized: the server does not allow this
  // CONNECT), rather than accepting a will it would later publish at a QoS it refuses
  const will = packet.will
  if (will !== undefined && will !== null && (will.qos ?? 0) > limits.maxQos) return { returnCode: 5, reason: 'will_qos_not_supported' }
  return undefined
}

/** The breaches of a configured limit (`mqtt.max_clientid_len`, `mqtt.max_username_length`), not of the protocol. */
const CONFIGURED = new Set<ConnectRuleBreach['reason']>(['client_id_too_long', 'username_too_long'])

/**
 * What makes a CONNECT malformed, which mqtt-packet 9 parses without complaint (pure): a will QoS of
 * 3 [MQTT-3.1.2-14] (aedes would later publish that will at QoS 3, a record Wharf cannot write), a
 * will topic that is empty or has a wildcard (a will is a PUBLISH, [MQTT-3.3.2-2]), and for MQTT
 * 3.1 and 3.1.1 a password without a user name [MQTT-3.1.2-22] (MQTT 5 allows it, §3.1.2.9). The
 * server closes such a connection without a CONNACK.
 */
export function connectMalformed (packet: Pick<ConnectPacket, 'username' | 'password' | 'will' | 'protocolVersion'>): string | undefined {
  const will = packet.will
  if (will !== undefined && will !== null) {
    if (will.qos !== 0 && will.qos !== 1 && will.qos !== 2) return 'will QoS 3'
    if (will.topic === '' || /[#+]/.test(will.topic)) return 'will topic empty or with a wildcard'
  }
  if (packet.protocolVersion !== 5 && packet.password !== undefined && packet.password !== null && (packet.username === undefined || packet.username === null)) return 'password without a user name'
  return undefined
}

/** A CONNECT packet is malformed (see `connectMalformed`): the connection is closed without a CONNACK. */
export class MalformedConnectError extends Error {
  constructor (reason: string) {
    super(`malformed CONNECT: ${reason}`)
    this.name = 'MalformedConnectError'
  }
}

/**
 * The CONNECT rules aedes 1.2 does not apply itself: it gives every zero-length client id an id of
 * its own (also with clean session = 0, which MQTT 3.1.1 refuses) and checks the client id's length
 * only for MQTT 3.1. aedes' preConnect hook sees the CONNECT packet but cannot send a CONNACK, so it
 * notes the breach here, and the authenticate hook (`ConnectFlow`) refuses the client with the
 * breach's return code before anything else runs. A malformed CONNECT (`connectMalformed`) fails
 * here: aedes closes the connection without a CONNACK.
 */
export class ConnectRules {
  private readonly breaches = new WeakMap<Client, ConnectRuleBreach>()

  constructor (private readonly limits: ConnectLimits) {}

  readonly preConnect: PreConnectHandler = (client, packet, done) => {
    const malformed = connectMalformed(packet)
    if (malformed !== undefined) {
      done(new MalformedConnectError(malformed), false)
      return
    }
    const refusal = this.limits.refuse?.(client)
    const breach = refusal ?? connectRuleBreach(packet, this.limits)
    if (breach !== undefined) this.breaches.set(client, breach)
    if (refusal === undefined && breach !== undefined && CONFIGURED.has(breach.reason)) this.limits.onLimitBreach?.(client, breach)
    done(null, true)
  }

  /** The rule the client's CONNECT broke (asked once, at authentication). */
  breachOf (client: Client): ConnectRuleBreach | undefined {
    const breach = this.breaches.get(client)
    this.breaches.delete(client)
    return breach
  }
}
