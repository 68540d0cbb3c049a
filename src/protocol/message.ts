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
}
