/**
 * The CPU cost of one login's password check (issue 13): ms per verification with the default
 * `password_hash_algorithm` (pbkdf2, sha256, 27500 iterations, 32 bytes), other pbkdf2 iteration
 * counts, bcrypt (bcryptjs) at salt_rounds 10, and salted sha256; sequential (latency of one login)
 * and with `--concurrency` at once (what the libuv thread pool gets through: logins per second of
 * one node, the ceiling of CONNECTs per second for password clients).
 *
 *   node --import tsx bench/auth-cost.ts [--iterations 20] [--concurrency 4]
 */
import { availableParallelism, cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { DEFAULT_HASH_SETTINGS, hashPassword, verifyPassword, type HashSettings } from '../src/auth/hash/password-hash.js'

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '20' }, concurrency: { type: 'string', default: '4' } } })
const runs = Number(values.iterations)
const concurrency = Number(values.concurrency)
const password = Buffer.from('correct horse battery staple')
const pepper = 'node-wide-pepper'

const cases: Array<[string, HashSettings]> = [
  ['pbkdf2-sha256 27500 (default)', DEFAULT_HASH_SETTINGS],
  ['pbkdf2-sha256 4096 (EMQX example)', { name: 'pbkdf2', mac_fun: 'sha256', iterations: 4096, dk_length: 32 }],
  ['pbkdf2-sha256 100000', { name: 'pbkdf2', mac_fun: 'sha256', iterations: 100000, dk_length: 32 }],
  ['pbkdf2-sha512 101 (Mosquitto $7$)', { name: 'pbkdf2', mac_fun: 'sha512', iterations: 101, dk_length: 64 }],
  ['bcrypt 10 rounds (bcryptjs)', { name: 'bcrypt', salt_rounds: 10 }],
  ['sha256 salted', { name: 'sha256', salt_position: 'prefix' }]
]

console.log(`# auth-cost: node ${process.version}, ${cpus()[0]?.model ?? '?'}, ${availableParallelism()} CPUs, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`)
console.log('# case | ms per verification (sequential, mean) | verifications/s with ' + concurrency + ' at once')
for (const [label, settings] of cases) {
  const record = await hashPassword(password, settings, pepper)
  const n = settings.name === 'bcrypt' ? Math.max(3, Math.floor(runs / 4)) : runs
  const ok = await verifyPassword(password, record, pepper)
  if (!ok.ok) throw new Error(`${label}: does not verify`)
  let t = performance.now()
  for (let i = 0; i < n; i++) await verifyPassword(password, record, pepper)
  const ms = (performance.now() - t) / n
  t = performance.now()
  const total = n * concurrency
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < total) await verifyPassword(password, record, pepper)
  }))
  const perSecond = total / ((performance.now() - t) / 1000)
  console.log(`${label.padEnd(36)} ${ms.toFixed(3).padStart(9)} ms  ${perSecond.toFixed(0).padStart(8)} /s`)
}
