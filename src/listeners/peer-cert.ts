import { createHash, X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import type { PeerCertAs } from '../config/listeners-schema.js'
import type { PeerCertificate, TlsInfo } from './connection.js'

/**
 * A subject as RFC 4514 writes it (most specific RDN first, `,` between RDNs, `+` inside a
 * multi-valued one), the form `openssl -nameopt RFC2253` and Mosquitto's `use_subject_as_username`
 * give. Node's X509Certificate.subject has the RDNs one a line, top first, values already escaped
 * the RFC 2253 way.
 */
export function rfc4514Subject (cert: X509Certificate): string {
  return cert.subject.split('\n').filter((l) => l !== '').reverse().map((rdn) => rdn.split(' + ').join('+')).join(',')
}

/** The certificate's identity: DN, last CN and the MD5 of its DER bytes. */
export function describeCertificate (der: Buffer): PeerCertificate {
  const cert = new X509Certificate(der)
  const subject = rfc4514Subject(cert)
  const md5 = createHash('md5').update(der).digest('hex')
  // legacy getPeerCertificate()-style parsing gives unescaped values; take the most specific CN
  const cn = cert.toLegacyObject().subject?.CN
  const last = Array.isArray(cn) ? cn[cn.length - 1] : cn
  return last === undefined ? { subject, md5 } : { subject, cn: last, md5 }
}

/**
 * Protocol, cipher and — only if it verified against the listener's CA — the client certificate
 * of an established TLS connection.
 */
export function tlsInfo (socket: TLSSocket): TlsInfo {
  const info: TlsInfo = { protocol: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher().name }
  if (!socket.authorized) return info
  const raw = socket.getPeerCertificate().raw as Buffer | undefined
  return raw === undefined ? info : { ...info, peerCertificate: describeCertificate(raw) }
}

/**
 * The value `mqtt.peer_cert_as_username` / `peer_cert_as_clientid` asks for: the certificate's CN,
 * its DN or its MD5; undefined when that is off, there is no verified certificate, or it has no CN
 * (the client's own user name / client id then stands).
 */
export function certIdentity (tls: TlsInfo | undefined, as: PeerCertAs): string | undefined {
  const cert = tls?.peerCertificate
  if (cert === undefined) return undefined
  switch (as) {
    case 'cn': return cert.cn
    case 'dn': return cert.subject
    case 'md5': return cert.md5
    case 'disabled': return undefined
  }
}
