import { hashPassword, type HashSettings } from '../hash/password-hash.js'
import { computeScramCredentials } from '../scram/scram-credentials.js'
import type { UserRecord } from './user-record.js'

/** How a new password is turned into what a user record keeps. */
export interface CredentialSettings {
  /** `authentication.password_hash_algorithm` */
  hash: HashSettings
  /** `authentication.password_hash_salt` */
  pepper: string | undefined
  /**
   * `authentication.scram.iteration_count` when `authentication.scram.enable`; otherwise no SCRAM
   * credentials are kept (they are weaker than the hash: no pepper, fewer iterations)
   */
  scramIterations: number | undefined
}

/**
 * What the users topic keeps of a new password (`wharf users add|passwd`, the HTTP API): its hash
 * and, with SCRAM enabled, its SCRAM-SHA-256/512 credentials. Never the password.
 */
export async function userCredentials (password: Buffer, s: CredentialSettings): Promise<Pick<UserRecord, 'hash' | 'scram'>> {
  const hash = await hashPassword(password, s.hash, s.pepper)
  if (s.scramIterations === undefined) return { hash }
  return { hash, scram: await computeScramCredentials(password, s.scramIterations) }
}
