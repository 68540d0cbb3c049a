/*
 * What the MQTT edge tells the rest of the node about its clients, as a small interface it calls
 * (like the authentication hooks): presence in Kafka, `$SYS` events and the connection counts
 * listen to it without the edge knowing who they are.
 */

/**
 * Why a connection ended (EMQX's words where EMQX has one): `normal` = the client sent
 * DISCONNECT; `takenover` = the same client id connected again (here or on another node);
 * `kicked` = an operator closed it (REST API, dashboard, `wharf clients kick`); `keepalive_timeout`;
 * `sock_closed` = the client closed the connection without DISCONNECT; `sock_error` = the socket
 * failed (reset, drain timeout); `protocol_error` = malformed or forbidden packets; `server_closed`
 * = the node closed it (credentials expired, a denied PUBLISH with `deny_action: disconnect`);
 * `server_shutdown` = the node stopped; `node_down` = the node died (written by a survivor).
 */
export type DisconnectReason =
  | 'normal' | 'takenover' | 'kicked' | 'keepalive_timeout' | 'sock_closed' | 'sock_error'
  | 'protocol_error' | 'server_closed' | 'server_shutdown' | 'node_down'

export const DISCONNECT_REASONS: readonly DisconnectReason[] = [
  'normal', 'takenover', 'kicked', 'keepalive_timeout', 'sock_closed', 'sock_error',
  'protocol_error', 'server_closed', 'server_shutdown', 'node_down'
]

/** A subscription as presence keeps it: topic filter (`$share/g/f` included) and granted QoS. */
export type Subscription = [filter: string, qos: number]

/** A client whose CONNACK went out. */
export interface ConnectedClient {
  clientId: string
  /** the connection's id (its takeover claim's): tells this connection from later ones */
  conn: string
  username: string | undefined
  peerhost: string
  /** `<kind>:<name>` or the listener's name */
  listener: string
  /** 3 = MQTT 3.1, 4 = MQTT 3.1.1 */
  protoVer: number
  clean: boolean
  /** seconds; 0 = none */
  keepalive: number
  /** the subscriptions it holds at CONNACK (a resumed session's) */
  subs: Subscription[]
}

/** Whoever wants to know when clients come, subscribe and go. Calls must not throw. */
export interface ClientEvents {
  connected (client: ConnectedClient): void
  /** granted subscriptions (refused filters are not passed) */
  subscribed (clientId: string, conn: string, subs: Subscription[]): void
  unsubscribed (clientId: string, conn: string, filters: string[]): void
  disconnected (clientId: string, conn: string, reason: DisconnectReason): void
}

/** One ClientEvents that tells several. */
export function fanOut (...targets: ClientEvents[]): ClientEvents {
  return {
    connected: (c) => { for (const t of targets) t.connected(c) },
    subscribed: (id, conn, subs) => { for (const t of targets) t.subscribed(id, conn, subs) },
    unsubscribed: (id, conn, filters) => { for (const t of targets) t.unsubscribed(id, conn, filters) },
    disconnected: (id, conn, reason) => { for (const t of targets) t.disconnected(id, conn, reason) }
  }
}

