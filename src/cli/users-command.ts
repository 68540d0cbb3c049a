import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { PasswordTooLongError } from '../auth/hash/password-hash.js'
import { parseMosquittoPasswd } from '../auth/hash/mosquitto-passwd.js'
import { encodeUserRecord, isValidUsername, summarize, type UserRecord } from '../auth/users/user-record.js'
import { userCredentials } from '../auth/users/user-credentials.js'
import { UserView } from '../auth/users/user-view.js'
import { fail, openAuthTopic, snapshot, table, timeText, write, type AuthCli } from './auth-kafka.js'
import { readPassword } from './read-password.js'

interface ConfigOpt { config?: string }
interface PasswordOpts extends ConfigOpt { password?: string; passwordStdin?: boolean }

const CONFIG_OPTION = ['-c, --config <file>', 'YAML configuration file (default: $WHARF_CONFIG, else built-in defaults)'] as const

/** The users topic as it is now. */
async function currentUsers (cli: AuthCli): Promise<UserView> {
  const view = new UserView()
  await snapshot(cli, (k, v) => view.apply(k, v))
  return view
}

/**
 * What a record keeps of a new password with this machine's settings (hash, and SCRAM credentials
 * when `authentication.scram` is enabled); a password bcrypt would cut short is refused.
 */
async function hashed (cli: AuthCli, password: Buffer): Promise<Pick<UserRecord, 'hash' | 'scram'>> {
  if (cli.hash.name === 'plain') process.stderr.write('wharf: warning: password_hash_algorithm is plain: the password is stored as it is\n')
  try {
    return await userCredentials(password, cli)
  } catch (err) {
    return err instanceof PasswordTooLongError ? fail(err.message) : Promise.reject(err)
  }
}

async function passwordOrFail (opts: PasswordOpts): Promise<Buffer> {
  const pw = await readPassword(opts)
  return typeof pw === 'string' ? fail(pw) : pw
}

/**
 * `wharf users add|passwd|delete|list|import`: the built-in users in the users topic, from any
 * machine that reaches Kafka. Hashing uses this machine's `authentication.password_hash_algorithm`
 * and `password_hash_salt`: the pepper must be the nodes' one, or the users cannot log in.
 */
export function registerUsersCommands (program: Command): void {
  const users = program.command('users').description('built-in users (the users topic in Kafka)')

  users.command('add <name>')
    .description('add a user (the password is asked for on a terminal, or given)')
    .option('--password <password>', 'the password (visible in the process list; prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--superuser', 'the user skips authorization')
    .option(...CONFIG_OPTION)
    .action(async (name: string, opts: PasswordOpts & { superuser?: boolean }) => {
      if (!isValidUsername(name)) fail('a user name is 1 to 65535 bytes without NUL')
      const password = await passwordOrFail(opts)
      const cli = await openAuthTopic(opts.config, 'users')
      if ((await currentUsers(cli)).get(name) !== undefined) fail(`user ${name} exists; change its password with wharf users passwd`)
      const now = Date.now()
      const record: UserRecord = { v: 1, username: name, superuser: opts.superuser === true, ...await hashed(cli, password), createdAt: now, updatedAt: now }
      await write(cli, [{ key: name, value: encodeUserRecord(record) }])
      console.log(`added user ${name}${record.superuser ? ' (superuser)' : ''}`)
      process.exit(0)
    })

  users.command('passwd <name>')
    .description('give a user a new password (hashed with the current settings)')
    .option('--password <password>', 'the password (visible in the process list; prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option(...CONFIG_OPTION)
    .action(async (name: string, opts: PasswordOpts) => {
      const password = await passwordOrFail(opts)
      const cli = await openAuthTopic(opts.config, 'users')
      const old = (await currentUsers(cli)).get(name) ?? fail(`no user ${name}`)
      const record: UserRecord = { ...old, scram: undefined, ...await hashed(cli, password), updatedAt: Date.now() }
      await write(cli, [{ key: name, value: encodeUserRecord(record) }])
      console.log(`changed the password of ${name}`)
      process.exit(0)
    })

  users.command('delete <name>')
    .description('delete a user (new logins are refused on every node; connected clients stay)')
    .option(...CONFIG_OPTION)
    .action(async (name: string, opts: ConfigOpt) => {
      const cli = await openAuthTopic(opts.config, 'users')
      if ((await currentUsers(cli)).get(name) === undefined) fail(`no user ${name}`)
      await write(cli, [{ key: name, value: null }])
      console.log(`deleted user ${name}`)
      process.exit(0)
    })

  users.command('list')
    .description('list the users: name, superuser, hash algorithm, created, updated (never hashes)')
    .option(...CONFIG_OPTION)
    .action(async (opts: ConfigOpt) => {
      const cli = await openAuthTopic(opts.config, 'users')
      const all = (await currentUsers(cli)).list().map(summarize)
      if (all.length === 0) console.log('no users')
      else console.log(table([['NAME', 'SUPERUSER', 'ALGORITHM', 'CREATED (UTC)', 'UPDATED (UTC)'], ...all.map(u => [u.username, u.superuser ? 'yes' : 'no', u.algorithm, timeText(u.createdAt), timeText(u.updatedAt)])]))
      process.exit(0)
    })

  users.command('import')
    .description('import the users of a Mosquitto password file ($7$ and $6$ lines); they keep their passwords')
    .requiredOption('--mosquitto-passwd <file>', 'the file made by mosquitto_passwd')
    .option('--superuser', 'make the imported users superusers')
    .option(...CONFIG_OPTION)
    .action(async (opts: ConfigOpt & { mosquittoPasswd: string; superuser?: boolean }) => {
      let parsed
      try {
        parsed = parseMosquittoPasswd(readFileSync(opts.mosquittoPasswd, 'utf8'))
      } catch (err) {
        fail(`${opts.mosquittoPasswd}: ${(err as Error).message}`)
      }
      const cli = await openAuthTopic(opts.config, 'users')
      const existing = await currentUsers(cli)
      const now = Date.now()
      const records = parsed.map(u => {
        const old = existing.get(u.username)
        const record: UserRecord = { v: 1, username: u.username, superuser: opts.superuser === true || old?.superuser === true, hash: u.hash, createdAt: old?.createdAt ?? now, updatedAt: now }
        return { key: u.username, value: encodeUserRecord(record) }
      })
      await write(cli, records)
      const replaced = parsed.filter(u => existing.get(u.username) !== undefined).length
      console.log(`imported ${parsed.length} users (${replaced} replaced)`)
      process.exit(0)
    })
}
