import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

const run = promisify(execFile)
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
const NODE_TIMEOUT_MS = 4000

describe('three edge nodes on one Kafka', () => {
  const topics = uniqueTopics('cluster')
  const id = randomUUID().slice(0, 6)
  const names = [1, 2, 3].map(i => `wharf${i}-${id}`)
  const env = { WHARF_CLUSTER__NODE_TIMEOUT_MS: String(NODE_TIMEOUT_MS), WHARF_CLUSTER__HEARTBEAT_INTERVAL_MS: '1000' }
  let nodes: WharfProcess[] = []

  before(async () => {
    // the first node creates the topics; the other two join it
    const first = await WharfProcess.start({ brokers: testBrokers(), topics, nodeName: names[0], env })
    const rest = await Promise.all(names.slice(1).map(nodeName => WharfProcess.start({ brokers: testBrokers(), topics, nodeName, env })))
    nodes = [first, ...rest]
  })
  after(async () => {
    const exits = await Promise.all(nodes.map(n => n.stop()))
    assert.equal(exits[0]?.code, 0, 'SIGTERM ends a node with exit code 0')
  })

  const node = (i: number): WharfProcess => nodes[i] as WharfProcess

  it('delivers QoS 1 from every publisher node to subscribers on every node', async () => {
    const subs = await Promise.all(nodes.map(n => connect(n.url)))
    const pubs = await Promise.all(nodes.map(n => connect(n.url)))
    const got = subs.map(collect)
    await Promise.all(subs.map(s => s.subscribeAsync('matrix/#', { qos: 1 })))
    await Promise.all(pubs.map((p, i) => p.publishAsync(`matrix/from${i + 1}`, `hello from node ${i + 1}`, { qos: 1 })))
    await until(() => got.every(g => g.length >= 3), 20000, 'three messages at every subscriber')
    for (const [j, g] of got.entries()) {
      assert.deepEqual(g.map(m => m.topic).sort(), ['matrix/from1', 'matrix/from2', 'matrix/from3'], `subscriber on node ${j + 1}`)
      assert.ok(g.every(m => m.qos === 1))
    }
    await end(...subs, ...pubs)
  })

  it('delivers 1,000 QoS 1 messages published on node 1 in the same order on all three nodes', async () => {
    const subs = await Promise.all(nodes.map(n => connect(n.url)))
    const got = subs.map(collect)
    await Promise.all(subs.map(s => s.subscribeAsync('order/one', { qos: 1 })))
    const pub = await connect(node(0).url)
    const sent = Array.from({ length: 1000 }, (_, i) => String(i))
    await Promise.all(sent.map(p => pub.publishAsync('order/one', p, { qos: 1 })))
    await until(() => got.every(g => g.length >= sent.length), 60000, '1,000 messages at every subscriber').catch(err => {
      throw new Error(`${(err as Error).message}: got ${got.map(g => g.length).join(', ')}`)
    })
    for (const [j, g] of got.entries()) assert.deepEqual(g.map(m => m.payload), sent, `order at the subscriber on node ${j + 1}`)
    await end(...subs, pub)
  })

  it('serves a retained message published on node 2 from nodes 1 and 3', async () => {
    const pub = await connect(node(1).url)
    await pub.publishAsync('retained/cluster', 'kept', { qos: 1, retain: true })
    for (const i of [0, 2]) {
      // the other nodes learn it from the retained topic's tail: ask again until they have it
      let seen: string | undefined
      for (let attempt = 0; attempt < 20 && seen === undefined; attempt++) {
        const sub = await connect(node(i).url)
        const got = collect(sub)
        await sub.subscribeAsync('retained/#', { qos: 1 })
        await until(() => got.length > 0, 1000).catch(() => undefined)
        if (got[0]?.retain === true) seen = got[0].payload
        await end(sub)
      }
      assert.equal(seen, 'kept', `retained message on node ${i + 1}`)
    }
    await pub.publishAsync('retained/cluster', '', { qos: 1, retain: true })
    await end(pub)
  })

  it('closes the older connection of a client id when it connects on another node', async () => {
    const clientId = `takeover-${id}`
    const a = await connect(node(0).url, { clientId })
    const aClosed = new Promise<number>(resolve => a.once('close', () => resolve(Date.now())))
    const b = await connect(node(1).url, { clientId })
    const connackAt = Date.now()
    const bClosed = new Promise<'closed'>(resolve => b.once('close', () => resolve('closed')))
    const closedAt = await Promise.race([aClosed, new Promise<number>((_r, reject) => setTimeout(() => reject(new Error('node 1 did not close the old connection within 15 s')), 15000))])
    console.log(`# takeover time (CONNACK on node 2 -> old connection on node 1 closed): ${closedAt - connackAt} ms`)
    assert.equal(a.connected, false)
    // the newer connection stays. Only node 2 could close it, on reading a takeover record of
    // another connection after its own; takeover records are in the nodes topic, which has one
    // partition (topics.nodes.partitions defaults to 1). A probe client id taken over from node 2 makes node 2 close its probe connection
    // when it reads the probe's second record, written after a's and b's: by then node 2 has applied
    // both. b then completes a QoS 1 round trip, handled by node 2 after that.
    const probeId = `probe-${id}`
    const probe = await connect(node(1).url, { clientId: probeId })
    const probeClosed = new Promise<void>(resolve => probe.once('close', () => resolve()))
    const probeAgain = await connect(node(2).url, { clientId: probeId })
    await probeClosed
    const roundTrip = await Promise.race([b.publishAsync('takeover/still-here', 'yes', { qos: 1 }).then(() => 'acked' as const), bClosed])
    assert.equal(roundTrip, 'acked', 'the newer connection stays')
    assert.equal(b.connected, true)
    await node(0).waitForLog('session taken over')
    await end(a, b, probeAgain)
  })

  it('leaves at most one of two clients fighting over one client id connected', async () => {
    const clientId = `fight-${id}`
    const rounds = 4
    const fighter = (url: string): { current: () => MqttClient; closes: () => number } => {
      let closes = 0
      let client: MqttClient
      const open = (): void => {
        client = mqtt.connect(url, { clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10000 })
        client.on('error', () => undefined)
        client.once('close', () => {
          closes++
          if (closes <= rounds) setTimeout(open, 100)
        })
      }
      open()
      return { current: () => client, closes: () => closes }
    }
    const f1 = fighter(node(0).url)
    const f3 = fighter(node(2).url)
    // settle: wait until nobody was closed for 3 s (or both gave up)
    let last = -1
    let stableSince = Date.now()
    await until(() => {
      const n = f1.closes() + f3.closes()
      if (n !== last) { last = n; stableSince = Date.now() }
      return Date.now() - stableSince > 3000
    }, 60000, 'the fight to settle')
    const connected = [f1, f3].filter(f => f.current().connected).length
    console.log(`# fight: ${f1.closes()} + ${f3.closes()} connections closed, ${connected} connected at the end`)
    assert.ok(connected <= 1, `at most one connected, got ${connected}`)
    await end(f1.current(), f3.current())
  })

  it('wharf cluster status lists three live nodes, and a SIGKILLed one as down after node_timeout', async () => {
    const status = async (): Promise<string> => {
      const env: NodeJS.ProcessEnv = { ...process.env, WHARF_KAFKA__BROKERS: testBrokers().join(','), WHARF_TOPICS__NODES__NAME: topics.nodes, WHARF_CLUSTER__NODE_TIMEOUT_MS: String(NODE_TIMEOUT_MS) }
      delete env.WHARF_CONFIG
      const { stdout } = await run(process.execPath, [CLI, 'cluster', 'status'], { env, timeout: 60000 })
      return stdout
    }
    const statusOf = (out: string, name: string): string | undefined => out.split('\n').find(l => l.startsWith(name + ' '))?.split(/\s+/)[1]
    const before = await status()
    console.log(before.split('\n').map(l => `# ${l}`).join('\n'))
    for (const name of names) assert.equal(statusOf(before, name), 'live', `${name} live`)

    await node(2).kill()
    const killedAt = Date.now()
    let out = ''
    await new Promise(resolve => setTimeout(resolve, NODE_TIMEOUT_MS))
    for (let attempt = 0; attempt < 10; attempt++) {
      out = await status()
      if (statusOf(out, names[2] as string) === 'down') break
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
    console.log(out.split('\n').map(l => `# ${l}`).join('\n'))
    assert.equal(statusOf(out, names[2] as string), 'down', `${names[2]} down ${Date.now() - killedAt} ms after SIGKILL`)
    assert.equal(statusOf(out, names[0] as string), 'live')
    assert.equal(statusOf(out, names[1] as string), 'live')

    const ready = await (await fetch(`http://127.0.0.1:${node(0).httpPort}/ready`)).json() as { cluster: { live: string[]; down: string[] } }
    assert.deepEqual(ready.cluster.live, [names[0], names[1]].sort())
    assert.deepEqual(ready.cluster.down, [names[2]])

    // a graceful stop writes a leave record
    assert.equal((await node(1).stop()).code, 0)
    const afterLeave = await status()
    assert.equal(statusOf(afterLeave, names[1] as string), 'left')
  })
})
