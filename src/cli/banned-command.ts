import { isIP } from 'node:net'
import type { Command } from 'commander'
import { normalizeIp } from '../auth/authz/acl-rule.js'
import { BAN_KINDS, banKey, encodeBanRecord, type BanKind, type BanRecord } from '../auth/bans/banned-record.js'
import { BannedView } from '../auth/bans/banned-view.js'
import { duration } from '../config/auth-schema.js'
import { fail, openAuthTopic, snapshot, table, timeText, write } from './auth-kafka.js'

interface ConfigOpt { config?: string }
const CONFIG_OPTION = ['-c, --config <file>', 'YAML configuration file (default: $WHARF_CONFIG, else built-in defaults)'] as const

function kindOrFail (kind: string): BanKind {
  return (BAN_KINDS as readonly string[]).includes(kind) ? kind as BanKind : fail(`the kind is one of ${BAN_KINDS.join(', ')}`)
}

/**
 * `wharf banned add|list|delete`: the banned topic, which every node applies (a banned client id,
 * user name or address is refused at CONNECT on all of them).
 */
export function registerBannedCommands (program: Command): void {
  const banned = program.command('banned').description('bans of client ids, user names, addresses (the banned topic in Kafka)')

  banned.command('add <kind> <value>')
    .description(`ban a client (kind: ${BAN_KINDS.join(', ')})`)
    .option('--duration <d>', 'how long, e.g. 30m, 2h, 7d (default: until deleted)')
    .option('--reason <text>', 'why (shown by list)', 'banned by an operator')
    .option('--by <name>', 'who banned', process.env.USER ?? 'operator')
    .option(...CONFIG_OPTION)
    .action(async (kind: string, value: string, opts: ConfigOpt & { duration?: string; reason: string; by: string }) => {
      const k = kindOrFail(kind)
      if (k === 'peerhost' && isIP(normalizeIp(value)) === 0) fail('a peerhost ban takes an IP address')
      let until: number | null = null
      const now = Date.now()
      if (opts.duration !== undefined) {
        const d = duration(1000, 100 * 365 * 86400000).safeParse(opts.duration)
        if (!d.success) fail(`--duration: ${d.error.issues[0]?.message ?? 'a duration such as 30m'}`)
        until = now + d.data
      }
      const cli = await openAuthTopic(opts.config, 'banned')
      const record: BanRecord = { v: 1, kind: k, value, by: opts.by, reason: opts.reason, at: now, until }
      await write(cli, [{ key: banKey(k, value), value: encodeBanRecord(record) }])
      console.log(`banned ${banKey(k, value)} ${until === null ? 'until deleted' : `until ${timeText(until)} UTC`}`)
      process.exit(0)
    })

  banned.command('list')
    .description('list the bans in force')
    .option(...CONFIG_OPTION)
    .action(async (opts: ConfigOpt) => {
      const cli = await openAuthTopic(opts.config, 'banned')
      const view = new BannedView()
      await snapshot(cli, (k, v) => view.apply(k, v))
      const bans = view.list()
      if (bans.length === 0) console.log('no bans in force')
      else console.log(table([['KIND', 'VALUE', 'BY', 'AT (UTC)', 'UNTIL (UTC)', 'REASON'], ...bans.map(b => [b.kind, b.value, b.by, timeText(b.at), b.until === null ? 'never' : timeText(b.until), b.reason])]))
      process.exit(0)
    })

  banned.command('delete <kind> <value>')
    .description('lift a ban (or remove an expired one)')
    .option(...CONFIG_OPTION)
    .action(async (kind: string, value: string, opts: ConfigOpt) => {
      const k = kindOrFail(kind)
      const cli = await openAuthTopic(opts.config, 'banned')
      const keys = new Set<string>()
      await snapshot(cli, (key, v) => { if (v === null || v.length === 0) keys.delete(key); else keys.add(key) })
      if (!keys.has(banKey(k, value))) fail(`no ban ${banKey(k, value)}`)
      await write(cli, [{ key: banKey(k, value), value: null }])
      console.log(`lifted ${banKey(k, value)}`)
      process.exit(0)
    })
}
