import type { AuthorizePublishHandler, Client, PublishPacket } from 'aedes'
import type { Authorize, AuthzSubject } from '../auth/hooks.js'
import type { Logger } from '../observability/logger.js'
import type { MqttMessage } from '../protocol/message.js'
import type { LogPublisher } from '../routing/log-publisher.js'
import { isWillOf, type IncomingPersistence } from './aedes-internals.js'

export interface PublishHookOptions {
  publisher: LogPublisher
  node: string
  persistence: () => IncomingPersistence
  authorize: Authorize
  /** the identity a client connected with (undefined before its CONNECT went through) */
  subjectOf: (client: Client) => AuthzSubject | undefined
  /** a client's will is being published (aedes closes the connection): settles when Kafka answered */
  willPublishing: (client: Client, written: Promise<void>) => void
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
   * `disconnect`: the error makes aedes close the connection. A will is never acknowledged.
   */
  function denied (client: Client, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    if (opts.authorize.denyAction !== 'disconnect') {
      logger.debug({ clientId: client.id, topic: packet.topic }, 'PUBLISH not authorized; acknowledged and dropped')
      callback(null)
      return
    }
    logger.info({ clientId: client.id, topic: packet.topic }, 'PUBLISH not authorized; closing the connection')
    callback(new Error('not authorized to publish to this topic'))
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
    const send = (): void => {
      const acked = publisher.publish(message)
      if (packet.qos === 0) {
        acked.catch(err => logger.warn({ err, clientId: client?.id, topic: packet.topic }, 'QoS 0 message not written to Kafka'))
        callback(null)
      } else {
        acked.then(() => callback(null), err => {
          logger.warn({ err, clientId: client?.id, topic: packet.topic }, 'PUBLISH not acknowledged by Kafka; closing the connection without PUBACK')
          callback(err as Error)
        })
      }
    }
    if (publisher.hasRoom()) send()
    else void publisher.waitForRoom().then(send)
  }
}
