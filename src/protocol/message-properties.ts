import type { MessageProperties } from './message.js'

/**
 * A PUBLISH's properties as mqtt-packet reads and writes them (only those Wharf carries): the
 * message's own, less the expiry time Wharf derives when it reads the record.
 */
export type WireProperties = Omit<MessageProperties, 'expiresAt'>

/**
 * The properties of a PUBLISH that belong to the message (not to the hop: topic alias and
 * subscription identifiers stay behind); undefined when there are none.
 */
export function messagePropertiesOf (wire: WireProperties | undefined): MessageProperties | undefined {
  if (wire === undefined) return undefined
  const p: MessageProperties = {}
  if (wire.userProperties !== undefined && Object.keys(wire.userProperties).length > 0) p.userProperties = wire.userProperties
  if (wire.contentType !== undefined) p.contentType = wire.contentType
  if (wire.payloadFormatIndicator !== undefined) p.payloadFormatIndicator = wire.payloadFormatIndicator
  if (wire.responseTopic !== undefined) p.responseTopic = wire.responseTopic
  if (wire.correlationData !== undefined) p.correlationData = wire.correlationData
  if (wire.messageExpiryInterval !== undefined) p.messageExpiryInterval = wire.messageExpiryInterval
  return Object.keys(p).length === 0 ? undefined : p
}

/**
 * The properties a delivery carries at `now`: the Message Expiry Interval becomes what is left of
 * it [MQTT-3.3.2-6]; 'expired' when nothing is left (the message is not delivered, [MQTT-3.3.2-5]).
 * `started`: an unacknowledged delivery sent again, which goes out even when expired (without the
 * interval).
 */
export function deliveryProperties (p: MessageProperties | undefined, now: number, started = false): WireProperties | undefined | 'expired' {
  if (p === undefined) return undefined
  const { expiresAt, messageExpiryInterval, ...rest } = p
  const out: WireProperties = rest
  const end = expiresAt ?? (messageExpiryInterval === undefined ? undefined : now + messageExpiryInterval * 1000)
  if (end !== undefined) {
    const left = Math.ceil((end - now) / 1000)
    if (left > 0) out.messageExpiryInterval = left
    else if (!started) return 'expired'
  }
  return out
}
