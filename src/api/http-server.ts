import swagger from '@fastify/swagger'
import fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { TlsOptions } from 'node:tls'
import type { Logger } from '../observability/logger.js'
import { VERSION } from '../version.js'
import { requireApiKey } from './api-auth.js'
import type { ApiContext } from './api-context.js'
import { errorHandler } from './api-errors.js'
import { loadDashboardFiles } from './dashboard-files.js'
import { accessRoutes } from './routes/access.js'
import { clientRoutes } from './routes/clients.js'
import { clusterRoutes } from './routes/cluster.js'
import { messageRoutes } from './routes/messages.js'

/** What /ready reports: `ready` decides the status code, the rest is shown to the operator. */
export interface ReadinessReport {
  ready: boolean
  [detail: string]: unknown
}

export interface HttpServerOptions {
  readiness: () => ReadinessReport
  /** Prometheus text for GET /metrics */
  metrics: { contentType: string; metrics: () => Promise<string> }
  /** the REST API under /api/v1 (absent: health and metrics only) */
  api?: ApiContext
  /** `prometheus.enable_basic_auth`: GET /metrics asks for an API key too */
  metricsNeedKey?: boolean
  /** `http.dashboard`: the web page at / */
  dashboard?: boolean
  /** `http.ssl_options`, loaded: HTTPS */
  tls?: TlsOptions
  logger: Logger
}

export const API_PREFIX = '/api/v1'

/**
 * The node's HTTP port (fastify): `GET /health` answers 200 while the process runs; `GET /ready`
 * 200 once the node serves MQTT and 503 before and while stopping (both JSON); `GET /metrics`
 * Prometheus text; the REST API under `/api/v1` (API key required, OpenAPI document at
 * `/api/v1/openapi.json`, errors as JSON `{code, message, field}`); the dashboard at `/`.
 * fastify validates requests against each route's JSON schema and builds the OpenAPI document
 * from the same schemas (@fastify/swagger), so the document cannot drift from the routes.
 */
export class HttpServer {
  private readonly app: FastifyInstance
  private boundPort = 0

  constructor (private readonly opts: HttpServerOptions) {
    const log = opts.logger.child({ component: 'http' })
    this.app = fastify({
      logger: false,
      forceCloseConnections: true,
      ...(opts.tls === undefined ? {} : { https: opts.tls }),
      // unknown fields are refused (400 naming them), not dropped
      ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } }
    }) as unknown as FastifyInstance
    this.app.setErrorHandler(errorHandler(log))
    this.app.setNotFoundHandler((request, reply) => {
      void reply.code(404).send({ code: 'NOT_FOUND', message: `no ${request.method} ${request.url.split('?')[0] ?? ''}` })
    })
    this.healthRoutes()
    const api = opts.api
    if (api !== undefined) {
      const guard = requireApiKey(api.apiKeys, log)
      if (opts.metricsNeedKey === true) this.app.addHook('onRequest', async (request, reply) => { if (pathOf(request) === '/metrics') await guard(request, reply) })
      void this.app.register(async (v1) => {
        await v1.register(swagger, {
          openapi: {
            openapi: '3.0.3',
            info: { title: 'Wharf REST API', version: VERSION, description: 'Cluster-wide answers from any node. HTTP basic authentication with an API key (name:secret).' },
            servers: [{ url: API_PREFIX }],
            components: { securitySchemes: { apiKey: { type: 'http', scheme: 'basic' } } },
            security: [{ apiKey: [] }],
            tags: [
              { name: 'cluster', description: 'nodes, listeners, numbers' },
              { name: 'clients', description: 'where clients are, their subscriptions; kick' },
              { name: 'messages', description: 'publish; retained topics' },
              { name: 'access', description: 'built-in users and bans' }
            ]
          },
          transform: ({ schema, url }) => ({ schema: schema as never, url: url.startsWith(API_PREFIX) ? url.slice(API_PREFIX.length) || '/' : url })
        })
        v1.addHook('onRequest', guard)
        v1.get('/openapi.json', { schema: { hide: true } }, async () => v1.swagger())
        clusterRoutes(v1, api)
        clientRoutes(v1, api)
        messageRoutes(v1, api)
        accessRoutes(v1, api)
      }, { prefix: API_PREFIX })
    }
    if (opts.dashboard === true) this.dashboardRoutes()
  }

  get port (): number { return this.boundPort }

  /** The routes' OpenAPI document (after listen). */
  openapi (): unknown {
    return (this.app as FastifyInstance & { swagger?: () => unknown }).swagger?.()
  }

  async listen (host: string, port: number): Promise<void> {
    await this.app.listen({ host, port })
    const address = this.app.server.address()
    this.boundPort = typeof address === 'object' && address !== null ? address.port : port
  }

  async close (): Promise<void> {
    await this.app.close()
  }

  private healthRoutes (): void {
    const json = (reply: FastifyReply, status: number, body: unknown): FastifyReply => reply.code(status).type('application/json').send(body)
    this.app.get('/health', { schema: { hide: true } }, async (_request, reply) => json(reply, 200, { status: 'ok' }))
    this.app.get('/ready', { schema: { hide: true } }, async (_request, reply) => {
      const report = this.opts.readiness()
      return json(reply, report.ready ? 200 : 503, report)
    })
    this.app.route({
      method: ['POST', 'PUT', 'DELETE', 'PATCH'],
      url: '/health',
      schema: { hide: true },
      handler: async (_request, reply) => json(reply, 405, { code: 'METHOD_NOT_ALLOWED', message: 'GET or HEAD' })
    })
    this.app.route({
      method: ['POST', 'PUT', 'DELETE', 'PATCH'],
      url: '/ready',
      schema: { hide: true },
      handler: async (_request, reply) => json(reply, 405, { code: 'METHOD_NOT_ALLOWED', message: 'GET or HEAD' })
    })
    this.app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      const text = await this.opts.metrics.metrics()
      return reply.type(this.opts.metrics.contentType).send(text)
    })
  }

  private dashboardRoutes (): void {
    const files = loadDashboardFiles()
    for (const [path, file] of files) {
      this.app.get(path, { schema: { hide: true } }, async (_request, reply) => reply.type(file.type).header('cache-control', 'no-cache').send(file.body))
    }
  }
}

function pathOf (request: FastifyRequest): string {
  return request.url.split('?')[0] ?? ''
}
