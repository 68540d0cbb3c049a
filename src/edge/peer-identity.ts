import type { Client, ConnectPacket, PreConnectHandler } from 'aedes'
import type { PeerCertAs } from '../config/listeners-schema.js'
import { certIdentity, type TlsInfo } from '../listeners/index.js'

/** `mqtt.peer_cert_as_username` and `mqtt.peer_cert_as_clientid`. */
export interface PeerCertAsOptions {
  username: PeerCertAs
  clientid: PeerCertAs
}

/**
 * Puts a verified client certificate's identity (cn, dn or md5) in place of the CONNECT's user
 * name and/or client id, as EMQX's `peer_cert_as_username` / `peer_cert_as_clientid` do: the
 * device cannot choose a name other than its certificate's. Without a verified certificate (or
 * with a certificate that has no CN, for `cn`) the CONNECT stays as the client sent it.
 * Returns what changed (for the log).
 */
export function applyPeerIdentity (packet: Pick<ConnectPacket, 'clientId' | 'username'>, tls: TlsInfo | undefined, as: PeerCertAsOptions): { username?: string; clientId?: string } {
  const changed: { username?: string; clientId?: string } = {}
  const username = certIdentity(tls, as.username)
  if (username !== undefined) packet.username = changed.username = username
  const clientId = certIdentity(tls, as.clientid)
  if (clientId !== undefined) packet.clientId = changed.clientId = clientId
  return changed
}

/**
 * aedes' preConnect hook with the certificate's identity applied first, then `next` (the CONNECT
 * rules, connect-rules.ts, which then judge the name the client will have). preConnect runs
 * before aedes reads the client id and before the authenticate hook, so authentication, ACL
 * rules, sessions and Kafka headers all see the certificate's name. `next` itself when both keys
 * are `disabled`.
 */
export function withPeerIdentity (tlsOf: (client: Client) => TlsInfo | undefined, as: PeerCertAsOptions, next: PreConnectHandler): PreConnectHandler {
  if (as.username === 'disabled' && as.clientid === 'disabled') return next
  return (client, packet, done) => {
    applyPeerIdentity(packet, tlsOf(client), as)
    next(client, packet, done)
  }
}
