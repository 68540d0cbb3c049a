/** An application message as it travels between MQTT and the log. */
export interface MqttMessage {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  retain: boolean
  /** publishing client, when it came from MQTT */
  clientId?: string | undefined
  username?: string | undefined
  /** edge node that took the PUBLISH */
  node?: string | undefined
}
