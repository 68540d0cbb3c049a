import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** A SCRAM user created with the cluster metadata when a node is formatted. */
export interface ScramUser {
  name: string
  password: string
}

/**
 * Secured client listeners for a local Kafka (tests of `kafka.sasl.*` and `kafka.tls.*`). The
 * PLAINTEXT listener stays: the nodes replicate and the launcher probes readiness through it.
 * With `sasl`, a SASL_PLAINTEXT listener (SCRAM-SHA-256 and SCRAM-SHA-512, plus PLAIN with the
 * same users); with `tls`, an SSL listener; with both, a SASL_SSL listener too.
 */
export interface LocalKafkaSecurity {
  sasl?: { users: ScramUser[] }
  tls?: {
    /** the broker's private key, PEM (PKCS#8, unencrypted) */
    key: string
    /** the broker's certificate, then its issuers, PEM; it names 127.0.0.1 */
    certChain: string
    /** CA certificates (PEM) that client certificates must chain to; set = SSL listener clients must present one */
    clientCa?: string
  }
}

export type SecureListenerName = 'SASL_PLAINTEXT' | 'SSL' | 'SASL_SSL'

/** The secured listeners `security` asks for, in a fixed order. */
export function secureListenerNames (security: LocalKafkaSecurity | undefined): SecureListenerName[] {
  if (security === undefined) return []
  const names: SecureListenerName[] = []
  if (security.sasl !== undefined) names.push('SASL_PLAINTEXT')
  if (security.tls !== undefined) names.push('SSL')
  if (security.sasl !== undefined && security.tls !== undefined) names.push('SASL_SSL')
  return names
}

const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const

/** Checks names and passwords before they reach a .properties file or a StorageTool argument. */
function checkUsers (users: ScramUser[]): void {
  if (users.length === 0) throw new Error('security.sasl.users is empty')
  for (const { name, password } of users) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`SCRAM user name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' only`)
    if (!/^[A-Za-z0-9._~!@#%^*+=-]+$/.test(password)) throw new Error(`the password of SCRAM user ${name} has a character the launcher cannot quote (no spaces, quotes, commas, brackets or backslashes)`)
  }
}

/** `--add-scram` arguments for `kafka-storage format`: every user under both SCRAM mechanisms. */
export function scramFormatArgs (security: LocalKafkaSecurity | undefined): string[] {
  const users = security?.sasl?.users
  if (users === undefined) return []
  checkUsers(users)
  return users.flatMap(({ name, password }) =>
    SCRAM_MECHANISMS.flatMap((mechanism) => ['--add-scram', `${mechanism}=[name=${name},password=${password}]`]))
}

/**
 * Broker properties for the secured listeners. Key and certificates go into files under
 * `tlsDir` (PEM key stores, Kafka 2.7+), readable only by the owner.
 */
export async function securityProperties (security: LocalKafkaSecurity | undefined, tlsDir: string): Promise<Array<[string, string]>> {
  const names = secureListenerNames(security)
  if (security === undefined || names.length === 0) return []
  const props: Array<[string, string]> = []
  const sasl = security.sasl
  if (sasl !== undefined) {
    checkUsers(sasl.users)
    props.push(['sasl.enabled.mechanisms', [...SCRAM_MECHANISMS, 'PLAIN'].join(',')])
    const plainUsers = sasl.users.map(({ name, password }) => `user_${name}="${password}"`).join(' ')
    for (const listener of names.filter((n) => n.startsWith('SASL_'))) {
      const prefix = `listener.name.${listener.toLowerCase()}`
      for (const mechanism of SCRAM_MECHANISMS) {
        props.push([`${prefix}.${mechanism.toLowerCase()}.sasl.jaas.config`, 'org.apache.kafka.common.security.scram.ScramLoginModule required;'])
      }
      props.push([`${prefix}.plain.sasl.jaas.config`, `org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`])
    }
  }
  const tls = security.tls
  if (tls !== undefined) {
    await mkdir(tlsDir, { recursive: true, mode: 0o700 })
    const keystore = join(tlsDir, 'broker-keystore.pem')
    await writeFile(keystore, `${tls.key.trim()}\n${tls.certChain.trim()}\n`, { mode: 0o600 })
    await chmod(keystore, 0o600)
    props.push(['ssl.keystore.type', 'PEM'], ['ssl.keystore.location', keystore])
    if (tls.clientCa !== undefined) {
      const truststore = join(tlsDir, 'client-ca.pem')
      await writeFile(truststore, tls.clientCa.trim() + '\n')
      // only the SSL listener asks for a client certificate; SASL_SSL clients authenticate with SASL
      props.push(['ssl.truststore.type', 'PEM'], ['ssl.truststore.location', truststore], ['listener.name.ssl.ssl.client.auth', 'required'])
    }
  }
  return props
}

/** Where a node keeps its TLS files. */
export function tlsDirOf (nodeDir: string): string {
  return join(nodeDir, 'tls')
}
