import type { Command } from 'commander'
import { Membership, type NodeState } from '../cluster/membership.js'
import { decodeNodeRecord } from '../cluster/node-records.js'
import { createKafka } from '../kafka/client.js'
import { readToEnd } from '../kafka/log-snapshot.js'
import { createLogger } from '../observability/logger.js'
import { loadOrExit } from './start-command.js'

export function registerClusterCommands (program: Command): void {
  const cluster = program.command('cluster').description('the cluster as the nodes topic in Kafka shows it')
  cluster
    .command('status')
    .description('list the nodes (live, down, left) from their heartbeats in Kafka')
    .option('-c, --config <file>', 'YAML configuration file (default: $WHARF_CONFIG, else built-in defaults)')
    .action(async (opts: { config?: string }) => {
      const config = loadOrExit(opts.config)
      const brokers = config.kafka.brokers
      if (brokers === undefined) {
        process.stderr.write('wharf: kafka.brokers is not configured (set it in the file or WHARF_KAFKA__BROKERS)\n')
        process.exit(2)
      }
      const logger = createLogger({ level: 'error' })
      const kafka = createKafka({ ...config.kafka, brokers }, logger, '-cli')
      const membership = new Membership(config.cluster.node_timeout_ms)
      await readToEnd(kafka, config.topics.nodes.name, m => {
        const record = decodeNodeRecord(m.value)
        if (record?.type === 'heartbeat' || record?.type === 'leave') membership.apply(record)
      }, logger)
      console.log(formatTable(membership.states(), Date.now()))
      process.exit(0)
    })
}

function age (ms: number): string {
  if (ms < 0) return '0s'
  if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`
  if (ms < 3600000) return `${Math.floor(ms / 60000)}m${Math.floor((ms % 60000) / 1000)}s`
  return `${Math.floor(ms / 3600000)}h${Math.floor((ms % 3600000) / 60000)}m`
}

/** One line per node: NODE STATUS LAST-HEARTBEAT CONNECTIONS LISTENERS VERSION. */
export function formatTable (states: NodeState[], now: number): string {
  if (states.length === 0) return 'no nodes seen in the nodes topic'
  const rows = [['NODE', 'STATUS', 'LAST HEARTBEAT', 'CONNECTIONS', 'LISTENERS', 'VERSION']]
  for (const s of states) {
    const hb = s.heartbeat
    rows.push([
      s.node,
      s.status,
      hb === undefined ? '-' : `${age(now - hb.at)} ago`,
      hb === undefined ? '-' : String(hb.connections),
      hb === undefined ? '-' : hb.listeners.map(l => `${l.kind ?? 'tcp'}:${l.name}=${l.host}:${l.port}`).join(',') || '-',
      hb === undefined ? '-' : hb.version
    ])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => (r[i] as string).length)))
  return rows.map(r => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n')
}
