import { SCRAM_ALGORITHMS, scramCredential, type ScramAlgorithm, type ScramCredential } from './scram-math.js'

/*
 * The SCRAM credentials a user record keeps beside its password hash (`scram` in the users topic's
 * JSON), one per algorithm, computed when the password is set (`wharf users add|passwd`, the HTTP
 * API). The field names are EMQX's (`salt`, `iteration_count`, `stored_key`, `server_key`).
 * Records written before SCRAM existed have none: those users log in with their password only.
 */

export type ScramCredentials = Partial<Record<ScramAlgorithm, ScramCredential>>

/** `authentication.scram.iteration_count`'s default (EMQX's, RFC 7677's minimum). */
export const DEFAULT_SCRAM_ITERATIONS = 4096

/** Both algorithms' credentials of a new password. */
export async function computeScramCredentials (password: Buffer, iterations: number): Promise<ScramCredentials> {
  const [sha256, sha512] = await Promise.all(SCRAM_ALGORITHMS.map(alg => scramCredential(password, alg, iterations)))
  return { sha256, sha512 }
}

/** The JSON form (base64 byte strings). */
export function scramJson (c: ScramCredentials): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const alg of SCRAM_ALGORITHMS) {
    const one = c[alg]
    if (one !== undefined) out[alg] = { salt: one.salt.toString('base64'), iteration_count: one.iterations, stored_key: one.storedKey.toString('base64'), server_key: one.serverKey.toString('base64') }
  }
  return out
}

function parseOne (v: unknown): ScramCredential | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const r = v as Record<string, unknown>
  if (typeof r.salt !== 'string' || typeof r.stored_key !== 'string' || typeof r.server_key !== 'string') return undefined
  if (typeof r.iteration_count !== 'number' || !Number.isInteger(r.iteration_count) || r.iteration_count < 1) return undefined
  return { salt: Buffer.from(r.salt, 'base64'), iterations: r.iteration_count, storedKey: Buffer.from(r.stored_key, 'base64'), serverKey: Buffer.from(r.server_key, 'base64') }
}

/** The credentials of a record's `scram` field; an algorithm whose entry is malformed is left out. */
export function parseScramCredentials (v: unknown): ScramCredentials | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const out: ScramCredentials = {}
  for (const alg of SCRAM_ALGORITHMS) {
    const one = parseOne((v as Record<string, unknown>)[alg])
    if (one !== undefined) out[alg] = one
  }
  return out
}
