import type { WharfProcess } from './wharf-process.js'

/** The node's /metrics text. */
export async function metricsText (node: WharfProcess): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text()
}

/** The value of one sample of a metric whose labels include every `labels` pair (0 when absent). */
export async function metricValue (node: WharfProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await metricsText(node)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}

/** `wharf_limit_events_total{reason}` of a node. */
export function limitEvents (node: WharfProcess, reason: string): Promise<number> {
  return metricValue(node, 'wharf_limit_events_total', { reason })
}

/** The node's /ready answer: status and body. */
export async function ready (node: WharfProcess): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/ready`)
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}
