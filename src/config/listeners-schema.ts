import { z } from 'zod'
import { tryParseCidr } from './cidr.js'
import {
  BIND, LISTENER_NAME, LISTENER_NAME_PATTERN, bindAddress, bool, durationMs, int, listOrCommaString, nonEmptyString, oneOf, section, withAlias
} from './schema-parts.js'
import { rate } from './limits-schema.js'

/*
 * `listeners.<kind>.<name>`: where MQTT clients connect, in EMQX's shape (tcp, ssl, ws, wss;
 * `ssl_options`, `websocket`), so people moving from EMQX find their keys. Files named here are
 * read when the listeners open (src/listeners), not while the configuration loads.
 */

/** The listener kinds, as EMQX names them. */
export const LISTENER_KINDS = ['tcp', 'ssl', 'ws', 'wss'] as const
export type ListenerKind = typeof LISTENER_KINDS[number]

/** The listener that may omit `bind`, and the address it then gets, per kind (the usual ports). */
export const DEFAULT_LISTENER = 'default'
export const DEFAULT_BINDS: Readonly<Record<ListenerKind, string>> = {
  tcp: '0.0.0.0:1883',
  ssl: '0.0.0.0:8883',
  ws: '0.0.0.0:8083',
  wss: '0.0.0.0:8084'
}

const FILE = 'a file path'
const file = z.string({ error: FILE }).min(1, { error: FILE })

export const TLS_VERSIONS = ['tlsv1.2', 'tlsv1.3'] as const
const VERIFY_PEER_NEEDS_CA = 'the CA that signs client certificates, when verify is verify_peer'
const FAIL_NEEDS_VERIFY = 'verify: verify_peer, when fail_if_no_peer_cert is true'

/** `ssl_options` of an ssl or wss listener (EMQX's names); the HTTP port takes the same. */
export const sslOptions = z.strictObject({
  /** PEM: the server certificate (and its chain) */
  certfile: file,
  /** PEM: the server's private key */
  keyfile: file,
  /** PEM: the CA certificates client certificates are verified against */
  cacertfile: file.optional(),
  /** the key's passphrase, when it is encrypted */
  password: z.string({ error: 'a string' }).optional(),
  verify: oneOf(['verify_none', 'verify_peer']).default('verify_none'),
  fail_if_no_peer_cert: bool.default(false),
  versions: listOrCommaString(oneOf(TLS_VERSIONS), 'a list of tlsv1.2, tlsv1.3', 1).default([...TLS_VERSIONS]),
  /** OpenSSL or IANA cipher suite names (TLS 1.2 and 1.3); absent = Node's defaults */
  ciphers: listOrCommaString(nonEmptyString, 'a list of cipher suite names', 1).optional(),
  honor_cipher_order: bool.default(true),
  handshake_timeout: durationMs(100, 600_000).default(15_000)
}).superRefine((o, ctx) => {
  if (o.verify === 'verify_peer' && o.cacertfile === undefined) {
    ctx.addIssue({ code: 'custom', path: ['cacertfile'], message: `missing (expected ${VERIFY_PEER_NEEDS_CA})`, params: { expected: VERIFY_PEER_NEEDS_CA } })
  }
  if (o.fail_if_no_peer_cert && o.verify !== 'verify_peer') {
    ctx.addIssue({ code: 'custom', path: ['fail_if_no_peer_cert'], message: `true needs verify: verify_peer (client certificates are not asked for otherwise)`, params: { expected: FAIL_NEEDS_VERIFY } })
  }
})

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEADER = 'an HTTP header name'
const headerName = z.string({ error: HEADER }).regex(TOKEN, { error: HEADER }).transform((h) => h.toLowerCase())
const SUBPROTOCOL = 'a WebSocket subprotocol name'
const subprotocol = z.string({ error: SUBPROTOCOL }).regex(TOKEN, { error: SUBPROTOCOL })
const ORIGIN = 'an origin: scheme://host[:port]'
const origin = z.string({ error: ORIGIN }).transform((o, ctx) => {
  const parsed = URL.canParse(o) ? new URL(o).origin : 'null'
  if (parsed === 'null') {
    ctx.addIssue({ code: 'custom', message: ORIGIN, input: o })
    return z.NEVER
  }
  return parsed
})
const CIDR = 'an IP address or a CIDR block (10.0.0.0/8, fd00::/8)'
const cidr = z.string({ error: CIDR }).refine((c) => tryParseCidr(c) !== undefined, { error: CIDR })
const PATH = 'an HTTP path starting with "/"'

/** The subprotocols accepted when none are configured: MQTT's registered name and the older ones. */
export const DEFAULT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1', 'mqtt-v3', 'mqtt-v3.1.1', 'mqttv5', 'mqtt-v5']

/** `websocket` of a ws or wss listener (EMQX's names; `trusted_proxies` is Wharf's). */
const websocket = section(withAlias(z.strictObject({
  mqtt_path: z.string({ error: PATH }).regex(/^\/[^\s?#]*$/, { error: PATH }).default('/mqtt'),
  /** refuse an upgrade that offers no subprotocol (EMQX's default) */
  fail_if_no_subprotocol: bool.default(true),
  supported_subprotocols: listOrCommaString(subprotocol, 'a list of WebSocket subprotocol names', 1).default([...DEFAULT_SUBPROTOCOLS]),
  check_origin_enable: bool.default(false),
  allow_origin_absence: bool.default(true),
  check_origins: listOrCommaString(origin, 'a list of origins').default([]),
  proxy_address_header: headerName.default('x-forwarded-for'),
  /** the client's source port from the same proxy; absent = unknown (EMQX defaults to x-forwarded-port) */
  proxy_port_header: headerName.optional(),
  /** peers whose proxy headers are believed; none by default (EMQX believes any peer) */
  trusted_proxies: listOrCommaString(cidr, 'a list of IP addresses or CIDR blocks').default([])
}), 'allowed_origins', 'check_origins'))

/** What every listener kind has. */
const common = {
  bind: bindAddress.optional(),
  /** false keeps the listener configured but closed */
  enable: bool.default(true),
  max_connections: int(1).default(1_000_000),
  /** connections accepted per second at most (EMQX's "1000/s"); above it accepting pauses, nothing is refused */
  max_conn_rate: rate(false).prefault('infinity'),
  /** PUBLISH packets per second per client; above it the client's socket is not read for a while */
  messages_rate: rate(false).prefault('infinity'),
  /** bytes per second per client (every packet); above it the client's socket is not read for a while */
  bytes_rate: rate(true).prefault('infinity'),
  /** expect a PROXY protocol v1/v2 header first (from HAProxy or a cloud load balancer) */
  proxy_protocol: bool.default(false),
  proxy_protocol_timeout: durationMs(100, 600_000).default(3000),
  /**
   * EMQX's `tcp_options`: `backlog`, connections the kernel completes and queues before the node
   * accepts them (capped by net.core.somaxconn); Node's own default is 511
   */
  tcp_options: section(z.strictObject({ backlog: int(1, 65535).default(1024) })).prefault({})
}


/**
 * Named listeners of one kind; only `default` may omit `bind` (it gets the kind's usual port).
 * `enabled` (Wharf's earlier name) is accepted for EMQX's `enable`.
 */
function listenerMap<S extends z.ZodType<{ bind?: string | undefined }>> (shape: S, kind: ListenerKind) {
  return z.record(z.string().regex(LISTENER_NAME_PATTERN, { error: LISTENER_NAME }), withAlias(shape, 'enabled', 'enable'))
    .superRefine((listeners, ctx) => {
      for (const [name, l] of Object.entries(listeners)) {
        if (l.bind === undefined && name !== DEFAULT_LISTENER) ctx.addIssue({ code: 'custom', path: [name, 'bind'], message: BIND, input: undefined })
      }
    })
    .transform((listeners) => Object.fromEntries(Object.entries(listeners).map(
      ([name, { bind, ...rest }]) => [name, { bind: bind ?? DEFAULT_BINDS[kind], ...rest }]
    )) as Record<string, z.output<S> & { bind: string }>)
}

/**
 * The `listeners` section. tcp `default` on 0.0.0.0:1883 unless a tcp map is given (a given map
 * replaces it); ssl, ws and wss have none until configured.
 */
export const listenersSchema = section(z.strictObject({
  tcp: listenerMap(z.strictObject(common), 'tcp').prefault({ [DEFAULT_LISTENER]: {} }),
  ssl: listenerMap(z.strictObject({ ...common, ssl_options: sslOptions }), 'ssl').prefault({}),
  ws: listenerMap(z.strictObject({ ...common, websocket }), 'ws').prefault({}),
  wss: listenerMap(z.strictObject({ ...common, ssl_options: sslOptions, websocket }), 'wss').prefault({})
}))

/** The validated `listeners` section. */
export type ListenersConfig = z.output<typeof listenersSchema>
export type TcpListenerConfig = ListenersConfig['tcp'][string]
export type SslListenerConfig = ListenersConfig['ssl'][string]
export type WsListenerConfig = ListenersConfig['ws'][string]
export type WssListenerConfig = ListenersConfig['wss'][string]
export type SslOptions = SslListenerConfig['ssl_options']
export type WebSocketOptions = WsListenerConfig['websocket']
/** Any listener's configuration. */
export type AnyListenerConfig = TcpListenerConfig | SslListenerConfig | WsListenerConfig | WssListenerConfig

/** What `mqtt.peer_cert_as_username` / `peer_cert_as_clientid` take from a verified client certificate. */
export const PEER_CERT_AS = ['disabled', 'cn', 'dn', 'md5'] as const
export type PeerCertAs = typeof PEER_CERT_AS[number]
/** The schema of `mqtt.peer_cert_as_username` and `mqtt.peer_cert_as_clientid` (EMQX's keys). */
export const peerCertAs = oneOf(PEER_CERT_AS).default('disabled')
