import { describe, it, afterEach, beforeEach, mock } from 'node:test'
import assert from 'node:assert/strict'
import { syncBuiltinESMExports } from 'node:module'
import { performance } from 'node:perf_hooks'
import { CompressionTypes, type Kafka, type ProducerConfig } from 'kafkajs'
import { pino } from 'pino'
import { BatchingProducer, ProducerClosedError, type BatchingProducerOptions, type OutgoingRecord } from '../../src/kafka/batching-producer.js'

/*
 * Time is virtual here: node:test's mock timers drive setTimeout (the linger timer; through
 * node:timers/promises the retry backoff and close()'s timeout) and Date, and performance.now() (which the producer measures linger
 * with) reads the same mocked clock. A test advances the clock itself, so "not before linger_ms"
 * and "right after the ack" are exact statements about the order of events, not wall-clock bounds
 * that a loaded machine could break.
 */

const logger = pino({ level: 'silent' })

interface Deferred {
  promise: Promise<void>
  resolve: () => void
  reject: (err: Error) => void
}

function deferred (): Deferred {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

interface SendBatchCall {
  topicMessages: Array<{ topic: string; messages: OutgoingRecord[] }>
  acks: number | undefined
  compression: CompressionTypes | undefined
  /** performance.now() when sendBatch was called */
  at: number
  /** settles this call's promise (only meaningful in manual mode) */
  result: Deferred
}

/**
 * Stands in for a kafkajs producer. `mode`: `auto` acknowledges every batch at once, `manual`
 * leaves each call pending until the test settles `calls[i].result`, `reject` fails every call.
 * `failNext` makes that many calls fail first, whatever the mode.
 */
class FakeProducer {
  mode: 'auto' | 'manual' | 'reject' = 'auto'
  failNext = 0
  readonly calls: SendBatchCall[] = []
  connected = 0
  disconnected = 0

  readonly connect = async (): Promise<void> => { this.connected++ }
  readonly disconnect = async (): Promise<void> => { this.disconnected++ }
  readonly sendBatch = (args: { topicMessages: SendBatchCall['topicMessages']; acks?: number; compression?: CompressionTypes }): Promise<void> => {
    const result = deferred()
    // snapshot: a retry must carry the same records even if the caller reused the array
    const topicMessages = args.topicMessages.map(tm => ({ topic: tm.topic, messages: [...tm.messages] }))
    this.calls.push({ topicMessages, acks: args.acks, compression: args.compression, at: performance.now(), result })
    if (this.failNext > 0) {
      this.failNext--
      result.reject(new Error('broker not available'))
    } else if (this.mode === 'auto') {
      result.resolve()
    } else if (this.mode === 'reject') {
      result.reject(new Error('broker not available'))
    }
    return result.promise
  }

  /** Message values of call `i`, per topic, as strings. */
  values (i: number): Array<[string, string[]]> {
    const call = this.calls[i]
    assert.ok(call !== undefined, `no sendBatch call #${i}`)
    return call.topicMessages.map(tm => [tm.topic, tm.messages.map(m => String(m.value))])
  }
}

/** Promise state, observable without awaiting. */
interface Tracked {
  promise: Promise<void>
  state: 'pending' | 'resolved' | 'rejected'
  error: unknown
}

function track (promise: Promise<void>): Tracked {
  const t: Tracked = { promise, state: 'pending', error: undefined }
  promise.then(() => { t.state = 'resolved' }, (err: unknown) => { t.state = 'rejected'; t.error = err })
  return t
}

/** Lets pending promise callbacks and immediate-timers run. */
async function tick (n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise(resolve => setImmediate(resolve))
}

/** Moves the virtual clock on by `ms`, one millisecond at a time, letting promise callbacks run after each step. */
async function advance (ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    mock.timers.tick(1)
    await tick()
  }
  await tick()
}

/**
 * Waits for `predicate`, letting at most `maxMs` of virtual time pass (0: it must hold once the
 * promise callbacks already due have run, with the clock standing still).
 */
async function advanceUntil (what: string, predicate: () => boolean, maxMs = 0): Promise<void> {
  await tick()
  for (let waited = 0; !predicate(); waited++) {
    if (waited >= maxMs) assert.fail(`${what}: not within ${maxMs} ms of virtual time`)
    mock.timers.tick(1)
    await tick()
  }
}

const DEFAULTS: BatchingProducerOptions = {
  linger_ms: 5,
  batch_max_messages: 100,
  batch_max_bytes: 1_000_000,
  max_pending_bytes: 10_000_000,
  compression: 'none'
}

let open: BatchingProducer[] = []

/** A producer over a fake kafkajs; closed after the test. */
function setup (opts: Partial<BatchingProducerOptions> = {}): { bp: BatchingProducer; fake: FakeProducer; configs: ProducerConfig[] } {
  const fake = new FakeProducer()
  const configs: ProducerConfig[] = []
  const kafka = {
    producer: (config: ProducerConfig) => { configs.push(config); return fake }
  } as unknown as Kafka
  const bp = new BatchingProducer(kafka, { ...DEFAULTS, ...opts }, logger)
  open.push(bp)
  return { bp, fake, configs }
}

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] })
  // Node 20 mocks node:timers/promises on its module object only: the producer's retry backoff and
  // close()'s timeout import its setTimeout by name, so push the mock into the named exports too
  syncBuiltinESMExports()
  mock.method(performance, 'now', () => Date.now())
})

afterEach(async () => {
  // back to real time: a producer left waiting on a virtual timer is closed on real ones
  mock.timers.reset()
  syncBuiltinESMExports()
  mock.restoreAll()
  for (const bp of open) await bp.close(20)
  open = []
})

function rec (value: string, topic = 'data'): OutgoingRecord {
  return { topic, key: `k-${value}`, value: Buffer.from(value) }
}

describe('BatchingProducer', () => {
  it('creates an idempotent producer and connects/disconnects it', async () => {
    const { bp, fake, configs } = setup()
    assert.equal(configs.length, 1)
    assert.equal(configs[0]?.idempotent, true)
    assert.equal(configs[0]?.maxInFlightRequests, 1)
    assert.equal(configs[0]?.allowAutoTopicCreation, false)
    await bp.connect()
    assert.equal(fake.connected, 1)
    await bp.close(20)
    assert.equal(fake.disconnected, 1)
  })

  it('records wait linger_ms and go out in one batch', async () => {
    const { bp, fake } = setup({ linger_ms: 40 })
    const sent = [bp.send(rec('a')), bp.send(rec('b')), bp.send(rec('c'))].map(track)
    await advance(39)
    assert.equal(fake.calls.length, 0, 'sent before linger_ms')
    await advance(1)
    assert.equal(fake.calls.length, 1, 'not sent once linger_ms had passed')
    assert.deepEqual(fake.values(0), [['data', ['a', 'b', 'c']]])
    assert.equal(fake.calls[0]?.acks, -1)
    assert.equal(fake.calls[0]?.compression, CompressionTypes.None)
    await Promise.all(sent.map(t => t.promise))
    assert.deepEqual(bp.stats, { records: 3, batches: 1, retries: 0, refused: 0 })
  })

  it('sends the original record objects (key, value, headers untouched)', async () => {
    const { bp, fake } = setup({ linger_ms: 0 })
    const r: OutgoingRecord = { topic: 't', key: 'k', value: Buffer.from('v'), headers: { h: 'x' } }
    await bp.send(r)
    assert.equal(fake.calls[0]?.topicMessages[0]?.messages[0], r)
  })

  it('uses gzip when configured', async () => {
    const { bp, fake } = setup({ linger_ms: 0, compression: 'gzip' })
    await bp.send(rec('a'))
    assert.equal(fake.calls[0]?.compression, CompressionTypes.GZIP)
  })

  it('a full batch (batch_max_messages) goes at once, without waiting for linger', async () => {
    const { bp, fake } = setup({ linger_ms: 10_000, batch_max_messages: 3 })
    fake.mode = 'manual'
    const first = [bp.send(rec('a')), bp.send(rec('b'))].map(track)
    await tick()
    assert.equal(fake.calls.length, 0)
    first.push(track(bp.send(rec('c'))))
    await tick()
    assert.equal(fake.calls.length, 1)
    assert.deepEqual(fake.values(0), [['data', ['a', 'b', 'c']]])
    fake.calls[0]?.result.resolve()
    await tick()
    assert.deepEqual(first.map(t => t.state), ['resolved', 'resolved', 'resolved'])
  })

  it('a batch never exceeds batch_max_messages', async () => {
    const { bp, fake } = setup({ linger_ms: 10_000, batch_max_messages: 2 })
    fake.mode = 'manual'
    const sent = ['a', 'b', 'c', 'd', 'e'].map(v => track(bp.send(rec(v))))
    await tick()
    assert.deepEqual(fake.values(0), [['data', ['a', 'b']]])
    fake.calls[0]?.result.resolve()
    await advanceUntil('a full second batch right after the first is acknowledged', () => fake.calls.length === 2)
    assert.deepEqual(fake.values(1), [['data', ['c', 'd']]])
    fake.mode = 'auto'
    fake.calls[1]?.result.resolve()
    await advanceUntil('second batch acknowledged', () => sent[3]?.state === 'resolved')
    await advance(100)
    assert.equal(fake.calls.length, 2, 'a partial batch went out without waiting for linger')
    await bp.flush()
    assert.deepEqual(fake.values(2), [['data', ['e']]])
    assert.ok(sent.every(t => t.state === 'resolved'))
  })

  it('a batch reaching batch_max_bytes goes at once and is split at the byte bound', async () => {
    // each record is about 64 + 4 (topic) + 2 (key) + 200 (value) = 270 bytes
    const { bp, fake } = setup({ linger_ms: 10_000, batch_max_bytes: 300 })
    const big = (v: string): OutgoingRecord => ({ topic: 'data', key: v, value: Buffer.alloc(200, v) })
    fake.mode = 'manual'
    const sent = [bp.send(big('a')), bp.send(big('b'))].map(track)
    await tick()
    assert.equal(fake.calls.length, 1)
    assert.equal(fake.calls[0]?.topicMessages[0]?.messages.length, 1)
    assert.equal(fake.calls[0]?.topicMessages[0]?.messages[0]?.key, 'a')
    fake.mode = 'auto'
    fake.calls[0]?.result.resolve()
    await advanceUntil('first batch acknowledged', () => sent[0]?.state === 'resolved')
    await bp.flush()
    assert.equal(fake.calls.length, 2)
    assert.equal(fake.calls[1]?.topicMessages[0]?.messages[0]?.key, 'b')
    assert.ok(sent.every(t => t.state === 'resolved'))
  })

  it('only one sendBatch is in flight at a time', async () => {
    const { bp, fake } = setup({ linger_ms: 0, batch_max_messages: 1 })
    fake.mode = 'manual'
    const sent = ['a', 'b', 'c'].map(v => track(bp.send(rec(v))))
    await tick()
    assert.equal(fake.calls.length, 1)
    assert.deepEqual(fake.values(0), [['data', ['a']]])
    await advance(20)
    assert.equal(fake.calls.length, 1, 'second batch sent while the first was in flight')

    fake.calls[0]?.result.resolve()
    await advanceUntil('second batch', () => fake.calls.length === 2)
    assert.deepEqual(fake.values(1), [['data', ['b']]])
    assert.deepEqual(sent.map(t => t.state), ['resolved', 'pending', 'pending'])
    await advance(20)
    assert.equal(fake.calls.length, 2, 'third batch sent while the second was in flight')

    fake.calls[1]?.result.resolve()
    await advanceUntil('third batch', () => fake.calls.length === 3)
    assert.deepEqual(fake.values(2), [['data', ['c']]])
    assert.deepEqual(sent.map(t => t.state), ['resolved', 'resolved', 'pending'])
    fake.calls[2]?.result.resolve()
    await tick()
    assert.deepEqual(sent.map(t => t.state), ['resolved', 'resolved', 'resolved'])
  })

  it('groups a batch by Kafka topic, keeping order within each topic', async () => {
    const { bp, fake } = setup({ linger_ms: 10 })
    const all = Promise.all([
      bp.send(rec('1', 't1')),
      bp.send(rec('2', 't2')),
      bp.send(rec('3', 't1')),
      bp.send(rec('4', 't3')),
      bp.send(rec('5', 't2')),
      bp.send(rec('6', 't1'))
    ])
    await advance(10)
    await all
    assert.equal(fake.calls.length, 1)
    assert.deepEqual(fake.values(0), [['t1', ['1', '3', '6']], ['t2', ['2', '5']], ['t3', ['4']]])
  })

  it('a record Kafka refuses fails alone; the partitions written beside it are sent again whole (a duplicate to Kafka), never in halves', async () => {
    const { bp, fake, configs } = setup({ linger_ms: 5 })
    // Kafka's side, per partition: a partition batch with 'big' is refused (nothing of it written);
    // the same records as the partition's last written batch are its duplicate (acknowledged, not
    // written); records already written in another shape are out of sequence (refused, retried)
    const partitioner = configs[0]?.createPartitioner?.()
    assert.ok(partitioner !== undefined)
    const partitionMetadata = [0, 1, 2].map(partitionId => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }))
    const written: string[] = []
    const lastBatch = new Map<number, string>()
    const protocolError = (type: string, retriable: boolean): Error => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable })
    const partitionsSent: number[][] = []
    Object.assign(fake, {
      sendBatch: async (args: { topicMessages: Array<{ topic: string; messages: OutgoingRecord[] }> }): Promise<void> => {
        fake.calls.push({ topicMessages: args.topicMessages, acks: -1, compression: undefined, at: performance.now(), result: deferred() })
        const byPartition = new Map<number, string[]>()
        for (const { topic, messages } of args.topicMessages) {
          for (const message of messages) {
            const partition = partitioner({ topic, partitionMetadata, message: message as never })
            byPartition.set(partition, [...(byPartition.get(partition) ?? []), String(message.value)])
          }
        }
        partitionsSent.push([...byPartition.keys()])
        let error: Error | undefined
        for (const [partition, values] of byPartition) {
          if (values.includes('big')) { error = protocolError('MESSAGE_TOO_LARGE', false); continue }
          if (lastBatch.get(partition) === values.join()) continue
          if (values.some(v => written.includes(v))) { error ??= protocolError('OUT_OF_ORDER_SEQUENCE_NUMBER', true); continue }
          written.push(...values)
          lastBatch.set(partition, values.join())
        }
        if (error !== undefined) throw error
      }
    })
    const values = ['a', 'b', 'c', 'd', 'big', 'e', 'f', 'g', 'h']
    const sent = values.map(v => track(bp.send(rec(v))))
    await advanceUntil('every record settled', () => sent.every(t => t.state !== 'pending'), 100)
    assert.deepEqual(sent.map((t, i) => [values[i], t.state]), values.map(v => [v, v === 'big' ? 'rejected' : 'resolved']))
    assert.equal((sent[4]?.error as Error).name, 'KafkaRecordRefused')
    assert.deepEqual([...written].sort(), values.filter(v => v !== 'big').sort(), 'every other record written once')
    assert.ok(partitionsSent.length > 1 && partitionsSent.slice(1).every(p => p.length === 1), 'after the refusal, one partition per request')
    assert.deepEqual(bp.stats, { records: 8, batches: 1, retries: 0, refused: 1 })
    assert.equal(bp.pending, 0)
  })

  it('send() resolves only after its batch was acknowledged', async () => {
    const { bp, fake } = setup({ linger_ms: 1 })
    fake.mode = 'manual'
    const a = track(bp.send(rec('a')))
    await advanceUntil('the batch', () => fake.calls.length === 1, 1)
    await advance(20)
    assert.equal(a.state, 'pending')
    fake.calls[0]?.result.resolve()
    await tick()
    assert.equal(a.state, 'resolved')
  })

  it('retries a rejected batch with the same records, in order, without rejecting or dropping', async () => {
    const { bp, fake } = setup({ linger_ms: 5, batch_max_messages: 2 })
    fake.failNext = 2
    const sent = ['a', 'b', 'c'].map(v => track(bp.send(rec(v))))
    await tick()
    assert.equal(fake.calls.length, 1, 'the first attempt (a full batch) at once')
    assert.deepEqual(sent.map(t => t.state), ['pending', 'pending', 'pending'])
    // backoff is 250 ms, then 500 ms
    await advance(249)
    assert.equal(fake.calls.length, 1, 'retried before the 250 ms backoff')
    await advance(1)
    assert.equal(fake.calls.length, 2, 'not retried after the 250 ms backoff')
    await advance(499)
    assert.equal(fake.calls.length, 2, 'retried before the 500 ms backoff')
    await advance(1)
    // the third attempt succeeds, and c (whose linger_ms ran out long ago) follows at once
    assert.equal(fake.calls.length, 4, 'not retried after the 500 ms backoff')
    await advanceUntil('all records acknowledged', () => sent.every(t => t.state !== 'pending'))
    assert.deepEqual(sent.map(t => t.state), ['resolved', 'resolved', 'resolved'])
    assert.deepEqual(fake.calls.map((_, i) => fake.values(i)), [
      [['data', ['a', 'b']]],
      [['data', ['a', 'b']]],
      [['data', ['a', 'b']]],
      [['data', ['c']]]
    ])
    assert.deepEqual(bp.stats, { records: 3, batches: 2, retries: 2, refused: 0 })
    assert.equal(bp.pending, 0)
  })

  it('hasRoom() is false and waitForRoom() pends past max_pending_bytes, until acks free space', async () => {
    // each record is about 64 + 4 + 2 + 200 = 270 bytes
    const big = (v: string): OutgoingRecord => ({ topic: 'data', key: v, value: Buffer.alloc(200, v) })
    const { bp, fake } = setup({ linger_ms: 0, batch_max_messages: 1, max_pending_bytes: 500 })
    fake.mode = 'manual'
    assert.equal(bp.hasRoom(), true)
    await bp.waitForRoom()

    const a = track(bp.send(big('a')))
    assert.ok(bp.pending > 0)
    assert.equal(bp.hasRoom(), true)
    const b = track(bp.send(big('b')))
    assert.equal(bp.hasRoom(), false)
    const room = track(bp.waitForRoom())
    const room2 = track(bp.waitForRoom())
    await tick()
    assert.equal(room.state, 'pending')

    fake.calls[0]?.result.resolve()
    await tick()
    assert.equal(a.state, 'resolved')
    assert.equal(bp.hasRoom(), true)
    assert.equal(room.state, 'resolved')
    assert.equal(room2.state, 'resolved')

    await advanceUntil('second batch', () => fake.calls.length === 2)
    fake.calls[1]?.result.resolve()
    await tick()
    assert.equal(b.state, 'resolved')
    assert.equal(bp.pending, 0)
  })

  it('flush() sends a lingering batch at once and resolves when it is acknowledged', async () => {
    const { bp, fake } = setup({ linger_ms: 10_000 })
    await bp.flush() // nothing queued
    fake.mode = 'manual'
    const sent = ['a', 'b'].map(v => track(bp.send(rec(v))))
    await tick()
    assert.equal(fake.calls.length, 0)
    const flushed = track(bp.flush())
    await tick()
    assert.equal(fake.calls.length, 1, 'flush did not send the lingering batch')
    assert.deepEqual(fake.values(0), [['data', ['a', 'b']]])
    await advance(10)
    assert.equal(flushed.state, 'pending')
    fake.calls[0]?.result.resolve()
    await tick()
    assert.equal(flushed.state, 'resolved')
    assert.deepEqual(sent.map(t => t.state), ['resolved', 'resolved'])
  })

  it('flush() waits for the batch in flight and the records queued behind it', async () => {
    const { bp, fake } = setup({ linger_ms: 20, batch_max_messages: 2 })
    fake.mode = 'manual'
    const sent = ['a', 'b', 'c'].map(v => track(bp.send(rec(v))))
    await tick()
    assert.equal(fake.calls.length, 1)
    const flushed = track(bp.flush())
    fake.calls[0]?.result.resolve()
    await advanceUntil('second batch', () => fake.calls.length === 2, 20)
    assert.equal(flushed.state, 'pending')
    fake.calls[1]?.result.resolve()
    await advanceUntil('flush', () => flushed.state !== 'pending')
    assert.equal(flushed.state, 'resolved')
    assert.deepEqual(sent.map(t => t.state), ['resolved', 'resolved', 'resolved'])
  })

  it('flush() during a batch in flight does not make the records behind it wait linger_ms again', async () => {
    const { bp, fake } = setup({ linger_ms: 10_000, batch_max_messages: 2 })
    fake.mode = 'manual'
    const sent = ['a', 'b', 'c'].map(v => track(bp.send(rec(v))))
    await tick()
    assert.equal(fake.calls.length, 1) // a, b: a full batch
    const flushed = track(bp.flush())
    fake.mode = 'auto'
    fake.calls[0]?.result.resolve()
    // c goes out right away since a flush is waiting, not behind a 10 s linger timer: the clock stands still
    await advanceUntil('c to be sent for the pending flush', () => fake.calls.length === 2)
    await advanceUntil('flush', () => flushed.state === 'resolved')
    assert.equal(sent[2]?.state, 'resolved')
  })

  it('records queued behind a batch in flight go out as soon as it is acknowledged, not linger_ms later', async () => {
    const { bp, fake } = setup({ linger_ms: 100 })
    fake.mode = 'manual'
    const sent = [track(bp.send(rec('a')))]
    await advance(100)
    assert.equal(fake.calls.length, 1, 'first batch after linger_ms')
    sent.push(track(bp.send(rec('b'))), track(bp.send(rec('c'))))
    await advance(120) // b and c have lingered long enough while a was in flight
    assert.equal(fake.calls.length, 1)
    const ackedAt = performance.now()
    fake.calls[0]?.result.resolve()
    // the clock stands still: the second batch goes out in the same instant as the ack
    await advanceUntil('second batch right after the ack (it lingered again)', () => fake.calls.length === 2)
    assert.equal(fake.calls[1]?.at, ackedAt)
    assert.deepEqual(fake.values(1), [['data', ['b', 'c']]])
    fake.calls[1]?.result.resolve()
    await Promise.all(sent.map(t => t.promise))
  })

  it('linger_ms counts from the oldest queued record, also behind a batch in flight', async () => {
    const { bp, fake } = setup({ linger_ms: 150 })
    fake.mode = 'manual'
    void bp.send(rec('a')).catch(() => undefined)
    await advance(150)
    assert.equal(fake.calls.length, 1, 'first batch after linger_ms')
    const queuedAt = performance.now()
    const b = track(bp.send(rec('b')))
    await advance(30)
    fake.calls[0]?.result.resolve()
    await tick()
    assert.equal(fake.calls.length, 1, 'b sent at the ack, 30 ms after it was queued: before linger_ms')
    await advance(119)
    assert.equal(fake.calls.length, 1, 'b sent before linger_ms')
    await advance(1)
    assert.equal(fake.calls.length, 2, 'b not sent linger_ms after it was queued: linger restarted at the ack')
    assert.equal((fake.calls[1]?.at ?? 0) - queuedAt, 150)
    fake.calls[1]?.result.resolve()
    await b.promise
  })

  it('keeps order and fails nothing when a batch with records queued behind it is retried', async () => {
    const { bp, fake } = setup({ linger_ms: 0, batch_max_messages: 2 })
    fake.mode = 'manual'
    const sent = ['a', 'b', 'c', 'd', 'e'].map(v => track(bp.send(rec(v))))
    await advanceUntil('first batch', () => fake.calls.length === 1)
    fake.calls[0]?.result.reject(new Error('broker not available'))
    // retried after the backoff with the same records, before anything queued behind it
    await advanceUntil('retry', () => fake.calls.length === 2, 250)
    assert.deepEqual(fake.values(1), fake.values(0))
    fake.mode = 'auto'
    fake.calls[1]?.result.resolve()
    await advanceUntil('every record acknowledged', () => sent.every(t => t.state !== 'pending'))
    // linger 0: a went out alone; everything queued behind it follows in order, two at a time
    assert.deepEqual(fake.calls.map((_c, i) => fake.values(i)[0]?.[1]), [['a'], ['a'], ['b', 'c'], ['d', 'e']])
    assert.deepEqual(sent.map(t => t.state), ['resolved', 'resolved', 'resolved', 'resolved', 'resolved'])
  })

  it('close(timeout) flushes and disconnects when Kafka acknowledges', async () => {
    const { bp, fake } = setup({ linger_ms: 10_000 })
    const sent = [bp.send(rec('a')), bp.send(rec('b'))].map(track)
    await bp.close(1000)
    assert.deepEqual(sent.map(t => t.state), ['resolved', 'resolved'])
    assert.equal(fake.disconnected, 1)
  })

  it('close(timeout) rejects queued records with ProducerClosedError when sendBatch never resolves', async () => {
    const { bp, fake } = setup({ linger_ms: 0, batch_max_messages: 1, max_pending_bytes: 1 })
    fake.mode = 'manual'
    const a = track(bp.send(rec('a')))
    const b = track(bp.send(rec('b')))
    const c = track(bp.send(rec('c')))
    const room = track(bp.waitForRoom())
    await tick()
    assert.equal(fake.calls.length, 1)

    const closing = track(bp.close(50))
    await advance(49)
    assert.equal(closing.state, 'pending', 'close returned before its timeout')
    await advance(1)
    assert.equal(closing.state, 'resolved', 'close did not return at its timeout')
    assert.equal(fake.disconnected, 1)
    for (const t of [b, c]) {
      assert.equal(t.state, 'rejected')
      assert.ok(t.error instanceof ProducerClosedError)
    }
    assert.equal(room.state, 'resolved', 'waitForRoom() callers must be released on close')
    assert.notEqual(a.state, 'resolved', 'a record Kafka never acknowledged must not resolve')

    // after close
    await assert.rejects(bp.send(rec('d')), ProducerClosedError)
    await bp.waitForRoom()
  })

  it('close(timeout) also rejects the records of the batch still in flight', async () => {
    const { bp, fake } = setup({ linger_ms: 0 })
    fake.mode = 'manual'
    const a = track(bp.send(rec('a')))
    await tick()
    assert.equal(fake.calls.length, 1)
    const closing = bp.close(20)
    await advance(20)
    await closing
    // the promise handed out by send() stays pending forever: the caller can neither PUBACK nor clean up
    assert.equal(a.state, 'rejected')
    assert.ok(a.error instanceof ProducerClosedError)
  })

  it('a batch failing across close() is not reported as acknowledged', async () => {
    const { bp, fake } = setup({ linger_ms: 0 })
    fake.mode = 'reject' // Kafka is away for good
    const a = track(bp.send(rec('a')))
    await advanceUntil('the first attempt', () => fake.calls.length === 1)
    const closing = bp.close(20)
    await advance(20)
    await closing
    // the retry after the 250 ms backoff fails too; the record was never acknowledged
    await advanceUntil('the retry', () => fake.calls.length === 2, 250)
    await tick()
    assert.notEqual(a.state, 'resolved', 'send() resolved although sendBatch never succeeded')
    assert.equal(a.state, 'rejected')
    assert.ok(a.error instanceof ProducerClosedError)
  })
})
