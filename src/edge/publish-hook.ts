import { isUtf8 } from 'node:buffer'
import type { AuthorizePublishHandler, Client, PublishPacket } from 'aedes'
import { KafkaRecordRefused } from '../kafka/produce-errors.js'
import type { Authorize, AuthzSubject } from '../auth/hooks.js'
import type { Logger } from '../observability/logger.js'
import type { MqttMessage } from '../protocol/message.js'
import type { LogPublisher } from '../routing/log-publisher.js'
import { endConnection, isWillOf, type IncomingPersistence } from './aedes-internals.js'
import type { InboundRefusal, InboundWindow } from './inbound-window.js'
import { messagePropertiesOf } from '../protocol/message-properties.js'
import { kafkaRefusalReasonCode, REASON } from '../protocol/reason-codes.js'
import { overrideAckCode } from './mqtt5-wire.js'

/** What the hook needs of the log publisher (the per-message `publishWith`, and its room). */
export type MessagePublisher = Pick<LogPublisher, 'hasRoom' | 'waitForRoom' | 'publishWith'>

export interface PublishHookOptions {
  publisher: MessagePublisher
  node: string
  persistence: () => IncomingPersistence
  authorize: Authorize
  /** the identity a client connected with (undefined before its CONNECT went through) */
  subjectOf: (client: Client) => AuthzSubject | undefined
  /** a client's will is being published (aedes closes the connection): settles when Kafka answered */
  willPublishing: (client: Client, written: Promise<void>) => void
  /** the inbound QoS 1/2 window of each connection (Receive Maximum, `mqtt.max_awaiting_rel`) */
  inbound: InboundWindow
  /** the window refused a PUBLISH (counted by the limits): the connection ends */
  onInboundRefused?: ((client: Client, reason: InboundRefusal) => void) | undefined
  /** an MQTT 5 PUBLISH said its payload is UTF-8 and it is not: refused (PUBACK/PUBREC 0x99) or, QoS 0, dropped */
  onPayloadFormatInvalid?: ((client: Client) => void) | undefined
  logger: Logger
}

/**
 * aedes' authorizePublish hook is the one place in its chain that runs before a PUBACK (QoS 1) or
 * PUBREC (QoS 2) is written, so the Kafka write happens here: the callback fires only after Kafka
 * acknowledged the record. QoS 0 is handed to the producer without waiting for the ack, but still
 * waits for room in the pending buffer. While the callback is outstanding aedes reads no further
 * bytes from that socket, which is what bounds memory when Kafka is away.
 */
export function createPublishHook (opts: PublishHookOptions): AuthorizePublishHandler {
  const { publisher, node, logger } = opts
  return function authorizePublish (client, packet, done) {
    let callback = done
    const will = client !== null && isWillOf(client, packet)
    if (client !== null && !will && opts.subjectOf(client) === undefined) {
      // aedes handles packets only after the CONNECT went through (aedes-internals.ts,
      // parseOneBatchAtATime); should one get here before, it is not written under no identity
      logger.warn({ clientId: client.id }, 'PUBLISH before the CONNECT was accepted; closing the connection')
      done(new Error('PUBLISH before the CONNECT was accepted'))
      return
    }
    if (will) {
      // aedes is publishing this client's will while it closes the connection
      let settle: () => void = () => undefined
      opts.willPublishing(client as Client, new Promise<void>(resolve => { settle = resolve }))
      callback = (err) => { settle(); done(err) }
    } else if (client !== null && packet.qos > 0) {
      const refused = opts.inbound.admit(client, packet)
      if (refused !== undefined) {
        opts.onInboundRefused?.(client, refused)
        // MQTT 5: 0x93 for a client over the Receive Maximum it was told, 0x97 for QoS 2 ids never released
        endConnection(client, refused === 'receive_maximum_exceeded' ? REASON.receiveMaximumExceeded : REASON.quotaExceeded)
        return
      }
      const admitted = callback
      // QoS 1 frees its slot at the PUBACK; QoS 2 when the PUBREL removes the stored id, or now if refused
      callback = (err) => {
        if (packet.qos === 1 || (err !== null && err !== undefined)) opts.inbound.settled(client, packet)
        admitted(err)
      }
    }
    if (packet.topic.startsWith('$SYS/')) {
      callback(new Error('clients may not publish to $SYS topics'))
      return
    }
    const subject = client === null ? undefined : opts.subjectOf(client)
    if (subject !== undefined && !subject.superuser && !opts.authorize.mayPublish(subject, packet.topic, packet.qos, packet.retain)) {
      denied(client as Client, packet, callback)
      return
    }
    if (client !== null && !will && !payloadFormatValid(packet)) {
      opts.onPayloadFormatInvalid?.(client)
      logger.debug({ clientId: client.id, topic: packet.topic }, 'PUBLISH refused: Payload Format Indicator 1 and a payload that is not UTF-8')
      // QoS 0: dropped (aedes' emitter drops client packets: they are never delivered but through Kafka)
      if (packet.qos === 0) { callback(null); return }
      refuseWithCode(client, packet, REASON.payloadFormatInvalid, new Error('payload is not valid UTF-8 (Payload Format Indicator 1)'), callback)
      return
    }
    if (client !== null && packet.qos === 2) {
      // a retransmitted QoS 2 PUBLISH (DUP, before PUBREL) is already in Kafka: do not write it twice
      opts.persistence().incomingGetPacket(client, packet).then(
        () => callback(null),
        () => produce(client, subject, packet, callback)
      )
      return
    }
    produce(client, subject, packet, callback)
  }

  /**
   * A PUBLISH the ACL denies is never written to Kafka. `ignore`: aedes acknowledges it as MQTT 3.1.1
   * requires (PUBACK, PUBREC) and delivers it to nobody (its local emitter drops client packets);
   * `disconnect`: the error makes aedes close the connection. A will is never acknowledged. MQTT 5
   * clients get the reason code 0x87 in the acknowledgement or in a DISCONNECT.
   */
  function denied (client: Client, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    if (client.version === 5) {
      // MQTT 5 says so: PUBACK/PUBREC 0x87 (aedes answers an error so and keeps the connection), or DISCONNECT 0x87
      logger.debug({ clientId: client.id, topic: packet.topic, action: opts.authorize.denyAction }, 'PUBLISH not authorized (MQTT 5)')
      if (opts.authorize.denyAction === 'disconnect') endConnection(client, REASON.notAuthorized)
      else callback(new Error('not authorized'))
      return
    }
    if (opts.authorize.denyAction !== 'disconnect') {
      logger.debug({ clientId: client.id, topic: packet.topic }, 'PUBLISH not authorized; acknowledged and dropped')
      callback(null)
      return
    }
    logger.info({ clientId: client.id, topic: packet.topic }, 'PUBLISH not authorized; closing the connection')
    callback(new Error('not authorized to publish to this topic'))
  }

  /**
   * An MQTT 5 QoS 1/2 PUBLISH answered with a failure reason code and the connection kept: aedes
   * answers the hook's error with 0x87, which the wire seam turns into `code`.
   */
  function refuseWithCode (client: Client, packet: PublishPacket, code: number, err: Error, callback: (err?: Error | null) => void): void {
    const messageId = (packet as { messageId?: number }).messageId
    if (messageId !== undefined) overrideAckCode(client.conn, messageId, code)
    callback(err)
  }

  function produce (client: Client | null, subject: AuthzSubject | undefined, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    const message: MqttMessage = {
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      clientId: client?.id,
      username: subject?.username,
      node
    }
    const properties = messagePropertiesOf(packet.properties)
    if (properties !== undefined) message.properties = properties
    const send = (): void => {
      if (packet.qos === 0) {
        publisher.publishWith(message, err => {
          if (err !== undefined) logger.warn({ err, clientId: client?.id, topic: packet.topic }, 'QoS 0 message not written to Kafka')
        })
        callback(null)
        return
      }
      publisher.publishWith(message, err => {
        if (err === undefined) { callback(null); return }
        if (err instanceof KafkaRecordRefused && client !== null && client.version === 5 && !isWillOf(client, packet)) {
          // refused for good (sending it again cannot help): MQTT 5 can say so and keep the connection
          refuseWithCode(client, packet, kafkaRefusalReasonCode(err.type), err, callback)
          return
        }
        logger.warn({ err, clientId: client?.id, topic: packet.topic }, 'PUBLISH not acknowledged by Kafka; closing the connection without PUBACK')
        // an error answers an MQTT 5 client with PUBACK 0x87 (not authorized) and keeps the
        // connection: end it first, so that no acknowledgement goes out and the client resends
        if (client !== null && client.version === 5 && !isWillOf(client, packet)) endConnection(client, REASON.unspecifiedError, () => callback(err))
        else callback(err)
      })
    }
    if (publisher.hasRoom()) send()
    else void publisher.waitForRoom().then(send)
  }
}

/**
 * A PUBLISH whose Payload Format Indicator is 1 says its payload is UTF-8: Wharf checks it, always
 * (the receiver MAY check, 3.3.2.3.2). It costs one native scan of the payloads that claim to be
 * text, none of the others, and it is what lets a backend decode `mqtt.payload_format_indicator: 1`
 * records as text without guarding against a device's broken bytes.
 */
export function payloadFormatValid (packet: PublishPacket): boolean {
  if (packet.properties?.payloadFormatIndicator !== true) return true
  const payload = packet.payload
  return typeof payload === 'string' || isUtf8(payload)
}
