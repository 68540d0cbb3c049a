import { randomBytes } from 'node:crypto'
import type { EnhancedAuthenticator, EnhancedExchange } from '../hooks.js'
import type { UserView } from '../users/user-view.js'
import { scramMethod, type ScramAlgorithm } from './scram-math.js'
import { ScramExchange } from './scram-exchange.js'

export interface ScramAuthenticatorOptions {
  /** `authentication.scram.algorithm`: the methods offered */
  algorithms: readonly ScramAlgorithm[]
  /** `authentication.scram.iteration_count`: what made-up credentials claim */
  iterations: number
  /** keys made-up salts; `authentication.password_hash_salt` when set (stable across nodes), else random per process */
  secret?: string | undefined
}

/**
 * `authentication.scram`: SCRAM-SHA-256 and SCRAM-SHA-512 (EMQX's mechanism `scram`, backend
 * `built_in_database`) against the users topic, for the edge's MQTT 5 enhanced authentication.
 */
export class ScramAuthenticator implements EnhancedAuthenticator {
  readonly methods: readonly string[]
  private readonly byMethod: Map<string, ScramAlgorithm>
  private readonly secret: Buffer

  constructor (private readonly users: UserView, private readonly opts: ScramAuthenticatorOptions) {
    this.byMethod = new Map(opts.algorithms.map(alg => [scramMethod(alg), alg]))
    this.methods = [...this.byMethod.keys()]
    this.secret = opts.secret === undefined ? randomBytes(32) : Buffer.from(`wharf scram salt: ${opts.secret}`)
  }

  begin (method: string): EnhancedExchange | undefined {
    const alg = this.byMethod.get(method)
    if (alg === undefined) return undefined
    return new ScramExchange({
      alg,
      secret: this.secret,
      iterations: this.opts.iterations,
      lookup: (username) => {
        const user = this.users.get(username)
        return user === undefined ? undefined : { credential: user.scram?.[alg], superuser: user.superuser }
      }
    })
  }
}
