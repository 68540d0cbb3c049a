import type { Command } from 'commander'
import { API_KEY_NAME, apiKeyRecord, encodeApiKeyRecord, newSecret } from '../auth/api-keys/api-key-record.js'
import { ApiKeyView } from '../auth/api-keys/api-key-view.js'
import { duration } from '../config/auth-schema.js'
import { fail, openAuthTopic, snapshot, table, timeText, write } from './auth-kafka.js'

interface ConfigOpt { config?: string }
const CONFIG_OPTION = ['-c, --config <file>', 'YAML configuration file (default: $WHARF_CONFIG, else built-in defaults)'] as const

/**
 * `wharf api-keys add|list|delete`: the keys of the REST API and the dashboard, in the API keys
 * topic (hashed); every node applies a change within a log round trip. The secret is made here and
 * printed once.
 */
export function registerApiKeysCommands (program: Command): void {
  const keys = program.command('api-keys').description('API keys of the REST API and the dashboard (the API keys topic in Kafka, hashed)')

  keys.command('add <name>')
    .description('make a key; prints name:secret once on stdout (HTTP basic authentication: curl -u name:secret)')
    .option('--desc <text>', 'what the key is for (shown by list)', '')
    .option('--expires <d>', 'valid for this long, e.g. 30d, 12h (default: until deleted)')
    .option(...CONFIG_OPTION)
    .action(async (name: string, opts: ConfigOpt & { desc: string; expires?: string }) => {
      if (!API_KEY_NAME.test(name)) fail('a key name is 1 to 64 letters, digits, "_", "." or "-"')
      let expiresAt: number | null = null
      if (opts.expires !== undefined) {
        const d = duration(1000, 100 * 365 * 86400000).safeParse(opts.expires)
        if (!d.success) fail(`--expires: ${d.error.issues[0]?.message ?? 'a duration such as 30d'}`)
        expiresAt = Date.now() + d.data
      }
      const cli = await openAuthTopic(opts.config, 'api_keys')
      const view = new ApiKeyView()
      await snapshot(cli, (k, v) => view.apply(k, v))
      if (view.list().some(k => k.name === name)) fail(`key ${name} exists (delete it first to make a new secret)`)
      const secret = newSecret()
      await write(cli, [{ key: name, value: encodeApiKeyRecord(apiKeyRecord(name, secret, opts.desc, expiresAt)) }])
      process.stderr.write(`API key ${name} added; its secret is shown this once. Use it as HTTP basic authentication (curl -u ${name}:<secret>) or in the dashboard.\n`)
      console.log(`${name}:${secret}`)
      process.exit(0)
    })

  keys.command('list')
    .description('list the keys (never a secret or hash)')
    .option(...CONFIG_OPTION)
    .action(async (opts: ConfigOpt) => {
      const cli = await openAuthTopic(opts.config, 'api_keys')
      const view = new ApiKeyView()
      await snapshot(cli, (k, v) => view.apply(k, v))
      const list = view.list()
      if (list.length === 0) console.log('no API keys (wharf api-keys add <name>)')
      else console.log(table([['NAME', 'CREATED (UTC)', 'EXPIRES (UTC)', 'DESCRIPTION'], ...list.map(k => [k.name, timeText(k.createdAt), k.expiresAt === null ? 'never' : timeText(k.expiresAt), k.desc])]))
      process.exit(0)
    })

  keys.command('delete <name>')
    .description('delete a key: the API refuses it on every node within a log round trip')
    .option(...CONFIG_OPTION)
    .action(async (name: string, opts: ConfigOpt) => {
      const cli = await openAuthTopic(opts.config, 'api_keys')
      const view = new ApiKeyView()
      await snapshot(cli, (k, v) => view.apply(k, v))
      if (!view.list().some(k => k.name === name)) fail(`no key ${name}`)
      await write(cli, [{ key: name, value: null }])
      console.log(`deleted ${name}`)
      process.exit(0)
    })
}
