/*
 * MQTT 5 reason codes Wharf sends (OASIS MQTT 5.0, 2.4), by name. Pure data: the edge picks them;
 * 3.1.1 clients get the nearest CONNACK return code or a closed connection instead.
 */

export const REASON = {
  success: 0x00,
  noMatchingSubscribers: 0x10,
  unspecifiedError: 0x80,
  protocolError: 0x82,
  clientIdentifierNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverBusy: 0x89,
  banned: 0x8A,
  serverShuttingDown: 0x8B,
  keepAliveTimeout: 0x8D,
  sessionTakenOver: 0x8E,
  topicFilterInvalid: 0x8F,
  topicNameInvalid: 0x90,
  receiveMaximumExceeded: 0x93,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
  qosNotSupported: 0x9B,
  sharedSubscriptionsNotSupported: 0x9E
} as const

/**
 * The CONNACK reason code of an MQTT 5 client refused for `reason` (an authentication refusal or a
 * CONNECT rule's breach, as Wharf names them); unknown reasons are "unspecified error".
 */
export function connackReasonCode (reason: string): number {
  return CONNACK_BY_REASON[reason] ?? REASON.unspecifiedError
}

const CONNACK_BY_REASON: Record<string, number> = {
  bad_credentials: REASON.badUserNameOrPassword,
  not_authorized: REASON.notAuthorized,
  banned: REASON.banned,
  server_unavailable: REASON.serverUnavailable,
  overloaded: REASON.serverBusy,
  quota_exceeded: REASON.quotaExceeded,
  packet_too_large: REASON.packetTooLarge,
  empty_client_id_with_persistent_session: REASON.clientIdentifierNotValid,
  empty_client_id_mqtt_3_1: REASON.clientIdentifierNotValid,
  client_id_too_long: REASON.clientIdentifierNotValid,
  username_too_long: REASON.badUserNameOrPassword,
  will_qos_not_supported: REASON.qosNotSupported
}

/**
 * The PUBACK/PUBREC reason code for an MQTT 5 PUBLISH whose record Kafka refused for good (its
 * error name, e.g. MESSAGE_TOO_LARGE): quota exceeded for a record too large, not authorized for
 * Kafka's authorization, unspecified error otherwise.
 */
export function kafkaRefusalReasonCode (kafkaError: string): number {
  if (kafkaError === 'MESSAGE_TOO_LARGE' || kafkaError === 'RECORD_LIST_TOO_LARGE') return REASON.quotaExceeded
  if (kafkaError === 'TOPIC_AUTHORIZATION_FAILED') return REASON.notAuthorized
  return REASON.unspecifiedError
}
