import { createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import type { Logger } from '../../observability/logger.js'
import { parseAclClaim } from '../authz/rule-spec.js'
import type { AuthnSource, ClientInfo, SourceResult } from '../types.js'

/** `authentication.jwt` (EMQX's names; `jwks_file` and `leeway` are Wharf's). */
export interface JwtOptions {
  /** where the token is: the CONNECT's password (default) or user name */
  from: 'password' | 'username'
  algorithm: 'hmac-based' | 'public-key'
  secret?: string | undefined
  secret_base64_encoded: boolean
  /** PEM text of the public key */
  public_key?: string | undefined
  use_jwks: boolean
  /** JWKS URL (use_jwks) */
  endpoint?: string | undefined
  /** JWKS file (use_jwks), instead of a URL */
  jwks_file?: string | undefined
  /** ms between JWKS refreshes */
  refresh_interval: number
  /** claim -> value that must equal it: a literal, `${clientid}` or `${username}` */
  verify_claims: Record<string, string>
  acl_claim_name: string
  disconnect_after_expire: boolean
  /** ms of clock skew allowed for exp and nbf */
  leeway: number
  now?: () => number
}

const HMAC_ALGS = ['HS256', 'HS384', 'HS512']
const PUBLIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

type Key = Uint8Array | KeyObject | JWTVerifyGetKey

/**
 * The `jwt` source: the token in the password (or user name) field, verified with an HMAC secret,
 * a public key, or a JWKS (URL refreshed by jose, or a file re-read every `refresh_interval`).
 * Something that is not shaped like a JWT is passed on (`ignore`), so the chain can put JWT and
 * passwords side by side; a JWT that fails (signature, exp, nbf, verify_claims) is denied.
 */
export class JwtSource implements AuthnSource {
  readonly name = 'jwt'
  private readonly log: Logger
  private readonly now: () => number
  private readonly algorithms: string[]
  private key: Key
  private jwksLoadedAt = 0

  constructor (private readonly opts: JwtOptions, logger: Logger) {
    this.log = logger.child({ component: 'authn', source: this.name })
    this.now = opts.now ?? Date.now
    this.algorithms = opts.algorithm === 'hmac-based' ? HMAC_ALGS : PUBLIC_ALGS
    this.key = this.makeKey()
  }

  private makeKey (): Key {
    const o = this.opts
    if (o.algorithm === 'hmac-based') {
      if (o.secret === undefined) throw new Error('authentication.jwt.secret is needed for hmac-based')
      return o.secret_base64_encoded ? Buffer.from(o.secret, 'base64') : Buffer.from(o.secret, 'utf8')
    }
    if (o.use_jwks) {
      if (o.endpoint !== undefined) {
        return createRemoteJWKSet(new URL(o.endpoint), { cacheMaxAge: o.refresh_interval, cooldownDuration: Math.min(30000, o.refresh_interval), timeoutDuration: 5000 })
      }
      if (o.jwks_file === undefined) throw new Error('authentication.jwt.endpoint or jwks_file is needed with use_jwks')
      return this.readJwksFile(o.jwks_file)
    }
    if (o.public_key === undefined) throw new Error('authentication.jwt.public_key is needed for public-key without use_jwks')
    return createPublicKey(o.public_key)
  }

  private readJwksFile (file: string): JWTVerifyGetKey {
    const set = createLocalJWKSet(JSON.parse(readFileSync(file, 'utf8')))
    this.jwksLoadedAt = this.now()
    return set
  }

  /** The key to verify with; a JWKS file older than refresh_interval is read again (a bad one keeps the old keys). */
  private currentKey (): Key {
    const file = this.opts.jwks_file
    if (this.opts.use_jwks && this.opts.endpoint === undefined && file !== undefined && this.now() - this.jwksLoadedAt >= this.opts.refresh_interval) {
      try {
        this.key = this.readJwksFile(file)
      } catch (err) {
        this.jwksLoadedAt = this.now()
        this.log.error({ err: { message: (err as Error).message }, file }, 'cannot read the JWKS file; the previous keys stay in use')
      }
    }
    return this.key
  }

  async authenticate (client: ClientInfo): Promise<SourceResult> {
    const token = this.opts.from === 'password' ? client.password?.toString('utf8') : client.username
    if (token === undefined || !JWT_SHAPE.test(token)) return { outcome: 'ignore' }
    let payload: JWTPayload
    try {
      const key = this.currentKey()
      const options = { algorithms: this.algorithms, clockTolerance: this.opts.leeway / 1000, currentDate: new Date(this.now()) }
      payload = (typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options)).payload
    } catch (err) {
      if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err instanceof Error && !(err instanceof errors.JOSEError))) {
        this.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'cannot verify JWTs now (JWKS unreachable?); passing the client on')
        return { outcome: 'ignore' }
      }
      this.log.debug({ clientId: client.clientId, why: (err as errors.JOSEError).code }, 'JWT refused')
      return { outcome: 'deny', reason: 'bad_credentials' }
    }
    for (const [claim, expected] of Object.entries(this.opts.verify_claims)) {
      const want = expected.replace(/\$\{(clientid|username)\}/g, (_m, which: string) => (which === 'clientid' ? client.clientId : client.username ?? '\u0000'))
      const got = payload[claim]
      if ((typeof got !== 'string' && typeof got !== 'number') || String(got) !== want) {
        this.log.debug({ clientId: client.clientId, claim }, 'JWT refused: a verify_claims claim differs')
        return { outcome: 'deny', reason: 'bad_credentials' }
      }
    }
    let acl
    const claim = payload[this.opts.acl_claim_name]
    if (claim !== undefined) {
      try {
        acl = parseAclClaim(claim, 'jwt')
      } catch (err) {
        this.log.warn({ clientId: client.clientId, problem: (err as Error).message }, 'JWT refused: its acl claim is malformed')
        return { outcome: 'deny', reason: 'not_authorized' }
      }
    }
    const superuser = payload.is_superuser === true || payload.is_superuser === 'true'
    const expiresAt = this.opts.disconnect_after_expire && typeof payload.exp === 'number' ? payload.exp * 1000 : undefined
    return { outcome: 'allow', superuser, acl, expiresAt }
  }
}
