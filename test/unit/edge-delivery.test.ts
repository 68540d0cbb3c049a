import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { Aedes, type Client } from 'aedes'
import type { IPublishPacket, Packet } from 'mqtt-packet'
import { pino } from 'pino'
import { checkAedes, deliverTo, directPacket } from '../../src/edge/aedes-internals.js'
import { Delivery } from '../../src/edge/delivery.js'
import { createLocalEmitter } from '../../src/edge/local-emitter.js'
import { Outbound, type OutboundLimitReason } from '../../src/edge/outbound.js'
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
  outbound: Outbound
  /** limit events by reason */
  limits: Map<OutboundLimitReason, number>
  /** the emitter aedes delivers from */
  mq: ReturnType<typeof createLocalEmitter>
  /** the session a client id resumes when it connects with clean session = 0 */
  sessions: Map<string, PersistentSession>
  connect: (clientId: string, clean: boolean) => Promise<{ raw: RawMqtt; client: Client; sessionPresent: boolean }>
  close: () => Promise<void>
}

const WIDE = { maxInflight: 1000, maxQueueLen: 1000, maxBufferBytes: 64 * 1024 * 1024, slowClientTimeoutMs: 600_000 }

/**
 * aedes with the edge's emitter, persistence, Delivery and outbound bounds (wide unless a test
 * narrows them); a CONNECT with clean session = 0 binds the prepared session (as connect.ts does).
 */
async function startHarness (limits: Partial<typeof WIDE> = {}): Promise<Harness> {
  const sessions = new Map<string, PersistentSession>()
  const bound = new Map<string, PersistentSession>()
  const mq = createLocalEmitter()
  const counted = new Map<OutboundLimitReason, number>()
  const outbound = new Outbound({
    limits: { ...WIDE, ...limits },
    aedes: (): Aedes => aedes,
    onLimit: (reason, n) => counted.set(reason, (counted.get(reason) ?? 0) + n),
    logger
  })
  // called only once aedes below exists
  const delivery: Delivery = new Delivery({
    aedes: (): Aedes => aedes,
    mq: () => mq,
    sessionOf: c => bound.get(c.id),
    outbound,
    maxHeld: limits.maxQueueLen ?? WIDE.maxQueueLen
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
    authorizeForward: outbound.wrap(delivery.authorizeForward)
  })
  outbound.attach(aedes)
  aedes.on('clientReady', client => ready.get(client.id)?.(client))
  aedes.on('clientDisconnect', client => { bound.delete(client.id); outbound.gone(client) })
  await aedes.listen()
  assert.equal(checkAedes(aedes), undefined)
  const server: Server = createServer(socket => { aedes.handle(socket) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const raws: RawMqtt[] = []
  return {
    aedes,
    delivery,
    outbound,
    limits: counted,
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

/** One round of edge/catch-up.ts: replay from the fake log up to `target`, then go live (unless the round stopped). */
async function resume (h: Harness, client: Client, session: PersistentSession, log: FakeLog, target: Record<number, number>, reader = new FakeReader(log), beforeLive?: () => void): Promise<number> {
  session.state = 'resuming'
  const { replayed, complete } = await replay(session, item => h.delivery.replay(client, item), {
    deliveredPositions: () => new Map(Object.entries(target).map(([p, o]) => [tp(Number(p)), BigInt(o)])),
    dataWatermarks: async () => log.watermarks(),
    reader: reader.asRangeReader,
    decoder: headerDecoder,
    maxOfflineMessages: 0,
    metrics: createMetrics('test'),
    logger
  })
  beforeLive?.()
  if (complete && !session.owes()) h.delivery.goLive(client, session)
  else h.delivery.fallBehind(client, session)
  return replayed
}

/** A live record of the log, as the tail hands it to the edge (every local client has decided when it returns). */
function live (h: Harness, p: number, offset: number, msg: MqttMessage): void {
  h.delivery.deliver(msg, tp(p), String(offset))
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
    // replay's range), 3 and 4: aedes' hook has decided about each when deliver() returns
    const reader = new FakeReader(log, 2)
    reader.beforeBatch = async (n) => {
      if (n !== 2) return
      for (const offset of [2, 3, 4]) live(h, 0, offset, message('a/x', `0@${offset}`, 1))
    }
    assert.equal(await resume(h, client, session, log, { 0: 3 }, reader), 3)
    assert.equal(session.state, 'live')
    // live again: 5 goes straight through, after everything held back
    live(h, 0, 5, message('a/x', '0@5', 1))

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
      if (n === 2) live(h, 0, 2, message('b/x', 'held, then unsubscribed', 1))
    }
    // the client changes its subscriptions after the replay, before the session goes live
    await resume(h, client, session, log, { 0: 2 }, reader, () => {
      session.removeSub('b/#')
      session.addSub('b/y', 1)
    })
    live(h, 0, 3, message('b/y', 'marker', 1))
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
    live(h, 0, 4, message('a/x', '0@4', 1))
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
    live(h, 0, 1, message('a/x', '0@1', 1))
    const got = await upTo(raw, '0@1')
    assert.deepEqual(got.map(p => [p.payload.toString(), p.messageId, p.dup]), [['0@0', 65535, true], ['0@1', 1, false]])
    raw.disconnect()
  })

  it('a persistent session gets the lower of the record\'s QoS and the best matching subscription\'s', async () => {
    const session = storedSession('qos', [['w/+', 1], ['w/#', 2], ['v/+', 0], ['x/+', 1]], { 0: 0 })
    h.sessions.set('qos', session)
    const { raw, client } = await h.connect('qos', false)
    await resume(h, client, session, new FakeLog().partition(0), { 0: 0 })
    live(h, 0, 0, message('w/a', 'two', 2)) // w/# at 2 beats w/+ at 1
    live(h, 0, 1, message('v/a', 'zero', 1)) // v/+ at 0
    live(h, 0, 2, message('x/a', 'capped', 2)) // x/+ at 1 (aedes itself caps only for a filter equal to the topic)
    live(h, 0, 3, message('w/a', 'one', 1))
    const got = await upTo(raw, 'one')
    assert.deepEqual(described(got), ['w/a two q2', 'v/a zero q0', 'x/a capped q1', 'w/a one q1'])
    raw.disconnect()
  })

  it('clean sessions: a wildcard subscription caps the QoS as an exact one does; Wharf\'s direct packets keep the QoS they carry', async () => {
    const { raw, client } = await h.connect('clean-1', true)
    await subscribe(raw, [{ topic: 'w/+', qos: 1 }, { topic: 'z/#', qos: 0 }, { topic: 'e/x', qos: 1 }])
    live(h, 0, 0, message('w/a', 'capped', 2))
    live(h, 0, 1, message('w/a', 'below', 0))
    live(h, 0, 2, message('z/b', 'to zero', 2))
    live(h, 0, 3, message('e/x', 'exact', 2))
    // a shared-subscription delivery: QoS decided by Wharf, handed to this client alone
    await new Promise<void>(resolve => deliverTo(client, directPacket(h.aedes, message('w/a', 'direct', 2), 2, false), resolve))
    live(h, 0, 4, message('w/a', 'marker', 1))
    const got = await upTo(raw, 'marker')
    assert.deepEqual(described(got), ['w/a capped q1', 'w/a below q0', 'z/b to zero q0', 'e/x exact q1', 'w/a direct q2', 'w/a marker q1'])
    raw.disconnect()
  })

  // deliver() hands a record to every local subscriber and returns: a subscriber whose writes never
  // complete (a stuck socket; here a listener that never calls back) holds up nobody else
  it('a subscriber that never completes its deliveries does not hold up the others', async () => {
    const h2 = await startHarness()
    try {
      const stuck: Array<() => void> = []
      h2.mq.on('a/#', (_packet, cb) => { stuck.push(cb) })
      const { raw } = await h2.connect('bystander', true)
      await subscribe(raw, [{ topic: 'a/#', qos: 0 }])
      for (let i = 0; i < 150; i++) live(h2, 0, i, message('a/x', `0@${i}`, 0))
      live(h2, 0, 150, message('a/x', 'marker', 0))
      const got = await upTo(raw, 'marker')
      assert.equal(got.length, 151, 'every record reached the bystander')
      assert.equal(stuck.length, 151, 'while none of the stuck subscriber\'s deliveries completed')
      raw.disconnect()
    } finally {
      await h2.close()
    }
  })
})

describe('edge delivery under outbound bounds (Delivery + Outbound)', () => {
  it('a persistent session whose window is full falls behind: nothing live is kept, and a round from the log catches it up in order, each record once', async () => {
    const h = await startHarness({ maxInflight: 2 })
    try {
      const log = new FakeLog().partition(0).fill(0, 8, 'a/x', 1) // what the live reader hands over: 0@0 .. 0@7
      const session = storedSession('behind', [['a/#', 1]], { 0: 0 })
      h.sessions.set('behind', session)
      const { raw, client } = await h.connect('behind', false)
      await resume(h, client, session, log, { 0: 0 })
      assert.equal(session.state, 'live')
      for (let i = 0; i < 6; i++) live(h, 0, i, message('a/x', `0@${i}`, 1))
      assert.equal(session.state, 'behind', 'the third QoS 1 delivery did not fit the window of 2')
      assert.equal(h.limits.get('inflight_full'), 4, 'four left in Kafka')
      assert.equal(session.cursors.get(tp(0)), 2n, 'the cursor stays at the first record not delivered')
      await until(() => publishes(raw).length === 2, 10000, 'two deliveries')
      live(h, 0, 6, message('a/x', '0@6', 1)) // while behind: owed too
      // the client acknowledges from now on: the round goes on at the pace of its window
      raw.onPacket(p => { if (p.cmd === 'publish') raw.send({ cmd: 'puback', messageId: p.messageId as number }) })
      for (const p of publishes(raw)) raw.send({ cmd: 'puback', messageId: p.messageId as number })
      await until(() => h.outbound.roomToCatchUp(client), 10000, 'room in the window')
      // the round reads from the cursor up to what the session owes (the node's position says less)
      assert.equal(await resume(h, client, session, log, { 0: 3 }), 5)
      assert.equal(session.state, 'live')
      await until(() => h.outbound.roomToCatchUp(client), 10000, 'the round\'s deliveries acknowledged')
      live(h, 0, 7, message('a/x', '0@7', 1))
      const got = await upTo(raw, '0@7')
      assert.deepEqual(got.map(p => p.payload.toString()), ['0@0', '0@1', '0@2', '0@3', '0@4', '0@5', '0@6', '0@7'], 'log order, each once')
      raw.disconnect()
    } finally {
      await h.close()
    }
  })

  it('a round whose client acknowledges nothing stops after a short wait; the rest stays owed and nothing is lost', async () => {
    const h = await startHarness({ maxInflight: 2 })
    try {
      const log = new FakeLog().partition(0).fill(0, 6, 'a/x', 1)
      const session = storedSession('mute', [['a/#', 1]], { 0: 0 })
      h.sessions.set('mute', session)
      const { raw, client } = await h.connect('mute', false)
      assert.equal(await resume(h, client, session, log, { 0: 6 }), 2, 'the window of 2, then no acknowledgement')
      assert.equal(session.state, 'behind')
      assert.equal(session.owes(), true)
      raw.onPacket(p => { if (p.cmd === 'publish') raw.send({ cmd: 'puback', messageId: p.messageId as number }) })
      for (const p of await until(() => publishes(raw).length === 2, 10000, 'two').then(() => publishes(raw))) raw.send({ cmd: 'puback', messageId: p.messageId as number })
      await until(() => h.outbound.roomToCatchUp(client), 10000, 'room in the window')
      assert.equal(await resume(h, client, session, log, { 0: 0 }), 4, 'the next round reads to the first one\'s target')
      await until(() => h.outbound.roomToCatchUp(client), 10000, 'the round\'s deliveries acknowledged')
      live(h, 0, 6, message('a/x', 'marker', 1))
      const got = await upTo(raw, 'marker')
      assert.deepEqual(got.map(p => p.payload.toString()), ['0@0', '0@1', '0@2', '0@3', '0@4', '0@5', 'marker'])
      raw.disconnect()
    } finally {
      await h.close()
    }
  })

  it('a clean session: QoS 1/2 past the window wait in the queue and go out as acknowledgements come, past the queue they are dropped; QoS 0 without room is dropped', async () => {
    const h = await startHarness({ maxInflight: 2, maxQueueLen: 3 })
    try {
      const { raw } = await h.connect('clean-queue', true)
      await subscribe(raw, [{ topic: 'q/#', qos: 1 }])
      for (let i = 0; i < 7; i++) live(h, 0, i, message('q/x', `m${i}`, 1))
      assert.equal(h.limits.get('queue_full'), 2, 'two in the window, three queued, two dropped')
      const window = await until(() => publishes(raw).length === 2, 10000, 'the window').then(() => publishes(raw))
      for (const p of window) raw.send({ cmd: 'puback', messageId: p.messageId })
      await until(() => publishes(raw).length === 4, 10000, 'two from the queue')
      for (const p of publishes(raw).slice(2)) raw.send({ cmd: 'puback', messageId: p.messageId })
      await until(() => publishes(raw).length === 5, 10000, 'the last queued one')
      raw.send({ cmd: 'puback', messageId: publishes(raw)[4]?.messageId })
      live(h, 0, 7, message('q/x', 'marker', 1))
      const got = await upTo(raw, 'marker')
      assert.deepEqual(got.map(p => p.payload.toString()), ['m0', 'm1', 'm2', 'm3', 'm4', 'marker'])
      raw.disconnect()
    } finally {
      await h.close()
    }
  })

  it('QoS 0 to a client over its byte bound is dropped and counted; the bound counts what aedes has not written yet', async () => {
    const h = await startHarness({ maxBufferBytes: 1000 })
    try {
      const { raw } = await h.connect('bytes', true)
      await subscribe(raw, [{ topic: 'z/#', qos: 0 }])
      const payload = 'x'.repeat(90) // 100 bytes on the wire with the number, the topic and the header
      for (let i = 0; i < 50; i++) live(h, 0, i, message('z/x', `${String(i).padStart(2, '0')}${payload}`, 0))
      assert.equal(h.limits.get('queue_full'), 40, 'ten fit in 1000 bytes within one turn of the event loop, before any reached the socket')
      await until(() => publishes(raw).length === 10, 10000, 'the ten that fit')
      live(h, 0, 50, message('z/x', 'marker', 0))
      const got = await upTo(raw, 'marker')
      assert.deepEqual(got.map(p => p.payload.toString().slice(0, 2)), ['00', '01', '02', '03', '04', '05', '06', '07', '08', '09', 'ma'])
      raw.disconnect()
    } finally {
      await h.close()
    }
  })
})
