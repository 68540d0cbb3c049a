import type { Logger } from '../../observability/logger.js'
import { verifyPassword } from '../hash/password-hash.js'
import type { AuthnSource, ClientInfo, SourceResult } from '../types.js'
import type { UserView } from '../users/user-view.js'

/**
 * The `built_in_database` source: users from the users topic. A client without a user name, or
 * with one the topic does not hold, is passed on (`ignore`, as EMQX does); a known user with a
 * wrong or missing password is denied.
 */
export class BuiltInUsers implements AuthnSource {
  readonly name = 'built_in_database'
  private readonly log: Logger

  /** `pepper` is `authentication.password_hash_salt` when set. */
  constructor (private readonly users: UserView, private readonly pepper: string | undefined, logger: Logger) {
    this.log = logger.child({ component: 'authn', source: this.name })
  }

  async authenticate (client: ClientInfo): Promise<SourceResult> {
    if (client.username === undefined) return { outcome: 'ignore' }
    const user = this.users.get(client.username)
    if (user === undefined) return { outcome: 'ignore' }
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
