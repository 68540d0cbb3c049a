// A little over ~300 lines: one listener of any kind (tcp, ssl, ws, wss) with its accept path (limits,
// PROXY protocol, TLS, HTTP upgrade) in order, as a connection goes through it.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls'
import { parseBind } from '../config/bind.js'
import type { AnyListenerConfig, ListenerKind, SslOptions, WebSocketOptions } from '../config/listeners-schema.js'
import type { Logger } from '../observability/logger.js'
import { CertificateReloader, type ReloadResult } from './cert-reloader.js'
import { AcceptGate } from './conn-rate.js'
import type { Connection, ConnectionHandler, Endpoint, TlsInfo } from './connection.js'
import { handshakeFailure, ListenerCounters, type CloseReason, type ListenerStats } from './counters.js'
import { tlsInfo } from './peer-cert.js'
import { ProxyHeaderError, readProxyHeader } from './proxy-stream.js'
import { loadTls, tlsServerOptions } from './tls-options.js'
import { serveWebSocket } from './websocket.js'

/** A listener as /ready shows it. */
export interface ListenerDescription {
  /** `<kind>:<name>` */
  listener: string
  name: string
  kind: ListenerKind
  /** as configured */
  bind: string
  host: string
  /** the port bound (differs from the configured one when that was 0) */
  port: number
  proxy_protocol: boolean
  current_connections: number
}

export interface ListenerEvents {
  /** The listener closed a connection itself (a refusal or a failed handshake). */
  closed: (reason: CloseReason) => void
  /** A connection waits for its turn (`max_conn_rate`): accepting is paused, nothing is refused. */
  throttled: () => void
  reload: (result: ReloadResult) => void
}

export interface ListenerOptions {
  kind: ListenerKind
  name: string
  config: AnyListenerConfig
  handler: ConnectionHandler
  logger: Logger
  /** Quiet time before certificate files that changed are reloaded. */
  reloadDebounceMs: number
  /** Time a ws/wss connection has for its HTTP upgrade (after TLS, for wss). */
  upgradeTimeoutMs: number
  events: ListenerEvents
}

/** What the TCP side learned of a connection before it went to TLS or HTTP. */
interface Accepted {
  peer: Endpoint
  local: Endpoint
  /** closes a ws/wss connection whose HTTP upgrade takes too long */
  upgradeTimer?: NodeJS.Timeout
}

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i

/** An endpoint as the Connection reports it: an IPv4 client on a dual-stack socket as plain IPv4. */
function endpoint (address: string | undefined, port: number | undefined): Endpoint {
  const text = address ?? ''
  return { address: MAPPED_V4.exec(text)?.[1] ?? text, port: port ?? 0 }
}

/**
 * The reason a client certificate was refused (`handshake_failed:unable_to_verify_leaf_signature`),
 * from the socket's verify error; undefined when it has none.
 */
function verifyFailure (socket: TLSSocket): CloseReason | undefined {
  const error = socket.authorizationError as unknown
  const code = typeof error === 'string' ? error : (error as NodeJS.ErrnoException | undefined)?.code
  return code === undefined ? undefined : handshakeFailure({ code: `ERR_SSL_${code}` })
}

const socketKey = (s: { remoteAddress?: string | undefined, remotePort?: number | undefined }): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`

/**
 * One listener. Every kind accepts on a plain TCP server, where `max_connections`, the counters
 * and the PROXY protocol header (before any TLS, as HAProxy sends it) are handled; then the
 * connection goes on as it is (tcp), or is fed to a TLS, HTTP or HTTPS server that never listens
 * itself (`emit('connection')`), whose result is handed to `handler`.
 */
export class Listener {
  readonly id: string
  readonly counters = new ListenerCounters()
  private readonly server: NetServer
  private readonly sockets = new Set<Socket>()
  /** TCP facts of connections in a TLS or HTTP handshake, by remote address and port. */
  private readonly accepted = new Map<string, Accepted>()
  private protocolServer: TlsServer | HttpServer | undefined
  private reloader: CertificateReloader | undefined
  /** `max_conn_rate`; undefined = no limit */
  private readonly gate: AcceptGate | undefined
  private host = ''
  private port = 0
  private readonly log: Logger
  /** every socket's 'error' and 'close' listeners: one function each for all connections */
  private readonly onSocketError = (err: Error): void => { this.log.debug({ err }, 'connection error') }
  private readonly onSocketClose: (this: Socket) => void

  constructor (private readonly opts: ListenerOptions) {
    this.id = `${opts.kind}:${opts.name}`
    this.log = opts.logger.child({ listener: this.id })
    const closed = (socket: Socket): void => this.closed(socket)
    this.onSocketClose = function onSocketClose (this: Socket) { closed(this) }
    // Nagle off, as EMQX's tcp_options.nodelay: MQTT packets are small and answers wait on them
    this.server = createNetServer({ noDelay: true }, (socket) => this.onTcp(socket))
    const rate = opts.config.max_conn_rate
    this.gate = rate === undefined ? undefined : new AcceptGate(rate, () => { this.counters.throttled++; opts.events.throttled() })
  }

  private get keyPrefix (): string {
    return `listeners.${this.opts.kind}.${this.opts.name}`
  }

  /**
   * Reads the certificates (a ConfigError naming the key when one is bad), then binds. Rejects
   * when the address cannot be bound.
   */
  async open (): Promise<void> {
    const { kind, config } = this.opts
    if (kind === 'ssl' || kind === 'wss') this.protocolServer = this.tlsServer(kind, (config as { ssl_options: SslOptions }).ssl_options)
    if (kind === 'ws') this.protocolServer = createHttpServer()
    if (kind === 'ws' || kind === 'wss') this.webSocket(this.protocolServer as HttpServer, (config as { websocket: WebSocketOptions }).websocket)
    if (this.protocolServer !== undefined) this.handleProtocolErrors(this.protocolServer)

    const { host, port } = parseBind(config.bind)
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen({ port, host, backlog: config.tcp_options.backlog }, () => { this.server.off('error', reject); resolve() })
    })
    const address = this.server.address()
    this.host = host
    this.port = typeof address === 'object' && address !== null ? address.port : port
    this.server.on('error', (err) => this.log.error({ err }, 'MQTT listener error'))
    this.reloader?.watch()
    this.log.info({ bind: `${host}:${this.port}`, proxy_protocol: config.proxy_protocol }, 'MQTT listener open')
  }

  private tlsServer (kind: 'ssl' | 'wss', ssl: SslOptions): TlsServer {
    const keyPrefix = `${this.keyPrefix}.ssl_options`
    const loaded = loadTls(keyPrefix, ssl)
    const options = tlsServerOptions(loaded, ssl)
    const server = kind === 'ssl' ? createTlsServer(options) : createHttpsServer(options)
    this.reloader = new CertificateReloader({
      listener: this.id,
      keyPrefix,
      ssl,
      debounceMs: this.opts.reloadDebounceMs,
      apply: (next) => server.setSecureContext(next.context),
      onResult: (result) => this.opts.events.reload(result),
      logger: this.opts.logger
    }, loaded)
    server.on('secureConnection', (socket: TLSSocket) => this.onSecure(socket))
    return server
  }

  private handleProtocolErrors (server: TlsServer | HttpServer): void {
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      // a client certificate that did not verify, with fail_if_no_peer_cert: Node destroys the
      // socket itself after the handshake and reports a reset; the reason is the verify error
      const reason = verifyFailure(socket) ?? handshakeFailure(err)
      this.close(reason)
      this.log.debug({ reason, peer: this.accepted.get(socketKey(socket))?.peer }, 'TLS handshake failed')
    })
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // an https server reports a failed TLS handshake here too: tlsClientError counts it
      if (/^ERR_(SSL|TLS)_/.test(err.code ?? '')) {
        socket.destroy()
        return
      }
      this.close('http_bad_request')
      this.log.debug({ err }, 'bad HTTP request on a WebSocket listener')
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
      socket.destroy()
    })
  }

  private webSocket (server: HttpServer, o: WebSocketOptions): void {
    serveWebSocket(server, o, {
      peerOf: (socket) => this.accepted.get(socketKey(socket as Socket))?.peer,
      closed: (reason) => this.close(reason),
      accept: (stream, peer, socket) => {
        const tcp = this.accepted.get(socketKey(socket as Socket))
        if (tcp === undefined) {
          stream.destroy()
          return
        }
        this.handOn(stream, { ...tcp, peer: endpoint(peer.address, peer.port) }, this.opts.kind === 'wss' ? tlsInfo(socket as TLSSocket) : undefined)
      }
    })
  }

  private onTcp (socket: Socket): void {
    socket.on('error', this.onSocketError)
    const { config } = this.opts
    if (socket.remoteAddress === undefined) {
      socket.destroy() // reset before it was accepted
      return
    }
    if (this.counters.current >= config.max_connections) {
      this.close('max_connections')
      socket.destroy()
      return
    }
    this.counters.current++
    this.counters.total++
    this.sockets.add(socket)
    const key = socketKey(socket)
    // 'close' comes once: `on` holds no once-wrapper per connection
    socket.on('close', this.onSocketClose)
    if (this.gate === undefined) this.onAdmitted(socket, key)
    else this.gate.admit(socket, () => this.onAdmitted(socket, key))
  }

  /** A connection's socket closed (its remote address and port stay readable: Node keeps them once read). */
  private closed (socket: Socket): void {
    this.counters.current--
    this.sockets.delete(socket)
    if (this.accepted.size === 0) return
    const key = socketKey(socket)
    clearTimeout(this.accepted.get(key)?.upgradeTimer)
    this.accepted.delete(key)
  }

  /** A connection within max_connections and max_conn_rate: its PROXY header (if expected), then TLS, HTTP or MQTT. */
  private onAdmitted (socket: Socket, key: string): void {
    const { config } = this.opts
    const real = {
      peer: endpoint(socket.remoteAddress, socket.remotePort),
      local: endpoint(socket.localAddress, socket.localPort)
    }
    if (!config.proxy_protocol) {
      this.dispatch(socket, key, real)
      return
    }
    readProxyHeader(socket, config.proxy_protocol_timeout).then((header) => {
      this.dispatch(socket, key, {
        peer: header.source === undefined ? real.peer : endpoint(header.source.address, header.source.port),
        local: header.destination === undefined ? real.local : endpoint(header.destination.address, header.destination.port)
      })
    }, (err: unknown) => {
      const reason = err instanceof ProxyHeaderError && err.reason === 'timeout' ? 'proxy_protocol_timeout' : 'proxy_protocol_invalid'
      if (!(err instanceof ProxyHeaderError && err.reason === 'closed')) this.close(reason)
      this.log.debug({ err, peer: real.peer }, 'no valid PROXY protocol header')
      socket.destroy()
    })
  }

  private dispatch (socket: Socket, key: string, tcp: Accepted): void {
    if (socket.destroyed) return
    if (this.protocolServer === undefined) {
      this.handOn(socket, tcp, undefined)
      return
    }
    this.accepted.set(key, tcp)
    if (this.opts.kind === 'ws') this.startUpgradeTimer(tcp, socket)
    this.protocolServer.emit('connection', socket)
    // after a PROXY header the socket is paused (proxy-stream.ts); TLS reads what is buffered by
    // itself, the HTTP server only listens for 'data'
    if (this.opts.kind === 'ws' && socket.isPaused()) socket.resume()
  }

  /**
   * After a TLS handshake: closes the connection when the client presented a certificate that did
   * not verify against `cacertfile` (verify_peer without fail_if_no_peer_cert lets the handshake
   * through so that a missing certificate is allowed; a bad one is still refused, as in EMQX).
   * An ssl connection is then handed on; a wss one goes on to its HTTP upgrade.
   */
  private onSecure (socket: TLSSocket): void {
    const ssl = (this.opts.config as { ssl_options: SslOptions }).ssl_options
    if (ssl.verify === 'verify_peer' && !socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) {
      this.close(verifyFailure(socket) ?? handshakeFailure({ code: 'ERR_SSL_CERTIFICATE_UNVERIFIED' }))
      socket.destroy()
      return
    }
    const tcp = this.accepted.get(socketKey(socket))
    if (tcp === undefined) {
      socket.destroy()
      return
    }
    if (this.opts.kind === 'wss') this.startUpgradeTimer(tcp, socket)
    else this.handOn(socket, tcp, tlsInfo(socket))
  }

  /** The HTTP server of a listener that never listens itself does not time requests out: this does. */
  private startUpgradeTimer (tcp: Accepted, socket: Duplex): void {
    tcp.upgradeTimer = setTimeout(() => {
      this.close('ws_upgrade_timeout')
      socket.destroy()
    }, this.opts.upgradeTimeoutMs)
  }

  private handOn (stream: Duplex, tcp: Accepted, tls: TlsInfo | undefined): void {
    clearTimeout(tcp.upgradeTimer)
    if (stream.listenerCount('error') === 0) stream.on('error', this.onSocketError)
    this.counters.handedOn++
    const connection: Connection = { stream, listener: this.id, kind: this.opts.kind, peer: tcp.peer, local: tcp.local }
    if (tls !== undefined) connection.tls = tls
    this.opts.handler(connection)
  }

  private close (reason: CloseReason): void {
    this.counters.close(reason)
    this.opts.events.closed(reason)
  }

  /** Reloads the certificate files now (SIGHUP); undefined for tcp and ws listeners. */
  reloadCertificates (): ReloadResult | undefined {
    return this.reloader?.reload()
  }

  stats (): ListenerStats {
    return this.counters.snapshot()
  }

  describe (): ListenerDescription {
    return {
      listener: this.id,
      name: this.opts.name,
      kind: this.opts.kind,
      bind: this.opts.config.bind,
      host: this.host,
      port: this.port,
      proxy_protocol: this.opts.config.proxy_protocol,
      current_connections: this.counters.current
    }
  }

  /** Stops accepting (the port is released); connections already made go on. */
  stopAccepting (): void {
    this.reloader?.stop()
    this.gate?.stop()
    if (this.server.listening) this.server.close()
  }

  /** Closes every connection this listener accepted that is still open. */
  destroyConnections (): void {
    for (const socket of this.sockets) socket.destroy()
  }
}
