import { readFileSync, writeFileSync } from 'node:fs'
import type { MqttClient } from 'mqtt'
import type { Qos } from '../../src/protocol/message.js'
import { connect, untilAsync } from './mqtt-client.js'
import { RawMqtt } from './raw-mqtt.js'
import type { WharfProcess } from './wharf-process.js'

/*
 * What the slow-subscriber test and benchmark share: a node's memory from /proc, its counters from
 * /metrics, a flood of messages through a real MQTT client, and subscribers that stop reading.
 */

/** A process' resident memory now and at its peak (VmRSS, VmHWM), in bytes. */
export function memoryOf (pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}

/** Start measuring a process' peak from now on (Linux: `5` in clear_refs resets VmHWM to VmRSS). */
export function resetPeak (pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
}

/** The sum of a counter of a node's /metrics over the series whose labels contain every `labels` fragment. */
export async function metric (node: WharfProcess, name: string, ...labels: string[]): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text()
  let total = 0
  for (const line of text.split('\n')) {
    if (!(line.startsWith(name + '{') || line.startsWith(name + ' ')) || !labels.every(l => line.includes(l))) continue
    total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

/** Wait until a node has handed `count` records of the data topics to its subscribers (its own counter). */
export async function deliveredAtLeast (node: WharfProcess, count: number, timeoutMs = 300_000): Promise<void> {
  await untilAsync(async () => await metric(node, 'wharf_delivered_records_total') >= count, timeoutMs, `${count} records delivered by the node`, 200)
}

/**
 * Publish `count` messages of `size` bytes (the sequence number, then filler) on `topic` through an
 * mqtt.js client, QoS `qos`, as fast as its socket takes them (batches of 500, each written before
 * the next).
 */
export async function flood (url: string, topic: string, count: number, size: number, qos: Qos = 0): Promise<void> {
  const client: MqttClient = await connect(url, { clean: true })
  const filler = Buffer.alloc(size, 'x')
  try {
    for (let i = 0; i < count;) {
      const end = Math.min(count, i + 500)
      const batch: Array<Promise<unknown>> = []
      for (; i < end; i++) {
        const payload = Buffer.from(filler)
        payload.write(String(i).padStart(8, '0'))
        batch.push(client.publishAsync(topic, payload, { qos }))
      }
      await Promise.all(batch)
    }
  } finally {
    await client.endAsync()
  }
}

/** A bare client subscribed to `filter` that stops reading its socket right after the SUBACK. */
export async function stuckSubscriber (port: number, clientId: string, filter: string, qos: Qos, clean = true): Promise<RawMqtt> {
  const { client } = await RawMqtt.connect(port, clientId, clean)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] })
  await client.next(p => p.cmd === 'suback')
  client.pause()
  return client
}

/** The PUBLISH payloads a bare client received, as text. */
export function payloadsOf (client: RawMqtt): string[] {
  const out: string[] = []
  for (const p of client.packets) if (p.cmd === 'publish') out.push(p.payload.toString())
  return out
}

export const MiB = 1024 * 1024
