import type { AuthorizePublishHandler, Client, PublishPacket } from 'aedes'
import type { Logger } from '../observability/logger.js'
import type { LogPublisher } from '../routing/log-publisher.js'
import type { MqttMessage } from '../protocol/message.js'
import type { RetainedStore } from '../retained/retained-store.js'

/** aedes calls its persistence promise-style (no callback), as the hook does here. */
export interface IncomingPersistence {
  incomingGetPacket (client: Client, packet: { messageId?: number }): Promise<unknown>
}

/**
 * aedes' authorizePublish hook is the one place in its chain that runs before a PUBACK (QoS 1) or
 * PUBREC (QoS 2) is written, so the Kafka write happens here: the callback fires only after Kafka
 * acknowledged the record. QoS 0 is handed to the producer without waiting for the ack, but still
 * waits for room in the pending buffer. While the callback is outstanding aedes reads no further
 * bytes from that socket, which is what bounds memory when Kafka is away.
 */
export function createPublishHook (opts: {
  publisher: LogPublisher
  retained: RetainedStore
  node: string
  persistence: () => IncomingPersistence
  logger: Logger
  /** a client's will is being published (aedes closes the connection): settles when Kafka answered */
  onWill?: (client: Client, written: Promise<void>) => void
  /** the user name the client connected with, if any */
  usernameOf?: (client: Client) => string | undefined
}): AuthorizePublishHandler {
  const { publisher, retained, node, logger } = opts
  return function authorizePublish (client, packet, done) {
    let callback = done
    if (client !== null && opts.onWill !== undefined && (client as { will?: unknown }).will === packet) {
      // aedes is publishing this client's will while it closes the connection
      let settle: () => void = () => undefined
      opts.onWill(client, new Promise<void>(resolve => { settle = resolve }))
      callback = (err) => { settle(); done(err) }
    }
    if (packet.topic.startsWith('$SYS/')) {
      callback(new Error('clients may not publish to $SYS topics'))
      return
    }
    if (client !== null && packet.qos === 2) {
      // a retransmitted QoS 2 PUBLISH (DUP, before PUBREL) is already in Kafka: do not write it twice
      opts.persistence().incomingGetPacket(client, packet).then(
        () => callback(null),
        () => produce(client, packet, callback)
      )
      return
    }
    produce(client, packet, callback)
  }

  function produce (client: Client | null, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    const message: MqttMessage = {
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      clientId: client?.id,
      username: client === null ? undefined : opts.usernameOf?.(client),
      node
    }
    const send = (): void => {
      // a retained PUBLISH is two records: the message itself, and the retained topic's new value
      const acked = message.retain
        ? Promise.all([publisher.publish(message), retained.write(message)])
        : publisher.publish(message)
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
