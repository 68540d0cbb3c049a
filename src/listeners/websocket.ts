import type { IncomingMessage, Server as HttpServer } from 'node:http'
import type { Duplex } from 'node:stream'
import { createWebSocketStream, WebSocketServer } from 'ws'
import type { WebSocketOptions } from '../config/listeners-schema.js'
import type { Endpoint } from './connection.js'
import type { CloseReason } from './counters.js'
import { forwardedPeer, TrustedProxies } from './forwarded.js'

/** What the WebSocket side asks of its listener. */
export interface WebSocketHooks {
  /** The client as the TCP side knows it (after any PROXY header); undefined once it is gone. */
  peerOf: (socket: Duplex) => Endpoint | undefined
  /** Counts a connection the WebSocket side closes. */
  closed: (reason: CloseReason) => void
  /** Hands on an established MQTT-over-WebSocket stream. */
  accept: (stream: Duplex, peer: Endpoint, socket: Duplex) => void
}

/** The text of a refusal at the HTTP upgrade; the TCP connection closes after it. */
function refuse (socket: Duplex, status: number, text: string): void {
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`)
}

function offeredSubprotocols (req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol']
  return header === undefined ? [] : header.split(',').map((p) => p.trim()).filter((p) => p !== '')
}

/** The path of the request target (no query). */
function pathOf (req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://host').pathname
}

/**
 * Serves MQTT over WebSocket on an HTTP(S) server that is fed TCP connections by a listener:
 * upgrades on `mqtt_path` only (any other path: 404; a plain request: 426), with the origin check
 * when enabled, and one of `supported_subprotocols` (the client's first supported one is chosen).
 * MQTT over WebSocket is binary frames only: a text frame closes that connection (1003).
 */
export function serveWebSocket (server: HttpServer, o: WebSocketOptions, hooks: WebSocketHooks): WebSocketServer {
  const supported = new Set(o.supported_subprotocols)
  const origins = new Set(o.check_origins)
  const trusted = new TrustedProxies(o.trusted_proxies)
  const forwarded = { addressHeader: o.proxy_address_header, portHeader: o.proxy_port_header, trusted }
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    handleProtocols: (offered) => [...offered].find((p) => supported.has(p)) ?? false
  })

  server.on('request', (req, res) => {
    const right = pathOf(req) === o.mqtt_path
    hooks.closed(right ? 'ws_not_websocket' : 'ws_bad_path')
    const [status, text] = right ? [426, 'Upgrade Required'] : [404, 'Not Found']
    res.writeHead(status, { connection: 'close', 'content-type': 'text/plain', ...(right ? { upgrade: 'websocket' } : {}) })
    res.end(text)
  })

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) !== o.mqtt_path) {
      hooks.closed('ws_bad_path')
      refuse(socket, 404, 'Not Found')
      return
    }
    if (o.check_origin_enable) {
      const origin = req.headers.origin
      const allowed = origin === undefined ? o.allow_origin_absence : origins.has(origin.toLowerCase())
      if (!allowed) {
        hooks.closed('ws_bad_origin')
        refuse(socket, 403, 'Forbidden')
        return
      }
    }
    const offered = offeredSubprotocols(req)
    const acceptable = offered.length === 0 ? !o.fail_if_no_subprotocol : offered.some((p) => supported.has(p))
    if (!acceptable) {
      hooks.closed('ws_bad_subprotocol')
      refuse(socket, 400, 'Bad Request')
      return
    }
    const tcpPeer = hooks.peerOf(socket)
    if (tcpPeer === undefined) {
      socket.destroy()
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // registered before createWebSocketStream's own listener, so it runs first: the destroyed
      // stream then drops the frame instead of passing it on
      ws.on('message', (_data, isBinary) => {
        if (isBinary) return
        hooks.closed('ws_text_frame')
        ws.close(1003, 'MQTT over WebSocket takes binary frames only')
        stream.destroy()
      })
      const stream = createWebSocketStream(ws)
      hooks.accept(stream, forwardedPeer(tcpPeer, req.headers, forwarded), socket)
    })
  })
  return wss
}
