import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { API_OPTIONS, apiTarget, callApi, type ApiOptions } from './api-client.js'
import { fail, table, timeText } from './auth-kafka.js'

/** A client as the REST API answers it (the fields printed here). */
interface ApiClient {
  clientid: string
  node: string
  connected: boolean
  username: string | null
  ip_address: string
  listener: string
  proto_ver: number
  clean_start: boolean
  keepalive: number
  expiry_interval: number
  connected_at: number
  disconnected_at: number | null
  disconnect_reason: string | null
  subscriptions_cnt: number
  subscriptions?: Array<{ topic: string; qos: number }>
  session?: { inflight: number; offline_backlog: number | null; expiry_interval: number } | null
}

function withApiOptions (c: Command): Command {
  for (const [flags, description] of API_OPTIONS) c.option(flags, description)
  return c
}

/**
 * `wharf clients list|show|kick` and `wharf publish`: the REST API's main calls for scripts,
 * against any node (its answers are the cluster's). `--json` prints the API's answer as it is.
 */
export function registerClientsCommands (program: Command): void {
  const clients = program.command('clients').description('clients of the whole cluster, through a node\'s REST API')

  withApiOptions(clients.command('list'))
    .description('list clients (sorted by client id)')
    .option('--node <name>', 'only the clients of this node')
    .option('--username <name>', 'only this user name')
    .option('--prefix <text>', 'client ids that start with this')
    .option('--connected <yes|no>', 'yes: connected now; no: persistent sessions whose client is away')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print the API\'s JSON')
    .action(async (opts: ApiOptions & { node?: string; username?: string; prefix?: string; connected?: string; limit: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: opts.limit })
      if (opts.node !== undefined) q.set('node', opts.node)
      if (opts.username !== undefined) q.set('username', opts.username)
      if (opts.prefix !== undefined) q.set('clientid_prefix', opts.prefix)
      if (opts.connected !== undefined) {
        if (!['yes', 'no', 'true', 'false'].includes(opts.connected)) fail('--connected is yes or no', 2)
        q.set('connected', String(opts.connected === 'yes' || opts.connected === 'true'))
      }
      const { body } = await callApi<{ data: ApiClient[]; meta: { count: number; hasnext: boolean } }>(apiTarget(opts), 'GET', `/clients?${q}`)
      if (opts.json === true) {
        console.log(JSON.stringify(body, null, 2))
      } else if (body.data.length === 0) {
        console.log('no clients')
      } else {
        console.log(table([['CLIENT ID', 'NODE', 'STATE', 'USER', 'ADDRESS', 'SINCE (UTC)', 'SUBS'], ...body.data.map(c => [
          c.clientid, c.node, c.connected ? 'connected' : `away (${c.disconnect_reason ?? '-'})`, c.username ?? '-', c.ip_address,
          timeText(c.connected ? c.connected_at : c.disconnected_at), String(c.subscriptions_cnt)
        ])]))
        if (body.meta.hasnext) console.log(`(${body.meta.count} in all; --limit shows more)`)
      }
      process.exit(0)
    })

  withApiOptions(clients.command('show <clientid>'))
    .description('one client: where it is, its subscriptions, its persistent session')
    .option('--json', 'print the API\'s JSON')
    .action(async (clientid: string, opts: ApiOptions & { json?: boolean }) => {
      const { body: c } = await callApi<ApiClient>(apiTarget(opts), 'GET', `/clients/${encodeURIComponent(clientid)}`)
      if (opts.json === true) {
        console.log(JSON.stringify(c, null, 2))
        process.exit(0)
      }
      const rows = [
        ['client id', c.clientid], ['node', c.node], ['state', c.connected ? 'connected' : `away (${c.disconnect_reason ?? '-'})`],
        ['user name', c.username ?? '-'], ['address', c.ip_address], ['listener', c.listener], ['protocol', String(c.proto_ver)],
        ['clean session', String(c.clean_start)], ['keepalive', `${c.keepalive} s`], ['connected at', `${timeText(c.connected_at)} UTC`]
      ]
      if (!c.connected) rows.push(['disconnected at', `${timeText(c.disconnected_at)} UTC`])
      if (c.session !== null && c.session !== undefined) {
        rows.push(['session', `inflight ${c.session.inflight}, offline backlog ${c.session.offline_backlog ?? '?'}, expires ${c.session.expiry_interval} s after the disconnect`])
      }
      console.log(table(rows))
      console.log('')
      console.log((c.subscriptions ?? []).length === 0 ? 'no subscriptions' : table([['SUBSCRIPTION', 'QOS'], ...(c.subscriptions ?? []).map(s => [s.topic, String(s.qos)])]))
      process.exit(0)
    })

  withApiOptions(clients.command('kick <clientid>'))
    .description('close a client\'s connection, on whichever node holds it')
    .action(async (clientid: string, opts: ApiOptions) => {
      const t = apiTarget(opts)
      const { body: c } = await callApi<ApiClient>(t, 'GET', `/clients/${encodeURIComponent(clientid)}`)
      const { status } = await callApi<unknown>(t, 'DELETE', `/clients/${encodeURIComponent(clientid)}`)
      console.log(status === 204 ? `kicked ${clientid} (on ${c.node})` : `asked ${c.node} to close ${clientid}; not confirmed yet`)
      process.exit(0)
    })

  withApiOptions(program.command('publish <topic> [payload]'))
    .description('publish a message through a node (into Kafka, then to every subscriber); the payload from the argument, --file or stdin')
    .option('-q, --qos <n>', '0, 1 or 2', '0')
    .option('-r, --retain', 'retained message')
    .option('--file <path>', 'the payload is this file\'s bytes')
    .action(async (topic: string, payload: string | undefined, opts: ApiOptions & { qos: string; retain?: boolean; file?: string }) => {
      if (!['0', '1', '2'].includes(opts.qos)) fail('--qos is 0, 1 or 2', 2)
      const bytes = opts.file !== undefined ? readFileSync(opts.file) : payload !== undefined ? Buffer.from(payload) : readFileSync(0)
      const { body } = await callApi<{ topic: string; bytes: number; qos: number }>(apiTarget(opts), 'POST', '/publish', {
        topic, payload: bytes.toString('base64'), payload_encoding: 'base64', qos: Number(opts.qos), retain: opts.retain === true
      })
      console.log(`published to ${body.topic} (${body.bytes} bytes, QoS ${body.qos}): acknowledged by Kafka`)
      process.exit(0)
    })
}
