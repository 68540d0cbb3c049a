import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { Aedes } from 'aedes'
import { pino } from 'pino'
import { hardenBroker, hardenIncomingStore, handleConnection, discardIncoming } from '../../src/edge/aedes-hardening.js'
import { checkAedes, cleanStartOf, incomingPersistence } from '../../src/edge/aedes-internals.js'
import { InboundWindow } from '../../src/edge/inbound-window.js'
import { createLocalEmitter } from '../../src/edge/local-emitter.js'
import { createPersistence } from '../../src/edge/persistence.js'
import { createPublishHook, type MessagePublisher } from '../../src/edge/publish-hook.js'
import type { MqttMessage } from '../../src/protocol/message.js'
import { RetainedView } from '../../src/retained/retained-view.js'
import type { Authorize, AuthzSubject } from '../../src/auth/hooks.js'
import { RawMqtt } from '../support/raw-mqtt.js'

/*
 * The regressions of aedes 2.0.0-beta.1 against 1.2.0 (docs/architecture.md, "MQTT 5 engine"), each
 * shown on a real in-memory aedes wired as the edge wires it (its persistence, the hardening, the
 * publish hook), with bare MQTT clients over TCP. The log is a recording publisher: what the edge
 * would write to Kafka. A crash of aedes ends this process, which fails the test run.
 */

const logger = pino({ level: 'silent' })
const LIMIT = 5

describe('aedes 2.0.0-beta.1 hardening', () => {
  let aedes: Aedes
  let server: Server
  let port: number
  const written: MqttMessage[] = []
  const raws: RawMqtt[] = []

  before(async () => {
    const persistence = createPersistence({
      retained: new RetainedView(),
      sessionOf: () => undefined,
      subscriptionsChanged: async () => undefined,
      putWill: async () => undefined
    })
    const inbound = new InboundWindow(LIMIT)
    hardenIncomingStore(persistence, inbound)
    const publisher: MessagePublisher = {
      hasRoom: () => true,
      waitForRoom: async () => undefined,
      publishWith: (m: MqttMessage, done) => { written.push(m); queueMicrotask(() => done(undefined)) }
    }
    aedes = new Aedes({
      id: 'hardening-test',
      mq: createLocalEmitter(),
      persistence,
      authenticate: (client, _u, _p, done) => {
        if (cleanStartOf(client)) discardIncoming(aedes, client).then(() => done(null, true), () => done(null, false))
        else done(null, true)
      },
      authorizePublish: createPublishHook({
        publisher,
        node: 'n1',
        persistence: () => incomingPersistence(aedes),
        authorize: { mayPublish: () => true, denyAction: 'ignore' } as unknown as Authorize,
        subjectOf: (c): AuthzSubject => ({ clientId: c.id, username: undefined, peerhost: '127.0.0.1', superuser: true }),
        willPublishing: () => undefined,
        inbound,
        logger
      })
    })
    hardenBroker(aedes)
    aedes.on('clientDisconnect', client => { if (client.clean) void discardIncoming(aedes, client) })
    await aedes.listen()
    assert.equal(checkAedes(aedes), undefined)
    server = createServer(socket => { handleConnection(aedes, socket) })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })

  after(async () => {
    for (const raw of raws) raw.drop()
    await new Promise<void>(resolve => aedes.close(() => resolve()))
    await new Promise<void>(resolve => server.close(() => resolve()))
  })

  const connect = async (clientId: string, clean = true, version: 4 | 5 = 4): Promise<RawMqtt> => {
    const { client } = await RawMqtt.connect(port, clientId, clean, version)
    raws.push(client)
    return client
  }

  it('GHSA-52qw-whmv-87c5: inherited names as topic filters and client ids do not end the process', async () => {
    const c = await connect('proto-1')
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'constructor', qos: 0 }, { topic: 'toString', qos: 1 }] })
    const suback = await c.next(p => p.cmd === 'suback')
    assert.deepEqual(suback.cmd === 'suback' && suback.granted, [0, 1])
    c.send({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: '__proto__', qos: 0 }] })
    await c.next(p => p.cmd === 'suback')
    c.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['constructor', 'toString'] })
    await c.next(p => p.cmd === 'unsuback')
    const named = await connect('constructor')
    const other = await connect('toString')
    // the node is still serving: a PUBLISH on the first connection is acknowledged
    c.send({ cmd: 'publish', topic: 'after', payload: Buffer.from('x'), qos: 1, messageId: 3, retain: false, dup: false })
    await c.next(p => p.cmd === 'puback')
    assert.ok(named !== undefined && other !== undefined)
  })

  it('a duplicate PUBREL is answered with a second PUBCOMP instead of ending the process', async () => {
    const c = await connect('dup-pubrel')
    c.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false, dup: false })
    await c.next(p => p.cmd === 'pubrec')
    c.send({ cmd: 'pubrel', messageId: 7 })
    c.send({ cmd: 'pubrel', messageId: 7 })
    await c.next(p => p.cmd === 'pubcomp')
    await c.next(p => p.cmd === 'pubcomp')
    assert.equal(written.filter(m => m.payload.toString() === 'once').length, 1)
  })

  /** Fill the window with unreleased QoS 2 PUBLISHes (each acknowledged), then send one more. */
  async function overfill (c: RawMqtt, prefix: string): Promise<void> {
    for (let id = 1; id <= LIMIT; id++) {
      c.send({ cmd: 'publish', topic: 'w', payload: Buffer.from(`${prefix}${id}`), qos: 2, messageId: id, retain: false, dup: false })
    }
    for (let i = 0; i < LIMIT; i++) await c.next(p => p.cmd === 'pubrec')
    c.send({ cmd: 'publish', topic: 'w', payload: Buffer.from(`${prefix}-over`), qos: 2, messageId: LIMIT + 1, retain: false, dup: false })
  }

  it('MQTT 3.1.1: more unreleased QoS 2 PUBLISHes than the window closes the connection', async () => {
    const c = await connect('window-v4')
    await overfill(c, 'w')
    await c.closed
    assert.equal(c.packets.filter(p => p.cmd === 'pubrec').length, 0)
    assert.equal(written.filter(m => m.payload.toString() === 'w-over').length, 0)
  })

  it('MQTT 3.1.1: a retransmitted QoS 2 PUBLISH reuses its slot, and a PUBREL frees one', async () => {
    const c = await connect('window-reuse')
    for (let id = 1; id <= LIMIT; id++) {
      c.send({ cmd: 'publish', topic: 'w', payload: Buffer.from(`r${id}`), qos: 2, messageId: id, retain: false, dup: false })
    }
    for (let i = 0; i < LIMIT; i++) await c.next(p => p.cmd === 'pubrec')
    c.send({ cmd: 'publish', topic: 'w', payload: Buffer.from('r1'), qos: 2, messageId: 1, retain: false, dup: true })
    await c.next(p => p.cmd === 'pubrec')
    c.send({ cmd: 'pubrel', messageId: 1 })
    await c.next(p => p.cmd === 'pubcomp')
    c.send({ cmd: 'publish', topic: 'w', payload: Buffer.from('r-new'), qos: 2, messageId: 100, retain: false, dup: false })
    await c.next(p => p.cmd === 'pubrec' && p.messageId === 100)
    assert.equal(written.filter(m => m.payload.toString() === 'r1').length, 1)
  })

  it('MQTT 5: more than the Receive Maximum unacknowledged is a DISCONNECT 0x93', async () => {
    const c = await connect('window-v5', true, 5)
    await overfill(c, 'v')
    const disconnect = await c.next(p => p.cmd === 'disconnect')
    assert.equal(disconnect.cmd === 'disconnect' && disconnect.reasonCode, 0x93)
    await c.closed
    assert.equal(c.packets.filter(p => p.cmd === 'pubrec').length, 0)
    assert.equal(written.filter(m => m.payload.toString() === 'v-over').length, 0)
  })

  it('[MQTT-3.1.2-6] a clean session does not inherit the QoS 2 ids of the previous one', async () => {
    const first = await connect('clean-incoming', true)
    first.send({ cmd: 'publish', topic: 'ci', payload: Buffer.from('first'), qos: 2, messageId: 9, retain: false, dup: false })
    await first.next(p => p.cmd === 'pubrec')
    first.drop()
    await first.closed
    const second = await connect('clean-incoming', true)
    second.send({ cmd: 'publish', topic: 'ci', payload: Buffer.from('second'), qos: 2, messageId: 9, retain: false, dup: false })
    await second.next(p => p.cmd === 'pubrec')
    assert.deepEqual(written.filter(m => m.topic === 'ci').map(m => m.payload.toString()), ['first', 'second'])
  })
})
