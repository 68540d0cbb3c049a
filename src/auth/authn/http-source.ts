import { createHmac, randomBytes } from 'node:crypto'
import type { Logger } from '../../observability/logger.js'
import { parseAclClaim } from '../authz/rule-spec.js'
import type { AuthnSource, ClientInfo, SourceResult } from '../types.js'

/** `authentication.http` (EMQX's names where it has them). */
export interface HttpAuthOptions {
  url: string
  headers: Record<string, string>
  /** ms before the request is given up (the client is then passed on) */
  request_timeout: number
  /** ms an allow/deny answer is reused for the same credentials; 0 = no cache */
  cache_ttl: number
  cache_max_size: number
  now?: () => number
}

type Cached = { result: SourceResult; at: number }

/**
 * The `http` source: POSTs `{clientid, username, password, peerhost}` as JSON to a URL. The answer
 * (200, JSON) `{"result": "allow"|"deny"|"ignore", "is_superuser": bool, "acl": [...]?}` decides; 204
 * allows. A server that cannot be reached, times out or answers anything else passes the client on
 * (`ignore`) with a warning: the HTTP service is one source among others, and a client nobody
 * accepts is refused anyway (it sent credentials). Allow/deny answers are cached for `cache_ttl`,
 * keyed by an HMAC of the credentials under a key that lives only in this process, so neither the
 * password nor a plain hash of it is kept.
 */
export class HttpSource implements AuthnSource {
  readonly name = 'http'
  private readonly log: Logger
  private readonly now: () => number
  private readonly cacheKey = randomBytes(32)
  private readonly cache = new Map<string, Cached>()
  /** requests made (not answered from the cache) */
  requests = 0

  constructor (private readonly opts: HttpAuthOptions, logger: Logger) {
    this.log = logger.child({ component: 'authn', source: this.name })
    this.now = opts.now ?? Date.now
  }

  private keyOf (c: ClientInfo): string {
    const h = createHmac('sha256', this.cacheKey)
    for (const part of [c.clientId, c.username ?? '', c.peerhost]) h.update(part).update('\u0000')
    h.update(c.username === undefined ? '0' : '1').update(c.password === undefined ? '0' : '1').update(c.password ?? Buffer.alloc(0))
    return h.digest('base64')
  }

  async authenticate (client: ClientInfo): Promise<SourceResult> {
    const key = this.opts.cache_ttl > 0 ? this.keyOf(client) : undefined
    if (key !== undefined) {
      const hit = this.cache.get(key)
      if (hit !== undefined) {
        this.cache.delete(key)
        if (this.now() - hit.at < this.opts.cache_ttl) {
          this.cache.set(key, hit)
          return hit.result
        }
      }
    }
    const result = await this.ask(client)
    if (key !== undefined && result.outcome !== 'ignore') {
      this.cache.set(key, { result, at: this.now() })
      if (this.cache.size > this.opts.cache_max_size) this.cache.delete(this.cache.keys().next().value as string)
    }
    return result
  }

  private async ask (client: ClientInfo): Promise<SourceResult> {
    this.requests++
    const body = JSON.stringify({ clientid: client.clientId, username: client.username ?? null, password: client.password?.toString('utf8') ?? null, peerhost: client.peerhost })
    let res: Response
    let text: string
    try {
      res = await fetch(this.opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.opts.headers },
        body,
        signal: AbortSignal.timeout(this.opts.request_timeout),
        redirect: 'error'
      })
      text = await res.text()
    } catch (err) {
      const e = err as Error
      this.log.warn({ url: this.opts.url, err: { name: e.name, message: e.message } }, 'HTTP authentication unreachable or too slow; passing the client on')
      return { outcome: 'ignore' }
    }
    if (res.status === 204) return { outcome: 'allow', superuser: false }
    if (res.status !== 200) {
      this.log.warn({ url: this.opts.url, status: res.status }, 'HTTP authentication answered neither 200 nor 204; passing the client on')
      return { outcome: 'ignore' }
    }
    let answer: Record<string, unknown>
    try {
      answer = JSON.parse(text) as Record<string, unknown>
      if (typeof answer !== 'object' || answer === null) throw new Error('not an object')
    } catch {
      this.log.warn({ url: this.opts.url }, 'HTTP authentication answered 200 without a JSON object; passing the client on')
      return { outcome: 'ignore' }
    }
    switch (answer.result) {
      case 'allow': {
        let acl
        if (answer.acl !== undefined) {
          try {
            acl = parseAclClaim(answer.acl, 'http')
          } catch (err) {
            this.log.warn({ url: this.opts.url, problem: (err as Error).message }, 'HTTP authentication allowed with a malformed acl; refusing the client')
            return { outcome: 'deny', reason: 'not_authorized' }
          }
        }
        return { outcome: 'allow', superuser: answer.is_superuser === true, acl }
      }
      case 'deny': return { outcome: 'deny', reason: 'bad_credentials' }
      case 'ignore': return { outcome: 'ignore' }
      default:
        this.log.warn({ url: this.opts.url }, 'HTTP authentication answered an unknown result; passing the client on')
        return { outcome: 'ignore' }
    }
  }
}
