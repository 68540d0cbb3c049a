import { createHmac, randomBytes } from 'node:crypto'
import type { EnhancedExchange, EnhancedStep } from '../hooks.js'
import type { ScramAlgorithm, ScramCredential } from './scram-math.js'
import { verifyProof } from './scram-math.js'
import { parseClientFinal, parseClientFirst, ScramMessageError, serverFinal, serverFirst, type ClientFirst } from './scram-messages.js'

/** A user's credential for one algorithm, and whether the user is a superuser. */
export interface ScramUser {
  credential: ScramCredential | undefined
  superuser: boolean
}

export interface ScramExchangeOptions {
  alg: ScramAlgorithm
  /** the user of a name, undefined when there is none */
  lookup: (username: string) => ScramUser | undefined
  /** keys the made-up salt of unknown users (the same name gets the same salt from this node) */
  secret: Buffer
  /** the iteration count made-up credentials claim (`authentication.scram.iteration_count`) */
  iterations: number
  /** the server's part of the nonce (tests fix it) */
  nonce?: () => string
}

/**
 * The server side of one SCRAM exchange (RFC 5802): client-first-message -> server-first-message,
 * client-final-message -> server-final-message or a refusal. A user name without a credential for
 * this algorithm (no such user, or a user whose password was set before SCRAM existed) gets a
 * made-up salt and the same two steps, and fails at the proof like a wrong password: the exchange
 * does not tell which user names exist. Secrets (proofs, keys) never leave this object but as the
 * server signature.
 */
export class ScramExchange implements EnhancedExchange {
  private first: ClientFirst | undefined
  private nonce: string | undefined
  private user: ScramUser | undefined
  private credential: ScramCredential | undefined
  private serverFirstMessage = ''

  constructor (private readonly opts: ScramExchangeOptions) {}

  /** The user name the client gave, once its client-first-message was read. */
  get username (): string | undefined { return this.first?.username }

  step (data: Buffer): EnhancedStep {
    try {
      return this.first === undefined ? this.start(data.toString('utf8')) : this.finish(data.toString('utf8'))
    } catch (err) {
      if (err instanceof ScramMessageError) return { done: true, verified: false, username: this.username, why: `malformed SCRAM message: ${err.message}` }
      throw err
    }
  }

  private start (message: string): EnhancedStep {
    const first = this.first = parseClientFirst(message)
    this.user = this.opts.lookup(first.username)
    this.credential = this.user?.credential ?? this.madeUp(first.username)
    this.nonce = first.nonce + (this.opts.nonce ?? (() => randomBytes(18).toString('base64')))()
    this.serverFirstMessage = serverFirst(this.nonce, this.credential.salt, this.credential.iterations)
    return { done: false, data: Buffer.from(this.serverFirstMessage) }
  }

  private finish (message: string): EnhancedStep {
    const first = this.first as ClientFirst
    const username = first.username
    const final = parseClientFinal(message)
    if (final.nonce !== this.nonce) return { done: true, verified: false, username, why: 'the nonce does not match' }
    if (!final.channelBinding.equals(Buffer.from(first.gs2Header))) return { done: true, verified: false, username, why: 'the channel binding does not match the GS2 header' }
    const authMessage = `${first.bare},${this.serverFirstMessage},${final.withoutProof}`
    const signature = verifyProof(this.opts.alg, this.credential as ScramCredential, authMessage, final.proof)
    if (this.user === undefined) return { done: true, verified: false, username, why: 'no such user' }
    if (this.user.credential === undefined) return { done: true, verified: false, username, why: `the user has no ${this.opts.alg} SCRAM credentials (set its password again)` }
    if (signature === undefined) return { done: true, verified: false, username, why: 'wrong proof' }
    return { done: true, verified: true, username, superuser: this.user.superuser, data: Buffer.from(serverFinal(signature)) }
  }

  /** A credential no proof matches, with a salt that is stable per user name. */
  private madeUp (username: string): ScramCredential {
    const salt = createHmac('sha256', this.opts.secret).update(`${this.opts.alg}:${username}`).digest().subarray(0, 16)
    const size = this.opts.alg === 'sha256' ? 32 : 64
    return { salt, iterations: this.opts.iterations, storedKey: randomBytes(size), serverKey: randomBytes(size) }
  }
}
