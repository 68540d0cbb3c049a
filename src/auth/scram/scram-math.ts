import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { constantTimeEqual } from '../hash/password-hash.js'

/*
 * The SCRAM computations of RFC 5802 (section 3) with SHA-256 (RFC 7677) and SHA-512: what a user
 * record keeps (salt, iteration count, StoredKey, ServerKey: never the password or anything a
 * client could log in with) and the server's check of a client proof. Pure functions.
 */

export const SCRAM_ALGORITHMS = ['sha256', 'sha512'] as const
export type ScramAlgorithm = typeof SCRAM_ALGORITHMS[number]

/** The SASL mechanism name of an algorithm: the MQTT 5 Authentication Method clients send. */
export function scramMethod (alg: ScramAlgorithm): string {
  return alg === 'sha256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512'
}

/** What a user record keeps for one algorithm (RFC 5802: enough to verify, not to log in). */
export interface ScramCredential {
  salt: Buffer
  iterations: number
  storedKey: Buffer
  serverKey: Buffer
}

const pbkdf2Async = promisify(pbkdf2)
const SALT_BYTES = 16

function hmac (alg: ScramAlgorithm, key: Buffer, data: string | Buffer): Buffer {
  return createHmac(alg, key).update(data).digest()
}

function digestLength (alg: ScramAlgorithm): number {
  return alg === 'sha256' ? 32 : 64
}

/** StoredKey and ServerKey from SaltedPassword = Hi(password, salt, i). */
function keysOf (alg: ScramAlgorithm, saltedPassword: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(alg, saltedPassword, 'Client Key')
  return { storedKey: createHash(alg).update(clientKey).digest(), serverKey: hmac(alg, saltedPassword, 'Server Key') }
}

/**
 * The credential of `password` (its UTF-8 bytes, as clients send them: no SASLprep) for `alg`,
 * with a fresh random salt unless one is given (tests).
 */
export async function scramCredential (password: Buffer, alg: ScramAlgorithm, iterations: number, salt: Buffer = randomBytes(SALT_BYTES)): Promise<ScramCredential> {
  const saltedPassword = await pbkdf2Async(password, salt, iterations, digestLength(alg), alg)
  return { salt, iterations, ...keysOf(alg, saltedPassword) }
}

/**
 * Checks a client proof for `authMessage`: ClientKey = proof XOR HMAC(StoredKey, AuthMessage) must
 * hash to StoredKey (compared in constant time). On success, the ServerSignature the client
 * checks in the server-final-message.
 */
export function verifyProof (alg: ScramAlgorithm, credential: ScramCredential, authMessage: string, proof: Buffer): Buffer | undefined {
  const clientSignature = hmac(alg, credential.storedKey, authMessage)
  if (proof.length !== clientSignature.length) return undefined
  const clientKey = Buffer.alloc(proof.length)
  for (let i = 0; i < proof.length; i++) clientKey[i] = (proof[i] as number) ^ (clientSignature[i] as number)
  const ok = constantTimeEqual(createHash(alg).update(clientKey).digest(), credential.storedKey)
  return ok ? hmac(alg, credential.serverKey, authMessage) : undefined
}

/** The client side (tests, and `wharf` tools): the proof and the expected ServerSignature. */
export async function clientProof (alg: ScramAlgorithm, password: Buffer, salt: Buffer, iterations: number, authMessage: string): Promise<{ proof: Buffer; serverSignature: Buffer }> {
  const saltedPassword = await pbkdf2Async(password, salt, iterations, digestLength(alg), alg)
  const clientKey = hmac(alg, saltedPassword, 'Client Key')
  const { storedKey, serverKey } = keysOf(alg, saltedPassword)
  const clientSignature = hmac(alg, storedKey, authMessage)
  const proof = Buffer.alloc(clientKey.length)
  for (let i = 0; i < clientKey.length; i++) proof[i] = (clientKey[i] as number) ^ (clientSignature[i] as number)
  return { proof, serverSignature: hmac(alg, serverKey, authMessage) }
}
