/**
 * Why a node could not use Kafka at start, in the operator's terms: which configuration keys to
 * check. Only for the failures that retrying alone will not fix (refused credentials, a TLS
 * handshake that fails); undefined for the rest (Kafka down, not reachable yet).
 */
export interface KafkaStartProblem {
  /** the configuration keys the operator should look at */
  keys: string
  message: string
}

/** The error and the errors it wraps (kafkajs keeps them in `originalError` or `cause`). */
function chain (err: unknown): Array<{ name?: unknown; code?: unknown }> {
  const found: Array<{ name?: unknown; code?: unknown }> = []
  let current: unknown = err
  while (typeof current === 'object' && current !== null && found.length < 5) {
    const e = current as { name?: unknown; code?: unknown; originalError?: unknown; cause?: unknown }
    found.push(e)
    current = e.originalError ?? e.cause
  }
  return found
}

/** Node's and OpenSSL's codes for a failed TLS handshake or an untrusted certificate. */
const TLS_CODE = /CERT|CRL|LEAF_SIGNATURE|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH|HOSTNAME_MISMATCH|ERR_SSL_|ERR_TLS_|EPROTO/

/** Classifies an error from the first Kafka requests of a starting node (never reads a password). */
export function kafkaStartProblem (err: unknown): KafkaStartProblem | undefined {
  const errors = chain(err)
  if (errors.some((e) => e.name === 'KafkaJSSASLAuthenticationError')) {
    return {
      keys: 'kafka.sasl',
      message: 'Kafka refused the SASL credentials: check kafka.sasl.mechanism, kafka.sasl.username and kafka.sasl.password (retrying)'
    }
  }
  const tls = errors.find((e) => typeof e.code === 'string' && TLS_CODE.test(e.code))
  if (tls !== undefined) {
    return {
      keys: 'kafka.tls',
      message: `TLS to Kafka failed (${String(tls.code)}): check kafka.tls.ca_file, kafka.tls.cert_file, kafka.tls.key_file and kafka.brokers (retrying)`
    }
  }
  return undefined
}
