import { createServer, type Server } from 'node:http'
import type { Logger } from './logger.js'

/** What /ready reports: `ready` decides the status code, the rest is shown to the operator. */
export interface ReadinessReport {
  ready: boolean
  [detail: string]: unknown
}

/**
 * The node's HTTP port: `GET /health` answers 200 while the process runs; `GET /ready` answers 200
 * once the node serves MQTT (Kafka reachable, topics present, retained view loaded) and 503 before
 * and during shutdown. Both bodies are JSON. `GET /metrics`: Prometheus text format.
 */
export class HealthServer {
  private readonly server: Server
  private boundPort = 0

  constructor (private readonly readiness: () => ReadinessReport, logger: Logger, metrics?: { contentType: string; metrics: () => Promise<string> }) {
    const log = logger.child({ component: 'http' })
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'method not allowed' })
      if (path === '/health') return send(200, { status: 'ok' })
      if (path === '/ready') {
        const report = this.readiness()
        return send(report.ready ? 200 : 503, report)
      }
      if (path === '/metrics' && metrics !== undefined) {
        metrics.metrics().then(text => {
          res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) })
          res.end(req.method === 'HEAD' ? undefined : text)
        }, (err: unknown) => { log.warn({ err }, 'metrics not collected'); send(500, { error: 'metrics not collected' }) })
        return
      }
      send(404, { error: 'not found' })

      function send (status: number, body: unknown): void {
        const text = JSON.stringify(body)
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
        res.end(req.method === 'HEAD' ? undefined : text)
      }
    })
    this.server.on('error', err => log.error({ err }, 'HTTP server error'))
  }

  get port (): number { return this.boundPort }

  listen (host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        const address = this.server.address()
        this.boundPort = typeof address === 'object' && address !== null ? address.port : port
        resolve()
      })
    })
  }

  close (): Promise<void> {
    this.server.closeAllConnections()
    return new Promise(resolve => this.server.close(() => resolve()))
  }
}
