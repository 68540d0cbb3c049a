import type { AedesOptions, PreConnectHandler } from 'aedes'
import { imposeServerKeepAlive } from './aedes-internals.js'
import { fixedHeaderBytes } from '../protocol/packet-size.js'
import { aliasTopicsOn, type AdvertisedProperties } from './mqtt5-wire.js'

/** What MQTT 5 clients are told and held to, from the `mqtt` section of the configuration. */
export interface Mqtt5Options {
  /** `mqtt.session_expiry_interval`: the server's maximum Session Expiry Interval, seconds (0 = none) */
  sessionExpiryInterval: number
  /** `mqtt.max_topic_alias`: the Topic Alias Maximum clients may use towards the server (0 = none) */
  maxTopicAlias: number
  /** `mqtt.server_keepalive`: the Server Keep Alive imposed on clients asking more or none (0 = the client's) */
  serverKeepalive: number
  /** `mqtt.reason_strings`: refusals say why */
  reasonStrings: boolean
  /** `mqtt.receive_maximum`: QoS 1/2 PUBLISHes a client may have unacknowledged (advertised, enforced by `InboundWindow`) */
  receiveMaximum: number
  /** `mqtt.max_packet_size`: the largest remaining length accepted (advertised as the whole packet's size) */
  maxPacketSize: number
  /** `mqtt.max_qos_allowed`: the highest QoS accepted on PUBLISH (advertised when below 2) */
  maxQos: 0 | 1 | 2
  /** `mqtt.response_information`: the response topic prefix (empty = none) */
  responseInformation: string
}

/**
 * The Response Information a client that asks for it gets [MQTT-3.1.2-28]: the configured prefix
 * followed by its client id and a slash, a response topic prefix of its own. EMQX sends the
 * configured string alone, which gives every client the same prefix: requesters would then see one
 * another's responses unless each invents a unique suffix, and the ACL could not confine a client to
 * its own responses. The client id is unique in the cluster (takeover) and `${clientid}` in an ACL
 * rule can grant exactly `<prefix><clientid>/#`. A client id that cannot be part of a topic name
 * (`+`, `#`, U+0000) gets none (the server MAY omit it). undefined: nothing is sent.
 */
export function responseInformationFor (prefix: string, clientId: string): string | undefined {
  if (prefix === '' || clientId.includes('+') || clientId.includes('#') || clientId.includes('\u0000')) return undefined
  return `${prefix}${clientId}/`
}

/** The largest Receive Maximum MQTT 5 can say. */
const RECEIVE_MAXIMUM_LIMIT = 65535

/**
 * aedes' own MQTT 5 options: the values aedes advertises in the CONNACK and applies itself (the
 * Session Expiry Interval cap, inbound topic aliases, inbound packet size). Server Keep Alive is
 * `withServerKeepAlive`'s. `receiveMaximum` is the inbound window the publish hook enforces
 * (`InboundWindow`). Maximum Packet Size counts the whole packet, `mqtt.max_packet_size` the
 * remaining length (as the limits check it, before the body is read): the largest accepted
 * packet's whole size is advertised, so both refuse exactly the same packets.
 */
export function aedesMqtt5Options (o: Mqtt5Options): Partial<AedesOptions> {
  return {
    receiveMaximum: Math.min(o.receiveMaximum, RECEIVE_MAXIMUM_LIMIT),
    sessionExpiryIntervalLimit: o.sessionExpiryInterval,
    topicAliasMaximum: o.maxTopicAlias,
    maximumPacketSize: o.maxPacketSize + fixedHeaderBytes(o.maxPacketSize),
    // aedes sends it only to clients whose CONNECT asked (Request Response Information = 1)
    responseInformation: o.responseInformation === '' ? null : (client: { id: string }) => responseInformationFor(o.responseInformation, client.id)
  }
}

/**
 * The capabilities aedes does not advertise, or advertises wrong: shared subscriptions are
 * available (cluster-wide, on Kafka consumer groups), and so are retained messages, wildcards and
 * subscription identifiers (the spec's defaults, said out loud). Maximum QoS may only be 0 or 1
 * on the wire: absent means 2.
 */
export function advertisedProperties (o: Mqtt5Options): AdvertisedProperties {
  const p: AdvertisedProperties = {
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true
  }
  if (o.maxQos < 2) p.maximumQoS = o.maxQos
  return p
}

/**
 * `mqtt.server_keepalive`: an MQTT 5 client asking a longer keep-alive, or none, is told the
 * server's in its CONNACK and timed by it [MQTT-3.2.2-21]; 3.1.1 clients keep their own.
 */
export function withServerKeepAlive (seconds: number, next: PreConnectHandler): PreConnectHandler {
  if (seconds === 0) return next
  return (client, packet, done) => {
    if (packet.protocolVersion === 5 && ((packet.keepalive ?? 0) === 0 || (packet.keepalive ?? 0) > seconds)) imposeServerKeepAlive(client, seconds)
    next(client, packet, done)
  }
}

/**
 * Outbound topic aliases: an MQTT 5 client whose CONNECT has a Topic Alias Maximum above 0 gets
 * PUBLISHes with aliases, up to that many and at most `mqtt.max_topic_alias` (0: none, either way).
 * aedes sends none; the wire seam does (`aliasTopicsOn`). Never for 3.1.1.
 */
export function withOutboundAliases (maxTopicAlias: number, next: PreConnectHandler): PreConnectHandler {
  if (maxTopicAlias === 0) return next
  return (client, packet, done) => {
    const asked = packet.protocolVersion === 5 ? packet.properties?.topicAliasMaximum ?? 0 : 0
    if (asked > 0) aliasTopicsOn(client.conn, Math.min(asked, maxTopicAlias))
    next(client, packet, done)
  }
}
