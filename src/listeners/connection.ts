import type { Duplex } from 'node:stream'
import type { ListenerKind } from '../config/listeners-schema.js'

export type { ListenerKind }

/** One end of a connection: an IP address (as Node writes it) and a port (0 = unknown). */
export interface Endpoint {
  address: string
  port: number
}

/** A client certificate that verified against the listener's `cacertfile`. */
export interface PeerCertificate {
  /** The subject DN in RFC 4514 form, most specific first: `CN=device-1,O=Acme,C=SE`. */
  subject: string
  /** The subject's (last) common name, unescaped; absent when the subject has none. */
  cn?: string
  /** MD5 of the certificate's DER bytes, lowercase hex (EMQX's `md5`). */
  md5: string
}

/** What the TLS handshake settled. */
export interface TlsInfo {
  /** e.g. `TLSv1.3` */
  protocol: string
  /** OpenSSL's name of the negotiated cipher, e.g. `TLS_AES_256_GCM_SHA384` */
  cipher: string
  /** Present only for a certificate that verified; an absent or unverified one is not an identity. */
  peerCertificate?: PeerCertificate
}

/**
 * An accepted MQTT connection, ready for the MQTT engine: the byte stream (TLS, WebSocket and PROXY
 * protocol already taken off) and what is known of the client.
 */
export interface Connection {
  /**
   * MQTT bytes both ways: a net.Socket, a tls.TLSSocket or a WebSocket stream (binary frames).
   * A tcp socket that began with a PROXY header comes paused: read it with pipe, a 'readable'
   * listener (as aedes does) or 'data' plus resume().
   */
  stream: Duplex
  /** `<kind>:<name>`, e.g. `ssl:default` (EMQX's listener id). */
  listener: string
  kind: ListenerKind
  /**
   * The client: from the PROXY protocol header when the listener expects one, else from a trusted
   * proxy's WebSocket header, else the TCP peer. What logs, ACL `ipaddr` rules and bans see.
   */
  peer: Endpoint
  /** The address the client connected to (the PROXY header's destination when there is one). */
  local: Endpoint
  tls?: TlsInfo
}

/** Receives every accepted connection. It owns the stream from then on. */
export type ConnectionHandler = (connection: Connection) => void
