import type { NodeSummary } from '../node/wharf-node.js'

/** A host an operator can type: a wildcard bind address is reachable as localhost. */
function reachable (host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost'
  return host.includes(':') ? `[${host}]` : host
}

/** The URL scheme clients use for each kind of listener. */
const SCHEMES = { tcp: 'mqtt', ssl: 'mqtts', ws: 'ws', wss: 'wss' } as const

/**
 * The lines `wharf start` prints when its log lines are for people (a terminal): node, MQTT
 * listeners, the dashboard / API / metrics URLs and the Kafka brokers. With JSON logs the
 * "Wharf node ready" line carries the same.
 */
export function banner (s: NodeSummary, startupMs: number, localKafka: boolean): string {
  const base = `${s.http.tls ? 'https' : 'http'}://${reachable(s.http.host)}:${s.http.port}`
  const width = Math.max(...s.listeners.map(l => l.name.length), 4)
  const lines = [
    '',
    `  Wharf ${s.version} · node ${s.node} · ready in ${(startupMs / 1000).toFixed(1)} s`,
    '',
    ...s.listeners.map((l, i) => `  ${i === 0 ? 'MQTT     ' : '         '} ${l.name.padEnd(width)}  ${SCHEMES[l.kind]}://${reachable(l.host)}:${l.port}${l.path ?? ''}`),
    ...(s.http.dashboard ? [`  Dashboard  ${base}/`] : []),
    `  REST API   ${base}/api/v1   (OpenAPI: ${base}/api/v1/openapi.json; keys: wharf api-keys add <name>)`,
    `  Metrics    ${base}/metrics   Health: ${base}/health, ${base}/ready`,
    `  Kafka      ${s.brokers.join(', ')}${localKafka ? '   (local, started by wharf)' : ''}`,
    ''
  ]
  return lines.join('\n') + '\n'
}
