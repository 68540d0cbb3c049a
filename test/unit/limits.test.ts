import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { publishBreach, subscribeBreach, topicLevels, type ClientRules } from '../../src/limits/client-rules.js'
import { InboundLimiter } from '../../src/limits/inbound-limiter.js'
import { LimitEvents } from '../../src/limits/limit-events.js'
import { OverloadState, parseWatermark, resolveBand, type LoadSample } from '../../src/limits/overload-monitor.js'
import { parseByteSize, parseRate } from '../../src/limits/rate.js'
import { BATCH_OVERHEAD, fitProblem, publishRecordBytes, retainedRecordBytes, willRecordBytes, type FitLimits } from '../../src/limits/record-fit.js'
import { TokenBucket } from '../../src/limits/token-bucket.js'
import { produceRefusal } from '../../src/kafka/produce-errors.js'
import { rawCodec } from '../../src/mapping/raw-codec.js'
import { jsonCodec } from '../../src/mapping/json-codec.js'
import { avroCodec } from '../../src/mapping/avro-codec.js'
import { RetainedView } from '../../src/retained/retained-view.js'
import { encodeSessionRecord, type WillRecord } from '../../src/session/session-record.js'

describe('rates and sizes', () => {
  it('reads EMQX\'s rates', () => {
    assert.equal(parseRate('1000/s', false)?.perSecond, 1000)
    assert.equal(parseRate('100/10s', false)?.perSecond, 10)
    assert.equal(parseRate('6000/m', false)?.perSecond, 100)
    assert.equal(parseRate('3600/h', false)?.perSecond, 1)
    assert.equal(parseRate('250', false)?.perSecond, 250)
    assert.equal(parseRate(40, false)?.perSecond, 40)
    assert.equal(parseRate('1MB/s', true)?.perSecond, 1048576)
    assert.equal(parseRate('512KB/2s', true)?.perSecond, 262144)
    assert.equal(parseRate('infinity', true), undefined)
    for (const bad of ['', '0/s', '1MB/s', 'x/s', '10/y', '-1/s']) assert.throws(() => parseRate(bad, false), RangeError, bad)
    assert.throws(() => parseRate('10/fortnight', true), RangeError)
  })

  it('reads byte sizes, 1024-based', () => {
    assert.equal(parseByteSize('1MB'), 1048576)
    assert.equal(parseByteSize('256kb'), 262144)
    assert.equal(parseByteSize('1.5KB'), 1536)
    assert.equal(parseByteSize(70), 70)
    assert.equal(parseByteSize('2 GB'), 2147483648)
    assert.equal(parseByteSize('1TB'), undefined)
    assert.equal(parseByteSize(-1), undefined)
  })

  it('reads watermarks', () => {
    assert.deepEqual(parseWatermark('85%'), { percent: 85 })
    assert.deepEqual(parseWatermark('2GB'), { bytes: 2147483648 })
    assert.equal(parseWatermark('off'), undefined)
    assert.equal(parseWatermark('150%'), null)
    assert.deepEqual(resolveBand('90%', '50%', 1000), { high: 900, low: 500 })
    assert.deepEqual(resolveBand('1MB', '2MB', 0), { high: 1048576, low: 1048576 }, 'a low above the high is the high')
    assert.equal(resolveBand('off', '50%', 1000), undefined)
  })
})

describe('TokenBucket', () => {
  it('answers how long to wait once in debt, and refills at its rate up to its burst', () => {
    const b = new TokenBucket(10, 2, 0)
    assert.equal(b.take(1, 0), 0)
    assert.equal(b.take(1, 0), 0)
    assert.equal(b.take(1, 0), 100, 'one token of debt at 10/s: 100 ms')
    assert.equal(b.take(1, 0), 200)
    assert.equal(b.waitFor(1, 200), 100, 'at 200 ms out of debt, a token 100 ms later')
    assert.equal(b.take(1, 10_000), 0, 'refilled, but only up to the burst')
    assert.equal(b.take(2, 10_000), 100)
  })

  it('holds a client that sends as fast as it can at its rate', () => {
    // a client whose packets are read whenever it is not paused: at 50 msg/s over 10 s it gets ~500 + burst
    const limiter = new InboundLimiter({ messages: 50 }, 0)
    let now = 0
    let sent = 0
    while (now < 10_000) {
      sent++
      const pause = limiter.onPacket(true, 100, now)
      now += Math.max(pause, 1)
    }
    assert.ok(sent >= 500 && sent <= 510, `sent ${sent}`)
  })

  it('counts every packet\'s bytes against bytes_rate and only PUBLISHes against messages_rate', () => {
    const limiter = new InboundLimiter({ messages: 1, bytes: 1000 }, 0)
    assert.equal(limiter.onPacket(false, 100, 0), 0, 'a PINGREQ-sized packet within the byte burst')
    assert.equal(limiter.onPacket(true, 0, 0), 0, 'the one-message burst')
    assert.equal(limiter.onPacket(true, 0, 0), 1000, 'the second PUBLISH within a second waits a second')
    assert.equal(limiter.onPacket(false, 1000, 0), 1000, 'bytes beyond the burst wait their time')
    assert.equal(InboundLimiter.needed({}), false)
  })
})

describe('LimitEvents', () => {
  function capture (): { lines: Array<Record<string, unknown>>; events: (now: () => number) => LimitEvents } {
    const lines: Array<Record<string, unknown>> = []
    const sink = new Writable({ write (chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb() } })
    const logger = pino({ level: 'info' }, sink)
    return { lines, events: (now) => new LimitEvents(logger, { now, linesPerReason: 3 }) }
  }

  it('counts every event; logs once a minute per reason and client, and at most N lines per reason', async () => {
    const { lines, events: make } = capture()
    let t = 0
    const events = make(() => t)
    for (let i = 0; i < 5; i++) events.record('rate_limited', { clientId: 'a' })
    events.record('rate_limited', { clientId: 'b' })
    events.record('packet_too_large', { peer: '10.0.0.1' })
    events.record('rate_limited', { clientId: 'c' })
    events.record('rate_limited', { clientId: 'd' }) // over 3 lines a minute for this reason
    t = 60_000
    events.record('rate_limited', { clientId: 'a' })
    events.count('kafka_rejected', 4)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(events.countOf('rate_limited'), 9)
    assert.equal(events.countOf('kafka_rejected'), 4)
    assert.deepEqual(lines.map(l => [l.reason, l.clientId ?? l.peer]), [
      ['rate_limited', 'a'], ['rate_limited', 'b'], ['packet_too_large', '10.0.0.1'], ['rate_limited', 'c'], ['rate_limited', 'a']
    ])
    assert.equal(lines[4]?.suppressed, 1, 'the next line says how many were not logged')
    assert.equal(lines[0]?.msg, 'limit reached')
    assert.deepEqual([...events.byReason()].map(([l, n]) => [l.reason, n]), [['rate_limited', 9], ['packet_too_large', 1], ['kafka_rejected', 4]])
  })
})

describe('OverloadState', () => {
  const sample = (s: Partial<LoadSample>): LoadSample => ({ heapUsed: 0, rss: 0, kafkaPending: 0, kafkaAckStalledMs: 0, ...s })

  it('enters at the high watermark, leaves below the low one (hysteresis)', () => {
    const state = new OverloadState({ rss: { high: 100, low: 50 }, kafkaPending: { high: 10, low: 5 } })
    assert.equal(state.update(sample({ rss: 99 }), 1), false)
    assert.equal(state.update(sample({ rss: 100 }), 2), true)
    assert.deepEqual(state.reasons, ['rss'])
    assert.equal(state.since, 2)
    assert.equal(state.update(sample({ rss: 60 }), 3), false, 'between the watermarks: still overloaded')
    assert.equal(state.update(sample({ rss: 60, kafkaPending: 10 }), 4), true, 'a second reason')
    assert.deepEqual(state.reasons, ['rss', 'kafka_pending'])
    assert.equal(state.since, 2)
    state.update(sample({ rss: 49, kafkaPending: 6 }), 5)
    assert.deepEqual(state.reasons, ['kafka_pending'])
    assert.equal(state.update(sample({ kafkaPending: 4 }), 6), true)
    assert.equal(state.overloaded, false)
    assert.equal(state.since, 0)
  })

  it('a Kafka acknowledgement stall lasts until the next acknowledgement', () => {
    const state = new OverloadState({ kafkaAckTimeoutMs: 1000 })
    state.update(sample({ kafkaAckStalledMs: 999 }), 1)
    assert.equal(state.overloaded, false)
    state.update(sample({ kafkaAckStalledMs: 1000 }), 2)
    assert.deepEqual(state.reasons, ['kafka_ack_stalled'])
    state.update(sample({ kafkaAckStalledMs: 10 }), 3)
    assert.equal(state.overloaded, true, 'still waiting, though less long: not an acknowledgement')
    state.update(sample({ kafkaAckStalledMs: 0 }), 4)
    assert.equal(state.overloaded, false)
  })
})

describe('client rules', () => {
  const rules: ClientRules = { maxTopicLevels: 3, maxQosAllowed: 1, maxSubscriptions: 2 }

  it('topic levels, QoS and subscription count', () => {
    assert.equal(topicLevels('a'), 1)
    assert.equal(topicLevels('a/b/'), 3)
    assert.equal(topicLevels('/'), 2)
    assert.equal(publishBreach('a/b/c', 1, rules), undefined)
    assert.equal(publishBreach('a/b/c/d', 0, rules), 'topic_levels')
    assert.equal(publishBreach('a', 2, rules), 'qos_not_allowed')
    assert.equal(subscribeBreach('a/+/#/x', new Set(), rules), 'topic_levels')
    assert.equal(subscribeBreach('x', new Set(['a', 'b']), rules), 'max_subscriptions')
    assert.equal(subscribeBreach('a', new Set(['a', 'b']), rules), undefined, 'a filter held may be subscribed again')
  })
})

describe('record fit', () => {
  const limits: FitLimits = { maxPacketSize: 4096, maxClientIdLen: 23, maxUsernameLen: 20, node: 'edge-1' }
  const message = (T: number, P: number, payload = 0x61): Parameters<typeof rawCodec.encode>[0] => ({
    topic: 't'.repeat(T), payload: Buffer.alloc(P, payload), qos: 2, retain: true, clientId: 'c'.repeat(23), username: 'u'.repeat(20), node: 'edge-1'
  })
  /** the size Kafka counts: a one-record batch as kafkajs encodes it */
  async function batchBytes (record: { key: string | Buffer | null; value: Buffer | null; headers?: Record<string, unknown> }): Promise<number> {
    const { default: { RecordBatch } } = await import('kafkajs/src/protocol/recordBatch/v0/index.js' as string) as { default: { RecordBatch: (o: unknown) => Promise<{ buffer: Buffer }> } }
    const { default: Record } = await import('kafkajs/src/protocol/recordBatch/record/v0/index.js' as string) as { default: (o: unknown) => { buffer: Buffer } }
    const batch = await RecordBatch({ records: [Record({ key: record.key, value: record.value, headers: record.headers ?? {}, timestampDelta: 0, offsetDelta: 0 })] })
    return batch.buffer.length
  }

  it('bounds raw, json and avro records of the largest PUBLISH, for short and long topics', async () => {
    const room = limits.maxPacketSize - 2
    for (const [codec, shape] of [[rawCodec, { format: 'raw' as const }], [jsonCodec, { format: 'json' as const }], [avroCodec, { format: 'avro' as const }]] as const) {
      const bound = publishRecordBytes({ ...shape, key: [{ kind: 'var', name: 'topic' }] }, limits)
      for (const T of [1, 100, room - 1]) {
        for (const payload of [0x61, 0xff]) {
          const rec = codec.encode(message(T, room - T, payload), { topic: 'k', key: 't'.repeat(T) })
          const size = await batchBytes(rec)
          assert.ok(size <= bound, `${shape.format} T=${T}: ${size} > ${bound}`)
        }
      }
    }
  })

  it('bounds retained and will records', async () => {
    const retained = RetainedView.record('r', message(100, limits.maxPacketSize - 102))
    assert.ok(await batchBytes(retained) <= retainedRecordBytes(limits))
    const room = limits.maxPacketSize - 16
    for (const T of [1, room - 1]) {
      const will: WillRecord = { v: 1, clientId: 'c'.repeat(23), owner: { node: 'edge-1', inc: crypto.randomUUID(), conn: crypto.randomUUID() }, at: Date.now(), will: { topic: 't'.repeat(T), payload: Buffer.alloc(room - T).toString('base64'), qos: 2, retain: true } }
      const size = await batchBytes({ key: `${'c'.repeat(23)}#will`, value: encodeSessionRecord(will) })
      assert.ok(size <= willRecordBytes(limits), `will T=${T}: ${size} > ${willRecordBytes(limits)}`)
    }
  })

  it('names the key to change when a topic is too small', () => {
    const needs = [{ topic: 'a', recordBytes: 2000, what: 'a PUBLISH', batchBytes: 1000 + BATCH_OVERHEAD }]
    assert.equal(fitProblem(needs, () => 5000), undefined)
    assert.deepEqual(fitProblem(needs, () => 1500), { key: 'mqtt.max_packet_size', topic: 'a', needed: 2000, maxMessageBytes: 1500 })
    assert.equal(fitProblem([{ ...needs[0]!, recordBytes: 10 }], () => 1050)?.key, 'kafka.producer.batch_max_bytes')
    assert.equal(fitProblem(needs, () => undefined), undefined, 'a topic whose limit is unknown is not judged')
  })
})

describe('produce refusals', () => {
  it('finds Kafka\'s error type through kafkajs\' wrappers', () => {
    const protocol = Object.assign(new Error('too large'), { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE', retriable: false })
    assert.deepEqual(produceRefusal(protocol), { type: 'MESSAGE_TOO_LARGE', scope: 'record' })
    const wrapped = Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: Object.assign(new Error('corrupt'), { type: 'CORRUPT_MESSAGE' }) })
    assert.deepEqual(produceRefusal(wrapped), { type: 'CORRUPT_MESSAGE', scope: 'record' })
    assert.deepEqual(produceRefusal({ originalError: { type: 'TOPIC_AUTHORIZATION_FAILED' } }), { type: 'TOPIC_AUTHORIZATION_FAILED', scope: 'topic' })
    assert.equal(produceRefusal(Object.assign(new Error('x'), { type: 'NOT_ENOUGH_REPLICAS' })), undefined, 'retriable: retried')
    assert.equal(produceRefusal(new Error('broker not available')), undefined)
  })
})
