import type { Logger } from '../../observability/logger.js'
import { DEFAULT_HASH_SETTINGS, hashPassword, verifyPassword, type HashRecord, type HashSettings } from '../hash/password-hash.js'
import type { AuthnSource, ClientInfo, SourceResult } from '../types.js'
import type { UserView } from '../users/user-view.js'

/**
 * The `built_in_database` source: users from the users topic. A client without a user name, or
 * with one the topic does not hold, is passed on (`ignore`, as EMQX does); a known user with a
 * wrong or missing password is denied. An unknown user name with a password costs the same hash
 * computation as a known one (against a dummy record of the current settings), so response times
 * do not tell which user names exist.
 */
export class BuiltInUsers implements AuthnSource {
  readonly name = 'built_in_database'
  private readonly log: Logger
  private dummy: Promise<HashRecord> | undefined

  /** `pepper` is `authentication.password_hash_salt` when set; `settings` the algorithm of new passwords. */
  constructor (private readonly users: UserView, private readonly pepper: string | undefined, logger: Logger, private readonly settings: HashSettings = DEFAULT_HASH_SETTINGS) {
    this.log = logger.child({ component: 'authn', source: this.name })
  }

  async authenticate (client: ClientInfo): Promise<SourceResult> {
    if (client.username === undefined) return { outcome: 'ignore' }
    const user = this.users.get(client.username)
    if (user === undefined) {
      if (client.password !== undefined) {
        this.dummy ??= hashPassword(Buffer.from('wharf: no such user'), this.settings, this.pepper)
        await verifyPassword(client.password, await this.dummy, this.pepper)
      }
      return { outcome: 'ignore' }
    }
    if (client.password === undefined) return { outcome: 'deny', reason: 'bad_credentials' }
    const result = await verifyPassword(client.password, user.hash, this.pepper)
    if (result.problem !== undefined) {
      const why = result.problem === 'pepper_missing' ? 'authentication.password_hash_salt is not set' : 'authentication.password_hash_salt has changed'
      this.log.error({ username: client.username }, `user was hashed with a pepper but ${why}: set it back, or give the user a new password (wharf users passwd)`)
    }
    if (!result.ok) return { outcome: 'deny', reason: 'bad_credentials' }
    return { outcome: 'allow', superuser: user.superuser }
  }
}
