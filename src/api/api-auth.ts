import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ApiKeyView } from '../auth/api-keys/api-key-view.js'
import type { Logger } from '../observability/logger.js'

/** The dashboard sends this header: a 401 then carries no `WWW-Authenticate` (no browser login prompt). */
export const DASHBOARD_HEADER = 'x-wharf-dashboard'

/** `Authorization: Basic base64(name:secret)` taken apart, or undefined. */
export function basicCredentials (header: string | undefined): { name: string; secret: string } | undefined {
  if (header === undefined) return undefined
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (m === null) return undefined
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8')
  const cut = text.indexOf(':')
  if (cut <= 0) return undefined
  return { name: text.slice(0, cut), secret: text.slice(cut + 1) }
}

/**
 * The onRequest check of every protected path: HTTP basic authentication with an API key
 * (`name:secret`). A refusal is 401 with a JSON body and says nothing about which part was wrong;
 * the log says which key and why (never the secret). The key's name is kept on the request
 * (`request.apiKey`) for what it writes (a kick's `by`).
 */
export function requireApiKey (keys: ApiKeyView, log: Logger) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const creds = basicCredentials(request.headers.authorization)
    const checked = creds === undefined ? 'no_credentials' : keys.check(creds.name, creds.secret)
    if (typeof checked !== 'string') {
      (request as FastifyRequest & { apiKey?: string }).apiKey = checked.name
      return
    }
    log.debug({ key: creds?.name, reason: checked, url: request.url, ip: request.ip }, 'API request refused')
    if (request.headers[DASHBOARD_HEADER] === undefined) void reply.header('www-authenticate', 'Basic realm="wharf", charset="UTF-8"')
    await reply.code(401).send({ code: 'UNAUTHORIZED', message: 'an API key is needed: HTTP basic authentication with name:secret (wharf api-keys add <name>)' })
  }
}

/** The name of the API key that made the request. */
export function apiKeyOf (request: FastifyRequest): string {
  return (request as FastifyRequest & { apiKey?: string }).apiKey ?? 'unknown'
}
