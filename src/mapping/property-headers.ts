import type { IHeaders } from 'kafkajs'
import type { MessageProperties } from '../protocol/message.js'

/**
 * Kafka header names of the MQTT 5 message properties (documented in README, "For backend
 * services"): a plain Kafka consumer reads them, and a backend's record with them reaches MQTT 5
 * subscribers as properties. A user property `name` is the header `mqtt.user.name` (repeated for
 * each value); the Message Expiry Interval is counted from the record's timestamp.
 */
export const PROPERTY_HEADER = {
  userPrefix: 'mqtt.user.',
  contentType: 'mqtt.content_type',
  payloadFormat: 'mqtt.payload_format_indicator',
  responseTopic: 'mqtt.response_topic',
  correlationData: 'mqtt.correlation_data',
  messageExpiry: 'mqtt.message_expiry_interval'
} as const

/** The headers of a message's properties (none when it has none). */
export function propertyHeaders (p: MessageProperties | undefined, into: IHeaders): void {
  if (p === undefined) return
  if (p.userProperties !== undefined) {
    for (const [name, value] of Object.entries(p.userProperties)) into[PROPERTY_HEADER.userPrefix + name] = value
  }
  if (p.contentType !== undefined) into[PROPERTY_HEADER.contentType] = p.contentType
  if (p.payloadFormatIndicator !== undefined) into[PROPERTY_HEADER.payloadFormat] = p.payloadFormatIndicator ? '1' : '0'
  if (p.responseTopic !== undefined) into[PROPERTY_HEADER.responseTopic] = p.responseTopic
  if (p.correlationData !== undefined) into[PROPERTY_HEADER.correlationData] = p.correlationData
  if (p.messageExpiryInterval !== undefined) into[PROPERTY_HEADER.messageExpiry] = String(p.messageExpiryInterval)
}

const text = (v: Buffer | string | undefined): string | undefined => v === undefined ? undefined : v.toString()

/** The header names of the properties other than user properties. */
const PROPERTY_NAMES = new Set<string>([PROPERTY_HEADER.contentType, PROPERTY_HEADER.payloadFormat, PROPERTY_HEADER.responseTopic,
  PROPERTY_HEADER.correlationData, PROPERTY_HEADER.messageExpiry])

/**
 * The properties a record's headers carry (undefined when none); `timestampMs` is the record's
 * timestamp, from which an expiry interval counts. Invalid values (an interval that is not a
 * non-negative integer) are ignored; a null value (Kafka allows one) counts as absent. Runs for
 * every record delivered: the other headers (the MQTT metadata) are passed over with one look-up.
 */
export function propertiesFromHeaders (headers: IHeaders | undefined, timestampMs: number): MessageProperties | undefined {
  if (headers === undefined) return undefined
  let p: MessageProperties | undefined
  for (const name in headers) {
    const user = name.startsWith(PROPERTY_HEADER.userPrefix)
    if (!user && !PROPERTY_NAMES.has(name)) continue
    const raw = headers[name] as IHeaders[string] | null
    if (raw === undefined || raw === null) continue
    const values = (Array.isArray(raw) ? raw : [raw]).filter(v => v !== null)
    if (values.length === 0) continue
    const last = values[values.length - 1]
    if (user) {
      p ??= {}
      const props = p.userProperties ??= {}
      const strings = values.map(v => v.toString())
      props[name.slice(PROPERTY_HEADER.userPrefix.length)] = strings.length === 1 ? strings[0] as string : strings
    } else if (name === PROPERTY_HEADER.contentType) {
      (p ??= {}).contentType = text(last)
    } else if (name === PROPERTY_HEADER.payloadFormat) {
      (p ??= {}).payloadFormatIndicator = text(last) === '1'
    } else if (name === PROPERTY_HEADER.responseTopic) {
      (p ??= {}).responseTopic = text(last)
    } else if (name === PROPERTY_HEADER.correlationData && last !== undefined) {
      (p ??= {}).correlationData = Buffer.isBuffer(last) ? last : Buffer.from(last)
    } else if (name === PROPERTY_HEADER.messageExpiry) {
      const seconds = Number(text(last))
      if (Number.isInteger(seconds) && seconds >= 0) {
        p ??= {}
        p.messageExpiryInterval = seconds
        p.expiresAt = timestampMs + seconds * 1000
      }
    }
  }
  return p
}
