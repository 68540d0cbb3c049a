import { until } from './mqtt-client.js'
import type { WharfProcess } from './wharf-process.js'

const JOINED = 'joined the shared-subscription group'

/** Wait until every node that has members of `group` holds a part of its Kafka group (the rebalance is over). */
export async function groupSettled (nodes: WharfProcess[], group: string, partitions = 3): Promise<void> {
  await until(() => {
    const latest = nodes.map(n => [...n.lines].reverse().find(l => l.includes(JOINED) && l.includes(`.${group}.`)))
    if (latest.some(l => l === undefined)) return false
    const assigned = latest.map(l => {
      const list = /\[([\d,]*)\]/.exec((JSON.parse(l as string) as { assigned: string }).assigned)?.[1] ?? ''
      return list === '' ? 0 : list.split(',').length
    })
    return assigned.reduce((a, b) => a + b, 0) === partitions && assigned.every(n => n > 0)
  }, 30000, `the Kafka group of ${group} to settle on ${nodes.length} node(s)`)
}
