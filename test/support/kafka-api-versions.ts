/**
 * Which version of each request kafkajs sends to a given Kafka, and whether the broker accepts it.
 * kafkajs (2.2.4) does not negotiate downwards from the broker's minimum: per request it sends
 * min(newest version it implements, broker's max) — see `lookup` in
 * node_modules/kafkajs/src/protocol/requests/index.js — so a broker whose minimum is above what
 * kafkajs implements (Kafka 4.0 removed old versions, KIP-896) fails that request.
 *
 *   node --import tsx test/support/kafka-api-versions.ts [host:port]   # default: KAFKA_BROKERS
 *
 * prints a Markdown table (the one in docs/architecture.md, "Kafka versions").
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { brokerApiVersions, type ApiVersionRange } from '../../src/local-kafka/cluster-probe.js'

/** The requests Wharf makes kafkajs send (kafkajs' names; GroupCoordinator is FindCoordinator). */
export const WHARF_REQUESTS = [
  'ApiVersions', 'Metadata', 'Produce', 'InitProducerId', 'Fetch', 'ListOffsets',
  'GroupCoordinator', 'JoinGroup', 'SyncGroup', 'Heartbeat', 'LeaveGroup', 'OffsetCommit', 'OffsetFetch',
  'DeleteGroups', 'CreateTopics', 'DescribeConfigs', 'SaslHandshake', 'SaslAuthenticate'
] as const

/** What kafkajs implements of one request: its api key and newest version. */
export interface KafkajsRequest { name: string; apiKey: number; max: number }

/** Read from kafkajs' own request definitions, so an upgrade of kafkajs shows up here. */
export function kafkajsRequests (): KafkajsRequest[] {
  const require = createRequire(import.meta.url)
  const apiKeys = require('kafkajs/src/protocol/requests/apiKeys.js') as Record<string, number>
  const { requests } = require('kafkajs/src/protocol/requests/index.js') as { requests: Record<string, { versions: string[] }> }
  return WHARF_REQUESTS.map((name) => {
    const definition = requests[name]
    const apiKey = apiKeys[name]
    if (definition === undefined || apiKey === undefined) throw new Error(`kafkajs has no request ${name}`)
    return { name, apiKey, max: Math.max(...definition.versions.map(Number)) }
  })
}

/** One request: what kafkajs implements, what the broker accepts, what is sent. */
export interface NegotiatedRequest {
  name: string
  apiKey: number
  kafkajsMax: number
  broker: { min: number; max: number } | undefined
  /** the version kafkajs sends; undefined when the broker does not know the request */
  sent: number | undefined
  ok: boolean
}

/** kafkajs' choice per request against the broker's ranges. */
export function negotiate (kafkajs: KafkajsRequest[], broker: ApiVersionRange[]): NegotiatedRequest[] {
  return kafkajs.map(({ name, apiKey, max }) => {
    const range = broker.find((r) => r.apiKey === apiKey)
    if (range === undefined) return { name, apiKey, kafkajsMax: max, broker: undefined, sent: undefined, ok: false }
    const sent = Math.min(max, range.max)
    return { name, apiKey, kafkajsMax: max, broker: { min: range.min, max: range.max }, sent, ok: sent >= range.min }
  })
}

/** Asks the broker at `hostPort` and negotiates every request Wharf sends. */
export async function negotiateWith (hostPort: string): Promise<NegotiatedRequest[]> {
  const at = hostPort.lastIndexOf(':')
  const ranges = await brokerApiVersions(Number(hostPort.slice(at + 1)), hostPort.slice(0, at))
  if (ranges === undefined) throw new Error(`no ApiVersions answer from ${hostPort}`)
  return negotiate(kafkajsRequests(), ranges)
}

/** A Markdown table of the outcome. */
export function markdownTable (rows: NegotiatedRequest[], kafkaLabel: string): string {
  const name = (r: NegotiatedRequest): string => r.name === 'GroupCoordinator' ? 'FindCoordinator' : r.name
  return [
    `| request (key) | kafkajs 2.2.4 max | ${kafkaLabel} accepts | kafkajs sends | ok |`,
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${name(r)} (${r.apiKey}) | v${r.kafkajsMax} | ${r.broker === undefined ? '—' : `v${r.broker.min}–v${r.broker.max}`} | ${r.sent === undefined ? '—' : `v${r.sent}`} | ${r.ok ? 'yes' : '**no**'} |`)
  ].join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const target = process.argv[2] ?? process.env.KAFKA_BROKERS?.split(',')[0]
  if (target === undefined || target === '') {
    console.error('usage: node --import tsx test/support/kafka-api-versions.ts host:port (or set KAFKA_BROKERS)')
    process.exit(2)
  }
  const rows = await negotiateWith(target)
  console.log(markdownTable(rows, process.env.KAFKA_LABEL ?? `Kafka at ${target}`))
  process.exit(rows.every((r) => r.ok) ? 0 : 1)
}
