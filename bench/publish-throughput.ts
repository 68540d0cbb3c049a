/**
 * First figure for the data path: how many QoS 1 messages per second one publisher pushes through
 * one broker (PUBACK = in Kafka for Wharf), and whether a subscriber on the same broker got them all.
 *
 *   node --import tsx bench/publish-throughput.ts --url mqtt://127.0.0.1:1883 --count 20000 --inflight 500 --size 16
 *
 * Prints one JSON line. The full side-by-side benchmark with peers is bench's later work.
 */
import { parseArgs } from 'node:util'
import mqtt from 'mqtt'

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    count: { type: 'string', default: '20000' },
    inflight: { type: 'string', default: '500' },
    size: { type: 'string', default: '16' },
    qos: { type: 'string', default: '1' }
  }
})
const count = Number(values.count)
const inflight = Number(values.inflight)
const qos = Number(values.qos) as 0 | 1 | 2
const payload = Buffer.alloc(Number(values.size), 'x')
const topic = `bench/throughput/${process.pid}`

const sub = await mqtt.connectAsync(values.url, { protocolVersion: 4, clean: true })
const pub = await mqtt.connectAsync(values.url, { protocolVersion: 4, clean: true })
let received = 0
const allReceived = new Promise<void>(resolve => sub.on('message', () => { if (++received === count) resolve() }))
await sub.subscribeAsync(topic, { qos })

const t0 = process.hrtime.bigint()
let sent = 0
let acked = 0
await new Promise<void>(resolve => {
  const next = (): void => {
    while (sent < count && sent - acked < inflight) {
      sent++
      pub.publish(topic, payload, { qos }, () => {
        acked++
        if (acked === count) resolve()
        else next()
      })
    }
  }
  next()
})
const tAcked = process.hrtime.bigint()
await Promise.race([allReceived, new Promise(resolve => setTimeout(resolve, 30000))])
const tReceived = process.hrtime.bigint()
const secs = (a: bigint, b: bigint): number => Number(b - a) / 1e9
console.log(JSON.stringify({
  url: values.url,
  qos,
  count,
  inflight,
  payloadBytes: payload.length,
  ackedPerSecond: Math.round(count / secs(t0, tAcked)),
  deliveredPerSecond: Math.round(received / secs(t0, tReceived)),
  received
}))
await Promise.all([sub.endAsync(), pub.endAsync()])
