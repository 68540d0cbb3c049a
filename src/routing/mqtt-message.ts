export type { MqttMessage } from '../bridge/mqtt-message.js'
