import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { Aedes, type Client } from 'aedes'
import type { IPublishPacket, Packet } from 'mqtt-packet'
import { pino } from 'pino'
import { checkAedes, deliverTo, directPacket } from '../../src/edge/aedes-internals.js'
import { Delivery } from '../../src/edge/delivery.js'
import { createLocalEmitter } from '../../src/edge/local-emitter.js'
import { createPersistence } from '../../src/edge/persistence.js'
import { createMetrics } from '../../src/observability/metrics.js'
import type { MqttMessage, Qos } from '../../src/protocol/message.js'
import { RetainedView } from '../../src/retained/retained-view.js'
import type { PersistentSession } from '../../src/session/persistent-session.js'
import { replay } from '../../src/session/replay.js'
import { FakeLog, FakeReader, headerDecoder, message, storedSession, tp, unackedAt } from '../support/fake-log.js'
import { until } from '../support/mqtt-client.js'
import { RawMqtt } from '../support/raw-mqtt.js'

/*
 * The edge's Delivery (src/edge/delivery.ts) on a real in-memory aedes, with the edge's own emitter
 * and persistence, and bare MQTT clients over TCP (they acknowledge nothing unless told to). The
 * Kafka side is faked: the log tail is this test calling `delivery.deliver()`, a resume is the real
 * replay() over a fake log (test/support/fake-log.ts), then `goLive`, as the CONNECT flow does it.
 * "Nothing more arrived" is always shown by a later message on the same path arriving (a marker),
 * never by waiting.
 */

const logger = pino({ level: 'silent' })

interface Harness {
  aedes: Aedes
  delivery: Delivery
  /** the emitter aedes delivers from */
  mq: ReturnType<typeof createLocalEmitter>
  /** the session a client id resumes when it connects with clean session = 0 */
  sessions: Map<string, PersistentSession>
  connect: (clientId: string, clean: boolean) => Promise<{ raw: RawMqtt; client: Client; sessionPresent: boolean }>
  close: () => Promise<void>
}

/** aedes with the edge's emitter, persistence and Delivery; a CONNECT with clean session = 0 binds the prepared session (as connect.ts does). */
async function startHarness (): Promise<Harness> {
  const sessions = new Map<string, PersistentSession>()
  const bound = new Map<string, PersistentSession>()
  const mq = createLocalEmitter(100)
  // called only once aedes below exists
  const delivery: Delivery = new Delivery({
    aedes: (): Aedes => aedes,
    mq: () => mq,
    sessionOf: c => bound.get(c.id)
  })
  const persistence = createPersistence({
    retained: new RetainedView(),
    sessionOf: id => bound.get(id),
    subscriptionsChanged: async () => undefined,
    putWill: async () => undefined
  })
  const ready = new Map<string, (client: Client) => void>()
  const aedes: Aedes = new Aedes({
    id: 'test-node',
    mq,
    persistence,
    authenticate: (client, _username, _password, done) => {
      const session = sessions.get(client.id)
      if (!client.clean && session !== undefined) {
        bound.set(client.id, session)
        delivery.prepare(client, session)
      }
      done(null, true)
    },
    authorizeForward: delivery.authorizeForward
  })
  aedes.on('clientReady', client => ready.get(client.id)?.(client))
  aedes.on('clientDisconnect', client => { bound.delete(client.id) })
  await aedes.listen()
  assert.equal(checkAedes(aedes), undefined)
  const server: Server = createServer(socket => { aedes.handle(socket) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const raws: RawMqtt[] = []
  return {
    aedes,
    delivery,
    mq,
    sessions,
    async connect (clientId, clean) {
      const isReady = new Promise<Client>(resolve => ready.set(clientId, resolve))
      const { client: raw, sessionPresent } = await RawMqtt.connect(port, clientId, clean)
      raws.push(raw)
      return { raw, client: await isReady, sessionPresent }
    },
    async close () {
      for (const raw of raws) raw.drop()
      await new Promise<void>(resolve => aedes.close(() => resolve()))
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** The PUBLISH packets a bare client has received so far. */
function publishes (raw: RawMqtt): IPublishPacket[] {
  return raw.packets.filter((p: Packet): p is IPublishPacket => p.cmd === 'publish')
}

/** Wait until a PUBLISH with `payload` has arrived (the marker), then return every PUBLISH so far. */
async function upTo (raw: RawMqtt, payload: string): Promise<IPublishPacket[]> {
  await until(() => publishes(raw).some(p => p.payload.toString() === payload), 10000, `the PUBLISH "${payload}"`)
  return publishes(raw)
}

/** Subscribe a bare client and wait for the SUBACK. */
async function subscribe (raw: RawMqtt, subscriptions: Array<{ topic: string; qos: Qos }>): Promise<void> {
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions })
  await raw.next(p => p.cmd === 'suback')
}

/** The resume of connect.ts: replay from the fake log up to `target`, then go live. */
async function resume (h: Harness, client: Client, session: PersistentSession, log: FakeLog, target: Record<number, number>, reader = new FakeReader(log), beforeLive?: () => void): Promise<number> {
  const { replayed } = await replay(session, item => h.delivery.replay(client, item), {
    deliveredPositions: () => new Map(Object.entries(target).map(([p, o]) => [tp(Number(p)), BigInt(o)])),
    dataWatermarks: async () => log.watermarks(),
    reader: reader.asRangeReader,
    decoder: headerDecoder,
    maxOfflineMessages: 0,
    metrics: createMetrics('test'),
    logger
  })
  beforeLive?.()
  h.delivery.goLive(client, session)
  return replayed
}

/** A live record of the log, as the tail hands it to the edge. */
function live (h: Harness, p: number, offset: number, msg: MqttMessage): Promise<void> {
  return h.delivery.deliver(msg, tp(p), String(offset))
}

const described = (ps: IPublishPacket[]): string[] => ps.map(p => `${p.topic} ${p.payload.toString()} q${p.qos}${p.dup ? ' dup' : ''}`)

describe('edge delivery (Delivery) on a real aedes', () => {
  let h: Harness
  before(async () => { h = await startHarness() })
  after(async () => { await h.close() })

  it('holds live deliveries back while a session resumes, hands them over after the replay in log order, and sends nothing twice', async () => {
    const log = new FakeLog().partition(0).fill(0, 6, 'a/x', 1) // payloads 0@0 .. 0@5
    const session = storedSession('resumer', [['a/#', 1]], { 0: 0 })
    h.sessions.set('resumer', session)
    const { raw, client, sessionPresent } = await h.connect('resumer', false)
    assert.equal(sessionPresent, true, 'aedes restored the subscriptions from the session')
    assert.equal(session.state, 'resuming')

    // the replay covers 0..2; between its first and second batch the tail delivers 2 (also in the
    // replay's range), 3 and 4: each deliver() resolves once aedes' hook has decided about it
    const reader = new FakeReader(log, 2)
    reader.beforeBatch = async (n) => {
      if (n !== 2) return
      for (const offset of [2, 3, 4]) await live(h, 0, offset, message('a/x', `0@${offset}`, 1))
    }
    assert.equal(await resume(h, client, session, log, { 0: 3 }, reader), 3)
    assert.equal(session.state, 'live')
    // live again: 5 goes straight through, after everything held back
    await live(h, 0, 5, message('a/x', '0@5', 1))

    const got = await upTo(raw, '0@5')
    assert.deepEqual(described(got), ['0@0', '0@1', '0@2', '0@3', '0@4', '0@5'].map(p => `a/x ${p} q1`), 'log order, each once, held-back ones after the replay')
    const ids = got.map(p => p.messageId as number)
    assert.equal(new Set(ids).size, 6, 'six packet ids')

    // the session knows which record each packet id is, and its cursor is past the last one
    assert.equal(session.cursors.get(tp(0)), 6n)
    assert.deepEqual([...session.unacked].map(([id, u]) => [id, u.offset]).sort((a, b) => Number(a[1]) - Number(b[1])), ids.map((id, i) => [id, BigInt(i)]))
    for (const id of ids) raw.send({ cmd: 'puback', messageId: id })
    await until(() => session.unacked.size === 0, 10000, 'the PUBACKs to complete the deliveries')
    raw.disconnect()
  })

  it('a live delivery the session does not subscribe to any more is dropped when the held-back ones are handed over', async () => {
    const log = new FakeLog().partition(0).fill(0, 2, 'b/x', 1)
    const session = storedSession('unsub', [['b/#', 1]], { 0: 0 })
    h.sessions.set('unsub', session)
    const { raw, client } = await h.connect('unsub', false)
    const reader = new FakeReader(log, 1)
    reader.beforeBatch = async (n) => {
      if (n === 2) await live(h, 0, 2, message('b/x', 'held, then unsubscribed', 1))
    }
    // the client changes its subscriptions after the replay, before the session goes live
    await resume(h, client, session, log, { 0: 2 }, reader, () => {
      session.removeSub('b/#')
      session.addSub('b/y', 1)
    })
    await live(h, 0, 3, message('b/y', 'marker', 1))
    const got = await upTo(raw, 'marker')
    assert.deepEqual(described(got), ['b/x 0@0 q1', 'b/x 0@1 q1', 'b/y marker q1'])
    raw.disconnect()
  })

  it('prepare: new packet ids continue after the highest unacknowledged one; resends keep theirs, with DUP', async () => {
    const log = new FakeLog().partition(0).fill(0, 5, 'a/x', 1)
    const session = storedSession('ids', [['a/#', 1]], { 0: 3 }, [
      unackedAt(0, 0, 7, 2, true), // QoS 2, PUBREC came: aedes sends its PUBREL again at CONNECT
      unackedAt(0, 1, 10, 1),
      unackedAt(0, 2, 500, 1)
    ])
    h.sessions.set('ids', session)
    const { raw, client } = await h.connect('ids', false)
    await raw.next(p => p.cmd === 'pubrel' && p.messageId === 7)
    await resume(h, client, session, log, { 0: 4 })
    await live(h, 0, 4, message('a/x', '0@4', 1))
    const got = await upTo(raw, '0@4')
    assert.deepEqual(got.map(p => [p.payload.toString(), p.messageId, p.dup]), [
      ['0@1', 10, true],
      ['0@2', 500, true],
      ['0@3', 501, false],
      ['0@4', 502, false]
    ])
    assert.deepEqual([...session.unacked.keys()].sort((a, b) => a - b), [7, 10, 500, 501, 502])
    raw.disconnect()
  })

  it('prepare: packet ids wrap to 1 after 65535', async () => {
    const log = new FakeLog().partition(0).fill(0, 2, 'a/x', 1)
    const session = storedSession('wrap', [['a/#', 1]], { 0: 1 }, [unackedAt(0, 0, 65535, 1)])
    h.sessions.set('wrap', session)
    const { raw, client } = await h.connect('wrap', false)
    await resume(h, client, session, log, { 0: 1 })
    await live(h, 0, 1, message('a/x', '0@1', 1))
    const got = await upTo(raw, '0@1')
    assert.deepEqual(got.map(p => [p.payload.toString(), p.messageId, p.dup]), [['0@0', 65535, true], ['0@1', 1, false]])
    raw.disconnect()
  })

  it('a persistent session gets the lower of the record\'s QoS and the best matching subscription\'s', async () => {
    const session = storedSession('qos', [['w/+', 1], ['w/#', 2], ['v/+', 0], ['x/+', 1]], { 0: 0 })
    h.sessions.set('qos', session)
    const { raw, client } = await h.connect('qos', false)
    await resume(h, client, session, new FakeLog().partition(0), { 0: 0 })
    await live(h, 0, 0, message('w/a', 'two', 2)) // w/# at 2 beats w/+ at 1
    await live(h, 0, 1, message('v/a', 'zero', 1)) // v/+ at 0
    await live(h, 0, 2, message('x/a', 'capped', 2)) // x/+ at 1 (aedes itself caps only for a filter equal to the topic)
    await live(h, 0, 3, message('w/a', 'one', 1))
    const got = await upTo(raw, 'one')
    assert.deepEqual(described(got), ['w/a two q2', 'v/a zero q0', 'x/a capped q1', 'w/a one q1'])
    raw.disconnect()
  })

  it('clean sessions: a wildcard subscription caps the QoS as an exact one does; Wharf\'s direct packets keep the QoS they carry', async () => {
    const { raw, client } = await h.connect('clean-1', true)
    await subscribe(raw, [{ topic: 'w/+', qos: 1 }, { topic: 'z/#', qos: 0 }, { topic: 'e/x', qos: 1 }])
    await live(h, 0, 0, message('w/a', 'capped', 2))
    await live(h, 0, 1, message('w/a', 'below', 0))
    await live(h, 0, 2, message('z/b', 'to zero', 2))
    await live(h, 0, 3, message('e/x', 'exact', 2))
    // a shared-subscription delivery: QoS decided by Wharf, handed to this client alone
    await new Promise<void>(resolve => deliverTo(client, directPacket(h.aedes, message('w/a', 'direct', 2), 2, false), resolve))
    await live(h, 0, 4, message('w/a', 'marker', 1))
    const got = await upTo(raw, 'marker')
    assert.deepEqual(described(got), ['w/a capped q1', 'w/a below q0', 'z/b to zero q0', 'e/x exact q1', 'w/a direct q2', 'w/a marker q1'])
    raw.disconnect()
  })

  // the emitter runs at most 100 deliveries at once and queues the rest, matching subscribers when it
  // dispatches them: a record queued while the node had no persistent session must still reach a
  // session that subscribed meanwhile with its log position (held back, admitted, resent if unacked)
  it('a record queued in the emitter before the first persistent session opened is tracked like any other', async () => {
    const h2 = await startHarness()
    try {
      // a slow local subscriber (a clean client on a slow link): 100 deliveries in flight, the rest queued
      let slow = true
      const held: Array<() => void> = []
      h2.mq.on('a/#', (_packet, cb) => { if (slow) held.push(cb); else cb() })
      const delivered = Array.from({ length: 150 }, (_, i) => live(h2, 0, i, message('a/x', `0@${i}`, 1)))
      const session = storedSession('first-session', [['a/#', 1]], { 0: 0 })
      h2.sessions.set('first-session', session)
      const { raw, client } = await h2.connect('first-session', false)
      // nothing has been delivered completely yet: the tail's position, the replay's target, is 0
      await resume(h2, client, session, new FakeLog().partition(0), { 0: 0 })
      slow = false
      for (const cb of held.splice(0)) cb()
      await Promise.all(delivered)
      await live(h2, 0, 150, message('a/x', 'marker', 1))
      const got = await upTo(raw, 'marker')
      const ids = got.map(p => p.messageId as number).sort((a, b) => a - b)
      assert.deepEqual([...session.unacked.keys()].sort((a, b) => a - b), ids, 'every QoS 1 delivery not acknowledged yet is in the session')
      raw.disconnect()
    } finally {
      await h2.close()
    }
  })
})
