import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { splitTpKey } from '../../src/kafka/topic-partition.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { PersistentSession } from '../../src/session/persistent-session.js'
import { replay, type ReplayItem, type ReplayOutcome } from '../../src/session/replay.js'
import { FakeLog, FakeReader, headerDecoder, OWNER, storedSession, tp, unackedAt } from '../support/fake-log.js'
import type { Qos } from '../../src/protocol/message.js'

/*
 * replay() against a fake of the Kafka side (test/support/fake-log.ts): a log of records per
 * partition (records below a partition's low watermark are gone, as after retention), a range reader
 * over it that hands each partition's records in offset order, in small batches, and waits for each
 * batch to be taken, and a decoder that reads the MQTT topic from the key and the QoS from a header.
 * The session is a real PersistentSession, built from a stored session record as a resume builds it.
 */

/** A stored session of client "dev-1". */
const stored = (subs: Array<[string, Qos]>, cursors: Record<number, number>, unacked: Parameters<typeof storedSession>[3] = []): PersistentSession => storedSession('dev-1', subs, cursors, unacked)

interface Run {
  outcome: ReplayOutcome
  items: ReplayItem[]
  reader: FakeReader
  metrics: ReturnType<typeof createMetrics>
  warnings: string[]
}

/** replay() of `session` up to `target` (partition -> delivered position) over `log`. */
async function run (session: PersistentSession, log: FakeLog, target: Record<number, number>, opts: { maxOfflineMessages?: number; deliver?: (item: ReplayItem) => boolean; reader?: FakeReader } = {}): Promise<Run> {
  const items: ReplayItem[] = []
  const reader = opts.reader ?? new FakeReader(log)
  const metrics = createMetrics('test')
  const warnings: string[] = []
  const logger = pino({ level: 'warn' }, { write: (line: string) => { warnings.push((JSON.parse(line) as { msg: string }).msg) } })
  const outcome = await replay(session, item => {
    const taken = opts.deliver?.(item) ?? true
    if (taken) items.push(item)
    return taken
  }, {
    deliveredPositions: () => new Map(Object.entries(target).map(([p, o]) => [tp(Number(p)), BigInt(o)])),
    dataWatermarks: async () => log.watermarks(),
    reader: reader.asRangeReader,
    decoder: headerDecoder,
    maxOfflineMessages: opts.maxOfflineMessages ?? 0,
    metrics,
    logger
  })
  return { outcome, items, reader, metrics, warnings }
}

/** Items as "partition@offset qos [dup #id]" for compact comparisons. */
function described (items: ReplayItem[]): string[] {
  return items.map(i => `${splitTpKey(i.pos.tp).partition}@${i.pos.offset} q${i.qos}${i.dup ? ' dup' : ''}${i.messageId === undefined ? '' : ` #${i.messageId}`}`)
}

async function counter (c: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await c.get()).values[0]?.value ?? 0
}

describe('session replay (replay())', () => {
  it('reads each partition from the session\'s cursor up to the delivered positions; a partition without a cursor starts at the live head', async () => {
    const log = new FakeLog().partition(0).partition(1).partition(2)
      .fill(0, 10, 'a/x', 1).fill(1, 5, 'a/x', 1).fill(2, 7, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 6, 1: 5 })
    const { outcome, items, reader, metrics } = await run(session, log, { 0: 10, 1: 5, 2: 7 })
    assert.deepEqual(reader.requests, [new Map([[tp(0), { from: 6n, to: 10n }]])], 'one range: partition 0 from its cursor; 1 is up to date; 2 starts at the head')
    assert.deepEqual(described(items), ['0@6 q1', '0@7 q1', '0@8 q1', '0@9 q1'])
    assert.deepEqual(items.map(i => i.message.payload.toString()), ['0@6', '0@7', '0@8', '0@9'])
    assert.deepEqual(outcome, { replayed: 4, gap: 0n, complete: true })
    assert.equal(session.cursors.get(tp(2)), 7n, 'the new partition\'s cursor is the delivered position')
    assert.equal(await counter(metrics.replayedRecords), 4)
  })

  it('a session with no cursors at all replays nothing', async () => {
    const log = new FakeLog().partition(0).fill(0, 5, 'a/x', 1)
    const session = new PersistentSession('dev-2', OWNER, 0)
    session.addSub('a/#', 1)
    const { outcome, items, reader } = await run(session, log, { 0: 5 })
    assert.deepEqual(reader.requests, [new Map()])
    assert.deepEqual(items, [])
    assert.deepEqual(outcome, { replayed: 0, gap: 0n, complete: true })
  })

  it('starts at the oldest unacknowledged delivery, resends it with DUP, its packet id and its QoS; a QoS 2 delivery waiting for PUBCOMP is not resent', async () => {
    const log = new FakeLog().partition(0).fill(0, 12, 'a/x', 2)
    const session = stored([['a/#', 2]], { 0: 10 }, [
      unackedAt(0, 4, 7, 1),
      unackedAt(0, 6, 8, 2, true), // PUBREC came: the PUBREL is resent by aedes' outgoing stream, not the PUBLISH
      unackedAt(0, 8, 9, 2)
    ])
    const { outcome, items, reader } = await run(session, log, { 0: 12 })
    assert.deepEqual(reader.requests, [new Map([[tp(0), { from: 4n, to: 12n }]])])
    assert.deepEqual(described(items), ['0@4 q1 dup #7', '0@8 q2 dup #9', '0@10 q2', '0@11 q2'], 'the records between the resends were served already')
    assert.deepEqual(outcome, { replayed: 4, gap: 0n, complete: true })
  })

  it('an unacknowledged delivery in a partition whose cursor is up to date is resent too', async () => {
    const log = new FakeLog().partition(0).partition(1).fill(0, 3, 'a/x', 1).fill(1, 3, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 3, 1: 3 }, [unackedAt(1, 1, 42, 1)])
    const { items, reader } = await run(session, log, { 0: 3, 1: 3 })
    assert.deepEqual(reader.requests, [new Map([[tp(1), { from: 1n, to: 3n }]])])
    assert.deepEqual(described(items), ['1@1 q1 dup #42'])
  })

  it('a cursor below the low watermark resumes at the earliest record still in Kafka and counts the gap; unacknowledged deliveries that left Kafka are forgotten', async () => {
    const log = new FakeLog().partition(0, 5).fill(0, 3, 'a/x', 1) // offsets 5, 6, 7
    const session = stored([['a/#', 1]], { 0: 2 }, [unackedAt(0, 1, 3, 1)])
    const { outcome, items, reader, metrics, warnings } = await run(session, log, { 0: 8 })
    assert.deepEqual(reader.requests, [new Map([[tp(0), { from: 5n, to: 8n }]])])
    assert.deepEqual(described(items), ['0@5 q1', '0@6 q1', '0@7 q1'])
    // offsets 1 (the unacknowledged delivery), 2, 3 and 4 (never served) are gone
    assert.equal(outcome.gap, 4n)
    assert.equal(await counter(metrics.resumeGapRecords), 4)
    assert.equal(session.unacked.has(3), false, 'the unacknowledged delivery whose record is gone is dropped')
    assert.deepEqual(session.toRecord(true, 0).unacked, [])
    assert.deepEqual(warnings, ['session resumes after a gap: records it had not been served have left Kafka (retention)'])
  })

  it('no gap when the cursor is at the low watermark exactly', async () => {
    const log = new FakeLog().partition(0, 5).fill(0, 3, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 5 })
    const { outcome, warnings, metrics } = await run(session, log, { 0: 8 })
    assert.deepEqual(outcome, { replayed: 3, gap: 0n, complete: true })
    assert.equal(await counter(metrics.resumeGapRecords), 0)
    assert.deepEqual(warnings, [])
  })

  // the range of a replay starts at the lowest unacknowledged delivery, below the cursor: records
  // between that delivery and the cursor were served already and are not missing
  it('counts as gap only records the session still needed, not those between an old unacknowledged delivery and its cursor', async () => {
    const log = new FakeLog().partition(0, 5).fill(0, 7, 'a/x', 1) // offsets 5..11
    const session = stored([['a/#', 1]], { 0: 10 }, [unackedAt(0, 3, 9, 1)])
    const { outcome, items } = await run(session, log, { 0: 12 })
    assert.deepEqual(described(items), ['0@10 q1', '0@11 q1'])
    assert.equal(outcome.gap, 1n, 'only offset 3 (the unacknowledged delivery) is missing: 4..9 were served')
  })

  it('past mqtt.max_offline_messages new messages the rest of the backlog is skipped; resends still go out', async () => {
    const log = new FakeLog().partition(0).partition(1).fill(0, 10, 'a/x', 1).fill(1, 8, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 0, 1: 5 }, [unackedAt(1, 2, 11, 1)])
    const { outcome, items, metrics, warnings } = await run(session, log, { 0: 10, 1: 8 }, { maxOfflineMessages: 3 })
    assert.deepEqual(described(items), ['0@0 q1', '0@1 q1', '0@2 q1', '1@2 q1 dup #11'])
    assert.deepEqual(outcome, { replayed: 4, gap: 0n, complete: true })
    assert.equal(session.replayedNew, 3)
    assert.equal(session.cursors.get(tp(0)), 10n, 'the skipped backlog is behind the cursor')
    assert.equal(session.cursors.get(tp(1)), 8n)
    assert.equal(await counter(metrics.offlineLimitHits), 1)
    assert.equal(await counter(metrics.replayedRecords), 4)
    assert.deepEqual(warnings, ['offline message limit reached: the rest of the backlog is skipped (newer messages are dropped, as when a queue is full)'])
  })

  it('a backlog of exactly max_offline_messages is delivered whole and not reported as limited', async () => {
    const log = new FakeLog().partition(0).fill(0, 3, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 0 })
    const { items, metrics, warnings } = await run(session, log, { 0: 3 }, { maxOfflineMessages: 3 })
    assert.equal(items.length, 3)
    assert.equal(await counter(metrics.offlineLimitHits), 0)
    assert.deepEqual(warnings, [])
  })

  it('QoS 0 records are not replayed; the QoS is the lower of the record\'s and the best matching subscription\'s; other records are skipped', async () => {
    const log = new FakeLog().partition(0)
    log.append(0, 'a/1', 0) // 0: QoS 0, not queued for an offline session
    log.append(0, 'a/2', 2) // 1: delivered at 1 (subscription QoS)
    log.append(0, 'c/1', 1) // 2: matches nothing
    log.append(0, 'a/3', undefined) // 3: not decodable
    log.append(0, 'b/x', 2) // 4: b/+ at 2 beats a nothing; delivered at 2
    log.append(0, 'b/x', 1) // 5: delivered at 1 (record QoS)
    log.append(0, 'z/1', 1) // 6: subscribed at QoS 0: not queued
    log.append(0, 'a/4', 1) // 7
    const session = stored([['a/#', 1], ['b/+', 2], ['z/#', 0]], { 0: 0 })
    const { items, outcome } = await run(session, log, { 0: 8 })
    assert.deepEqual(described(items), ['0@1 q1', '0@4 q2', '0@5 q1', '0@7 q1'])
    assert.deepEqual(items.map(i => i.message.topic), ['a/2', 'b/x', 'b/x', 'a/4'])
    assert.equal(outcome.replayed, 4)
  })

  it('does not read past the delivered positions (records above them are the live path\'s)', async () => {
    const log = new FakeLog().partition(0).fill(0, 10, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 2 })
    const { items } = await run(session, log, { 0: 6 })
    assert.deepEqual(described(items), ['0@2 q1', '0@3 q1', '0@4 q1', '0@5 q1'])
  })

  it('a round stops at the first record the client has no room for; what it did not deliver is owed, and the next round goes on from there', async () => {
    const log = new FakeLog().partition(0).partition(1).fill(0, 6, 'a/x', 1).fill(1, 3, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 0, 1: 0 })
    let room = 3
    const first = await run(session, log, { 0: 6, 1: 3 }, { deliver: () => room-- > 0 })
    assert.equal(first.outcome.complete, false)
    assert.equal(first.outcome.replayed, 3)
    // the session admits what reaches the client (edge/delivery.ts); here: the three taken
    for (const item of first.items) session.admit(item.pos, item.qos, 0)
    assert.equal(session.owes(), true, 'the rest of the round is owed')
    // the next round's target: the positions of now, and at least what the first one had
    const second = await run(session, log, { 0: 5, 1: 2 })
    assert.equal(second.outcome.complete, true)
    const all = [...first.items, ...second.items].map(i => `${splitTpKey(i.pos.tp).partition}@${i.pos.offset}`).sort()
    assert.deepEqual(all, ['0@0', '0@1', '0@2', '0@3', '0@4', '0@5', '1@0', '1@1', '1@2'], 'every record once, up to the first round\'s target although the positions given are lower')
    assert.equal(session.owes(), false)
  })

  it('a resend that did not go out because the round stopped is resent by the next round', async () => {
    const log = new FakeLog().partition(0).fill(0, 6, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 5 }, [unackedAt(0, 1, 21, 1), unackedAt(0, 3, 23, 1)])
    let room = 1
    const first = await run(session, log, { 0: 6 }, { deliver: () => room-- > 0 })
    assert.deepEqual(described(first.items), ['0@1 q1 dup #21'])
    const second = await run(session, log, { 0: 6 })
    assert.deepEqual(described(second.items), ['0@3 q1 dup #23', '0@5 q1'], 'the second resend, then the new record; the first resend not again')
  })

  it('live records the session let go (owed) raise the target above the delivered positions', async () => {
    const log = new FakeLog().partition(0).fill(0, 8, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 2 })
    session.owe({ tp: tp(0), offset: 6n })
    const { items, outcome } = await run(session, log, { 0: 4 })
    assert.deepEqual(described(items), ['0@2 q1', '0@3 q1', '0@4 q1', '0@5 q1', '0@6 q1'])
    assert.equal(outcome.complete, true)
  })

  it('a client that is gone stops the round (nothing more is read for it)', async () => {
    const log = new FakeLog().partition(0).fill(0, 4, 'a/x', 1)
    const session = stored([['a/#', 1]], { 0: 0 })
    const reader = new FakeReader(log, 1)
    const { outcome } = await run(session, log, { 0: 4 }, { reader, deliver: () => false })
    assert.deepEqual(outcome, { replayed: 0, gap: 0n, complete: false })
    assert.equal(reader.batches, 1, 'the reader was told to stop after the first batch')
  })
})
