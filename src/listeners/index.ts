import { EventEmitter } from 'node:events'
import { LISTENER_KINDS, type ListenerKind, type ListenersConfig } from '../config/listeners-schema.js'
import type { Logger } from '../observability/logger.js'
import type { ReloadResult } from './cert-reloader.js'
import type { ConnectionHandler } from './connection.js'
import type { CloseReason, ListenerStats } from './counters.js'
import { Listener, type ListenerDescription } from './listener.js'
import { loadTls } from './tls-options.js'

/*
 * Where MQTT clients connect: every configured listener (tcp, ssl, ws, wss; PROXY protocol;
 * limits; counters), each accepted connection handed to one callback as a byte stream plus what
 * is known of the client (connection.ts). Knows nothing of MQTT or of the edge.
 */

export type { Connection, ConnectionHandler, Endpoint, PeerCertificate, TlsInfo } from './connection.js'
export type { ReloadResult } from './cert-reloader.js'
export type { CloseReason, ListenerStats } from './counters.js'
export type { ListenerDescription } from './listener.js'
export { certIdentity } from './peer-cert.js'

/**
 * Reads every enabled ssl/wss listener's certificate, key and CA files now, as opening them
 * would: the CLI calls it right after loading the configuration, so a bad file stops the start
 * with the one-line configuration error (exit 2) before anything else starts. Throws a
 * ConfigError naming the key (`listeners.ssl.default.ssl_options.certfile`).
 */
export function checkCertificates (config: ListenersConfig): void {
  for (const kind of ['ssl', 'wss'] as const) {
    for (const [name, l] of Object.entries(config[kind])) {
      if (l.enable) loadTls(`listeners.${kind}.${name}.ssl_options`, l.ssl_options)
    }
  }
}

/** A connection a listener closed itself: a refusal at accept, a failed handshake, a bad frame. */
export interface ClosedEvent {
  /** `<kind>:<name>` */
  listener: string
  kind: ListenerKind
  reason: CloseReason
}

export interface ListenersEvents {
  closed: [ClosedEvent]
  /** A connection waits for its turn under `max_conn_rate` (`<kind>:<name>`). */
  throttled: [{ listener: string; kind: ListenerKind }]
  /** Every certificate reload attempt (file change or `reloadCertificates()`). */
  reload: [ReloadResult]
}

export interface OpenListenersOptions {
  /** Quiet time after a certificate file changes before it is reloaded; default 1000 ms. */
  reloadDebounceMs?: number
  /** Time a ws/wss connection has for its HTTP upgrade request (after TLS); default 15000 ms. */
  upgradeTimeoutMs?: number
}

/** The open listeners of a node. */
export class Listeners extends EventEmitter<ListenersEvents> {
  private constructor (private readonly all: Listener[]) {
    super()
  }

  /**
   * Opens every enabled listener of `config`. Certificates are read first: a missing or bad one
   * throws a ConfigError naming its key (`listeners.ssl.default.ssl_options.certfile`). If any
   * listener fails to open, those already open are closed again and the error is thrown.
   */
  static async open (config: ListenersConfig, handler: ConnectionHandler, logger: Logger, options: OpenListenersOptions = {}): Promise<Listeners> {
    const all: Listener[] = []
    const listeners = new Listeners(all)
    const reloadDebounceMs = options.reloadDebounceMs ?? 1000
    const upgradeTimeoutMs = options.upgradeTimeoutMs ?? 15_000
    try {
      for (const kind of LISTENER_KINDS) {
        for (const [name, listenerConfig] of Object.entries(config[kind])) {
          if (!listenerConfig.enable) continue
          const listener: Listener = new Listener({
            kind,
            name,
            config: listenerConfig,
            handler,
            logger,
            reloadDebounceMs,
            upgradeTimeoutMs,
            events: {
              closed: (reason) => listeners.emit('closed', { listener: listener.id, kind, reason }),
              throttled: () => listeners.emit('throttled', { listener: listener.id, kind }),
              reload: (result) => listeners.emit('reload', result)
            }
          })
          await listener.open()
          all.push(listener)
        }
      }
    } catch (err) {
      listeners.stopAccepting()
      throw err
    }
    return listeners
  }

  /** Name, kind, bind, port bound and current connections of each listener (for /ready). */
  describe (): ListenerDescription[] {
    return this.all.map((l) => l.describe())
  }

  /** Each listener's counters by `<kind>:<name>` (for /metrics). */
  stats (): Record<string, ListenerStats> {
    return Object.fromEntries(this.all.map((l) => [l.id, l.stats()]))
  }

  /**
   * Reloads every TLS listener's certificate, key and CA from their files now (the node calls
   * this on SIGHUP). New connections get what loaded; connections already made keep theirs.
   */
  reloadCertificates (): ReloadResult[] {
    return this.all.flatMap((l) => l.reloadCertificates() ?? [])
  }

  /** Stops accepting on every listener; connections already made go on. */
  stopAccepting (): void {
    for (const l of this.all) l.stopAccepting()
  }

  /** Stops accepting and closes every connection still open. */
  close (): void {
    this.stopAccepting()
    for (const l of this.all) l.destroyConnections()
  }
}
