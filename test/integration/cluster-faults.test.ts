import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startPrivateLocalKafka, type PrivateLocalKafka } from '../support/kafka.js'
import { connect, end, until } from '../support/mqtt-client.js'
import { lossReport, Qos1Stream } from '../support/qos1-stream.js'
import { uniqueTopics, WharfProcess } from '../support/wharf-process.js'

// Faults on a three-broker Kafka (replication factor 3, min.insync.replicas 2) with three edges.
// Losses and duplicates are counted and printed; only losses of PUBACKed messages fail the test.
describe('faults: nothing PUBACKed is lost', () => {
  let kafka: PrivateLocalKafka
  const topics = uniqueTopics('faults')
  const edges: WharfProcess[] = []

  before(async () => {
    kafka = await startPrivateLocalKafka({ nodes: 3 })
    const started = await Promise.all([1, 2, 3].map(i => WharfProcess.start({
      brokers: kafka.brokers, topics, nodeName: `fault${i}`, env: { WHARF_CLUSTER__NODE_TIMEOUT_MS: '4000', WHARF_CLUSTER__HEARTBEAT_INTERVAL_MS: '1000' }
    })))
    edges.push(...started)
  })
  after(async () => {
    await Promise.all(edges.map(e => e.stop()))
    await kafka?.cleanup()
  })

  it('(a) SIGKILL an edge while publishers stream QoS 1 on it and elsewhere', async () => {
    const [doomed, survivor, watcher] = edges as [WharfProcess, WharfProcess, WharfProcess]
    const sub = await connect(watcher.url, { clientId: 'fault-a-sub' })
    const received: string[] = []
    sub.on('message', (_t, payload) => received.push(payload.toString()))
    await sub.subscribeAsync('fault-a/#', { qos: 1 })

    const onDoomed = new Qos1Stream(await connect(doomed.url, { clientId: 'fault-a-p1', reconnectPeriod: 0 }), 'p1', 'fault-a/p1')
    const survivorClient = await connect(survivor.url, { clientId: 'fault-a-p2' })
    const onSurvivor = new Qos1Stream(survivorClient, 'p2', 'fault-a/p2')
    await until(() => onDoomed.acked.size > 300, 30000, 'a stream on the edge to kill')
    await doomed.kill()
    await onDoomed.done
    await until(() => onSurvivor.acked.size > onDoomed.acked.size + 300, 30000, 'the other stream to go on')
    await onSurvivor.stop()

    const acked = [...onDoomed.acked, ...onSurvivor.acked]
    await until(() => lossReport(acked, received).lost.length === 0, 30000, 'every PUBACKed message at the subscriber').catch(() => undefined)
    const report = lossReport(acked, received)
    console.log(`# edge SIGKILL: acked ${report.acked} (${onDoomed.acked.size} on the killed edge, sent ${onDoomed.sent}), received ${report.received}, lost ${report.lost.length}, duplicates ${report.duplicates}`)
    assert.deepEqual(report.lost, [], 'no PUBACKed message lost')
    await end(sub, survivorClient)
  })

  it('(b) SIGKILL one Kafka broker while publishing QoS 1', async () => {
    const [, pubEdge, subEdge] = edges as [WharfProcess, WharfProcess, WharfProcess]
    const sub = await connect(subEdge.url, { clientId: 'fault-b-sub' })
    const received: string[] = []
    sub.on('message', (_t, payload) => received.push(payload.toString()))
    await sub.subscribeAsync('fault-b/#', { qos: 1 })
    const pubClient = await connect(pubEdge.url, { clientId: 'fault-b-pub' })
    const stream = new Qos1Stream(pubClient, 'b', 'fault-b/x')
    await until(() => stream.acked.size > 300, 30000, 'the stream to run')
    const beforeKill = stream.acked.size
    const t0 = Date.now()
    await kafka.stopNode(2, 'SIGKILL')
    await until(() => stream.acked.size > beforeKill + 500, 60000, 'publishing to resume with a broker down')
    const resumedMs = Date.now() - t0
    await stream.stop()
    await kafka.startNode(2)

    await until(() => lossReport(stream.acked, received).lost.length === 0, 30000, 'every PUBACKed message at the subscriber').catch(() => undefined)
    const report = lossReport(stream.acked, received)
    console.log(`# Kafka broker SIGKILL: acked ${report.acked}, 500 more acked ${resumedMs} ms after the kill, received ${report.received}, lost ${report.lost.length}, duplicates ${report.duplicates}`)
    assert.deepEqual(report.lost, [], 'no PUBACKed message lost')
    await end(sub, pubClient)
  })
})
