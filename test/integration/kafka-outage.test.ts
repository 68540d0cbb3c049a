import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { connect as tcpConnect } from 'node:net'
import { join } from 'node:path'
import { LocalKafka } from '../../src/local-kafka/index.js'
import { createLogger } from '../../src/observability/logger.js'
import { collect, connect, end, until, untilAsync } from '../support/mqtt-client.js'
import { uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/** A probe: does any of the brokers accept a TCP connection? (false: Kafka is really unreachable, not slow) */
async function accepts (brokers: string[]): Promise<boolean> {
  const tries = brokers.map(b => new Promise<boolean>(resolve => {
    const at = b.lastIndexOf(':')
    const socket = tcpConnect(Number(b.slice(at + 1)), b.slice(0, at))
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  }))
  return (await Promise.all(tries)).some(Boolean)
}

/** A log line of the node saying its Kafka client was refused a connection, written after `since`. */
function refusedSince (line: string, since: number): boolean {
  if (!line.includes('ECONNREFUSED')) return false
  try {
    return (JSON.parse(line) as { time: number }).time > since
  } catch {
    return false
  }
}

// This test stops and restarts Kafka itself, so it runs its own single-node Kafka whatever
// KAFKA_BROKERS says.
describe('Kafka away: acknowledgements stall, nothing is dropped', () => {
  let dir: string
  let kafka: LocalKafka
  let wharf: WharfProcess

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-test-kafka-outage-'))
    kafka = await LocalKafka.start({ dir, nodes: 1, port: 0, logger: createLogger({ level: 'warn' }) })
    wharf = await WharfProcess.start({ brokers: kafka.brokers, topics: uniqueTopics('outage') })
  })
  after(async () => {
    await wharf?.stop()
    await kafka?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('withholds PUBACK while the Kafka process is stopped and sends it once Kafka is back', async (t) => {
    const sub = await connect(wharf.url, { clientId: 'outage-sub', keepalive: 0 })
    const pub = await connect(wharf.url, { clientId: 'outage-pub', keepalive: 0 })
    const got = collect(sub)
    await sub.subscribeAsync('outage/#', { qos: 1 })
    await pub.publishAsync('outage/before', 'before', { qos: 1 })
    await until(() => got.length === 1, 15000, 'the message sent before the outage')

    // There is no marker for "no PUBACK": while Kafka is down nothing can pass through the log. So
    // the outage is bounded, and made to count: it starts once a probe shows Kafka refusing
    // connections, lasts until the node's own Kafka client has been refused after the PUBLISHes
    // (it tried, and failed), and every PUBACK and delivery must come after Kafka accepted
    // connections again, so the assertion covers the whole outage including Kafka's restart.
    await kafka.stopNode(1, 'SIGTERM')
    await untilAsync(async () => !await accepts(kafka.brokers), 30000, 'Kafka to refuse connections')
    const acks: Array<{ payload: string; at: number }> = []
    const deliveredAt: number[] = []
    sub.on('message', (_topic, payload) => { if (payload.toString().startsWith('during')) deliveredAt.push(Date.now()) })
    const sent = ['during-1', 'during-2', 'during-3']
    const publishedAt = Date.now()
    const published = sent.map(p => pub.publishAsync('outage/during', p, { qos: 1 }).then(() => { acks.push({ payload: p, at: Date.now() }) }))
    const q0 = pub.publishAsync('outage/during', 'during-q0', { qos: 0 })
    await until(() => wharf.lines.some(l => refusedSince(l, publishedAt)), 30000, 'the node to be refused by Kafka after the PUBLISHes')
    assert.equal(await accepts(kafka.brokers), false, 'Kafka is still unreachable')
    assert.equal(acks.length, 0, 'no PUBACK while Kafka is stopped')
    assert.equal(got.length, 1, 'nothing delivered while Kafka is stopped')
    assert.ok(pub.connected, 'the publisher stays connected')

    let reopenedAt = Number.POSITIVE_INFINITY
    const reopening = (async () => {
      while (!await accepts(kafka.brokers)) await new Promise(resolve => setTimeout(resolve, 50))
      reopenedAt = Date.now()
    })()
    await kafka.startNode(1)
    await reopening
    t.diagnostic(`Kafka unreachable for ${reopenedAt - publishedAt} ms after the PUBLISHes`)
    await Promise.all([...published, q0])
    assert.deepEqual(acks.map(a => a.payload).sort(), sent, 'every PUBACK arrives once Kafka is back')
    assert.ok(acks.every(a => a.at >= reopenedAt), 'no PUBACK before Kafka accepted connections again')
    await until(() => got.length >= 5, 60000, 'the messages published during the outage').catch(err => { throw new Error(`${(err as Error).message}; got ${JSON.stringify(got.map(m => m.payload))}`) })
    assert.deepEqual(got.slice(1).map(m => m.payload), ['during-1', 'during-2', 'during-3', 'during-q0'])
    assert.ok(deliveredAt.every(at => at >= reopenedAt), 'nothing delivered before Kafka accepted connections again')
    await end(sub, pub)
  })
})
