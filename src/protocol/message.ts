/** An MQTT quality-of-service level. */
export type Qos = 0 | 1 | 2

/** An application message as it travels between MQTT and the log. */
export interface MqttMessage {
  topic: string
  payload: Buffer
  qos: Qos
  retain: boolean
  /** publishing client, when it came from MQTT */
  clientId?: string | undefined
  username?: string | undefined
  /** edge node that took the PUBLISH */
  node?: string | undefined
  /** MQTT 5 properties (absent: none) */
  properties?: MessageProperties | undefined
}

/**
 * The MQTT 5 properties of an application message that travel with it through Kafka (record
 * headers, `mapping/property-headers.ts`) and reach MQTT 5 subscribers [MQTT-3.3.2-17..20].
 */
export interface MessageProperties {
  userProperties?: Record<string, string | string[]>
  contentType?: string
  /** the payload is UTF-8 text (Payload Format Indicator 1) */
  payloadFormatIndicator?: boolean
  responseTopic?: string
  correlationData?: Buffer
  /** seconds, as the publisher gave it */
  messageExpiryInterval?: number
  /** when it expires, ms since the epoch: the record's timestamp plus the interval (set when read from Kafka) */
  expiresAt?: number
}
