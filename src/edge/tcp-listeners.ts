import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from '../observability/logger.js'

export interface TcpListenerSpec {
  name: string
  host: string
  port: number
  maxConnections: number
}

export interface BoundListener {
  name: string
  host: string
  /** the port actually bound (differs from the configured one when that was 0) */
  port: number
  server: Server
}

/** Opens one TCP server per configured listener; each accepted socket goes to `handle`. */
export async function openTcpListeners (specs: TcpListenerSpec[], handle: (socket: Socket, listener: string) => void, logger: Logger): Promise<BoundListener[]> {
  const bound: BoundListener[] = []
  try {
    for (const spec of specs) {
      const server = createServer(socket => handle(socket, spec.name))
      server.maxConnections = spec.maxConnections
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(spec.port, spec.host, () => { server.off('error', reject); resolve() })
      })
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : spec.port
      server.on('error', err => logger.error({ err, listener: spec.name }, 'MQTT listener error'))
      bound.push({ name: spec.name, host: spec.host, port, server })
      logger.info({ listener: spec.name, bind: `${spec.host}:${port}` }, 'MQTT listener open')
    }
  } catch (err) {
    await closeTcpListeners(bound)
    throw err
  }
  return bound
}

/** Stops accepting new connections; existing sockets stay open until their clients are closed. */
export function closeTcpListeners (listeners: BoundListener[]): Promise<void> {
  return Promise.all(listeners.map(l => new Promise<void>(resolve => l.server.close(() => resolve())))).then(() => undefined)
}
