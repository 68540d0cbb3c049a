/**
 * What writing MQTT packets to a client's socket costs, per packet, the way aedes writes them
 * (mqtt-packet's `writeToStream`, chunk by chunk) and the way the edge writes them
 * (`src/edge/packet-writer.ts`: one buffer per packet). One loopback socket, PUBLISH packets
 * (QoS 1, topic `bench/<n>/7`) written `--batch` per tick (as a fetch batch's deliveries to one
 * subscriber are), the reading side in the same process; CPU of the process (user + system) per
 * packet, alternating the two writers `--rounds` times so that load from other work hits both.
 *
 *   node --import tsx bench/packet-writes.ts [--packets 200000] [--batch 1,8] [--size 16,1024] [--rounds 3] [--version 4,5]
 */
import { createRequire } from 'node:module'
import { createServer, connect, type Socket } from 'node:net'
import { parseArgs } from 'node:util'
import type { Packet } from 'mqtt-packet'
import { writeWholePackets } from '../src/edge/packet-writer.js'

const { values } = parseArgs({
  options: {
    packets: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '1,8' },
    size: { type: 'string', default: '16,1024' },
    rounds: { type: 'string', default: '3' },
    version: { type: 'string', default: '4,5' }
  }
})
const require = createRequire(import.meta.url)
type Write = (packet: Packet, stream: Socket, opts?: { protocolVersion?: number }) => boolean
const mqttPacket = require('mqtt-packet') as { writeToStream: Write }
const chunked = mqttPacket.writeToStream
writeWholePackets()
const whole = mqttPacket.writeToStream

const server = createServer(s => { s.on('data', () => undefined) })
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
const port = (server.address() as { port: number }).port
const socket = connect({ port, host: '127.0.0.1' })
await new Promise<void>(resolve => socket.once('connect', resolve))

async function run (write: Write, total: number, batch: number, size: number, version: number): Promise<number> {
  const payload = Buffer.alloc(size, 7)
  const opts = { protocolVersion: version }
  const t0 = process.cpuUsage()
  let id = 1
  for (let sent = 0; sent < total;) {
    for (let i = 0; i < batch; i++, sent++) {
      id = id === 65535 ? 1 : id + 1
      const ok = write({ cmd: 'publish', topic: `bench/${sent % 10}/7`, payload, qos: 1, retain: false, dup: false, messageId: id }, socket, opts)
      if (!ok) await new Promise(resolve => socket.once('drain', resolve))
    }
    await new Promise(resolve => setImmediate(resolve))
  }
  const u = process.cpuUsage(t0)
  return (u.user + u.system) / total
}

const list = (v: string): number[] => v.split(',').map(Number)
const total = Number(values.packets)
for (const version of list(values.version)) {
  for (const size of list(values.size)) {
    for (const batch of list(values.batch)) {
      const a: number[] = []
      const b: number[] = []
      for (let r = 0; r < Number(values.rounds); r++) {
        a.push(await run(chunked, total, batch, size, version))
        b.push(await run(whole, total, batch, size, version))
      }
      const med = (x: number[]): string => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)]?.toFixed(2) ?? ''
      process.stdout.write(`v${version} ${size} B, ${batch} per tick: chunked ${med(a)} µs/packet (${a.map(x => x.toFixed(2)).join(' ')}), whole ${med(b)} µs/packet (${b.map(x => x.toFixed(2)).join(' ')})\n`)
    }
  }
}
socket.destroy()
server.close()
