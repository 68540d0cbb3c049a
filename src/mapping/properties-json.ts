import type { MessageProperties } from '../protocol/message.js'

/**
 * The MQTT 5 properties of a message as JSON (the json envelope's `properties` field, the will
 * records of the sessions topic). User properties are a list of `[name, value]` pairs: a name may
 * repeat and its values keep their order (a map could not say `a=1, a=2`); names come in the order
 * of their first value. Correlation data is base64; the expiry interval is the publisher's, in seconds.
 */
export interface PropertiesJson {
  user_properties?: Array<[string, string]>
  content_type?: string
  /** 1: the payload is UTF-8 text; 0: unspecified bytes */
  payload_format_indicator?: 0 | 1
  response_topic?: string
  /** base64 */
  correlation_data?: string
  /** seconds */
  message_expiry_interval?: number
}

/** The JSON form of a message's properties (an empty object when it has none). */
export function propertiesToJson (p: MessageProperties | undefined): PropertiesJson {
  const out: PropertiesJson = {}
  if (p === undefined) return out
  if (p.userProperties !== undefined) {
    const pairs: Array<[string, string]> = []
    for (const [name, value] of Object.entries(p.userProperties)) {
      for (const v of Array.isArray(value) ? value : [value]) pairs.push([name, v])
    }
    if (pairs.length > 0) out.user_properties = pairs
  }
  if (p.contentType !== undefined) out.content_type = p.contentType
  if (p.payloadFormatIndicator !== undefined) out.payload_format_indicator = p.payloadFormatIndicator ? 1 : 0
  if (p.responseTopic !== undefined) out.response_topic = p.responseTopic
  if (p.correlationData !== undefined) out.correlation_data = p.correlationData.toString('base64')
  if (p.messageExpiryInterval !== undefined) out.message_expiry_interval = p.messageExpiryInterval
  return out
}

/** User properties in mqtt-packet's shape from `[name, value]` pairs (a repeated name: its values in order). */
export function userPropertiesOf (pairs: ReadonlyArray<readonly [string, string]>): Record<string, string | string[]> {
  const user: Record<string, string | string[]> = {}
  for (const [name, value] of pairs) {
    const had = user[name]
    user[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value]
  }
  return user
}

/** `{ properties }` when there are some, else nothing (a decoded record leaves the key out). */
export function withProperties (p: MessageProperties | undefined): { properties?: MessageProperties } {
  return p === undefined ? {} : { properties: p }
}

const isString = (v: unknown): v is string => typeof v === 'string'
const absent = (v: unknown): boolean => v === undefined || v === null

/**
 * Reads the JSON form back: undefined when there is none (absent, null or `{}`), false when a
 * field has the wrong type. The expiry interval is returned as given (the caller counts it from
 * the record's timestamp).
 */
export function propertiesFromJson (v: unknown): MessageProperties | undefined | false {
  if (absent(v)) return undefined
  if (typeof v !== 'object' || Array.isArray(v)) return false
  const j = v as Record<string, unknown>
  const p: MessageProperties = {}
  const users = j.user_properties
  if (!absent(users)) {
    if (!Array.isArray(users) || !users.every(u => Array.isArray(u) && u.length === 2 && isString(u[0]) && isString(u[1]))) return false
    if (users.length > 0) p.userProperties = userPropertiesOf(users as Array<[string, string]>)
  }
  const { content_type: ct, payload_format_indicator: pfi, response_topic: rt, correlation_data: cd, message_expiry_interval: mei } = j
  if (!absent(ct)) { if (!isString(ct)) return false; p.contentType = ct }
  if (!absent(pfi)) { if (pfi !== 0 && pfi !== 1) return false; p.payloadFormatIndicator = pfi === 1 }
  if (!absent(rt)) { if (!isString(rt)) return false; p.responseTopic = rt }
  if (!absent(cd)) { if (!isString(cd)) return false; p.correlationData = Buffer.from(cd, 'base64') }
  if (!absent(mei)) {
    if (typeof mei !== 'number' || !Number.isInteger(mei) || mei < 0 || mei > 0xFFFFFFFF) return false
    p.messageExpiryInterval = mei
  }
  return Object.keys(p).length === 0 ? undefined : p
}
