import type { Watermarks } from '../kafka/topic-partition.js'
import { tpKey } from '../kafka/topic-partition.js'
import type { RangeReader, Ranges } from '../kafka/range-reader.js'
import type { RecordDecoder } from '../mapping/mapping.js'
import type { Logger } from '../observability/logger.js'
import type { Metrics } from '../observability/metrics.js'
import type { MqttMessage, Qos } from '../protocol/message.js'
import type { LogPosition, PersistentSession } from './persistent-session.js'

/** A record to hand to a resuming client. */
export interface ReplayItem {
  pos: LogPosition
  message: MqttMessage
  qos: Qos
  /** set when an unacknowledged delivery is sent again (with DUP and its packet id) */
  messageId?: number
  dup: boolean
  /** the RETAIN flag it goes out with: the publisher's when a matching subscription has Retain As Published */
  retain: boolean
  /** the Subscription Identifiers of the matching subscriptions */
  ids: number[]
}

/**
 * Hands one record to the client: true when it went out, false when the client has no room (the
 * round stops), or a promise of either (the client may get room soon: the round waits for it).
 */
export type ReplayDeliver = (item: ReplayItem) => boolean | Promise<boolean>

export interface ReplayOutcome {
  /** messages handed to the client (new and resent) */
  replayed: number
  /** records the session needed that had already left Kafka (retention) */
  gap: bigint
  /** false: the client had no room and the round stopped; the rest is owed to the next round */
  complete: boolean
}

/** Thrown from the range reader's handler to end a round whose client has no room. */
class RoundStopped extends Error {
  constructor () {
    super('the client has no room: replay round stopped')
    this.name = 'RoundStopped'
  }
}

export interface ReplayDeps {
  /** per data-topic partition, the offset below which every record has been offered to local subscribers */
  deliveredPositions: () => Map<string, bigint>
  /** low and high watermarks of these data-topic partitions ("topic:partition"), as of the call */
  dataWatermarks: (partitions: Iterable<string>) => Promise<Watermarks>
  reader: RangeReader
  decoder: RecordDecoder
  /** `mqtt.max_offline_messages`; 0 = no limit */
  maxOfflineMessages: number
  metrics: Pick<Metrics, 'resumeGapRecords' | 'offlineLimitHits' | 'replayedRecords'>
  logger: Logger
}

/**
 * One replay round of a session (its resume after CONNECT, or a catch-up after it fell behind):
 * every record from its cursors (and unacknowledged deliveries) up to the node's delivered positions
 * of now (or further, up to what it owes), in partition order, through `deliver`, which hands one
 * record to the client and returns false when the client has no room: the round then stops there
 * (`complete: false`) and what it did not deliver is owed to the next round; while it waits for room
(a promise), the shared range reader waits too. A cursor below the
 * partition's low watermark resumes at the earliest record (the gap is counted); past
 * `maxOfflineMessages` new messages the rest of the backlog is skipped, as a full queue drops newer
 * messages. Live deliveries that arrive meanwhile are the caller's to hold back.
 */
export async function replay (session: PersistentSession, deliver: ReplayDeliver, deps: ReplayDeps): Promise<ReplayOutcome> {
  const target = session.roundTarget(deps.deliveredPositions())
  session.startAt(target)
  const starts = session.replayStarts()
  const marks = await deps.dataWatermarks(target.keys())
  const ranges: Ranges = new Map()
  let gap = 0n
  for (const [tp, to] of target) {
    let from = starts.get(tp) ?? to
    const low = marks.get(tp)?.low ?? 0n
    if (from < low) {
      // missing: what the cursor had not reached, and the unacknowledged deliveries below the low watermark
      const cursor = session.cursors.get(tp) ?? to
      gap += (cursor < low ? low - cursor : 0n) + BigInt(session.dropUnackedBelow(tp, low))
      from = low
      // counted once: a later round starts at the earliest record
      session.advanceTo(new Map([[tp, low]]))
    }
    if (from < to) ranges.set(tp, { from, to })
  }
  if (gap > 0n) {
    deps.metrics.resumeGapRecords.inc(Number(gap))
    deps.logger.warn({ clientId: session.clientId, missingRecords: gap.toString() }, 'session resumes after a gap: records it had not been served have left Kafka (retention)')
  }
  let replayed = 0
  let limited = false
  let stopped = false
  const limit = deps.maxOfflineMessages
  try {
    await deps.reader.read({
      ranges,
      onRecords: async (topic, partition, records) => {
        const tp = tpKey(topic, partition)
        // what this batch holds for the session, decided first; then handed over one by one
        const items: ReplayItem[] = []
        let fresh = 0
        let limitHere = false
        await deps.decoder.decodeEach(topic, partition, records, (decoded, record) => {
          if (!decoded.ok) return
          const pos = { tp, offset: BigInt(record.offset) }
          const d = session.replay(pos, decoded.message.topic, decoded.message.qos, decoded.message.clientId)
          if (!d.send) return
          if (!d.dup) {
            if (limited || (limit > 0 && session.replayedNew + fresh >= limit)) {
              limitHere = !limited
              limited = true
              return
            }
            fresh++
          }
          items.push({
            pos,
            message: decoded.message,
            qos: d.qos,
            ...(d.messageId === undefined ? {} : { messageId: d.messageId }),
            dup: d.dup,
            retain: decoded.message.retain && d.retainAsPublished,
            ids: d.ids
          })
        })
        for (let i = 0; i < items.length; i++) {
          const item = items[i] as ReplayItem
          let taken = deliver(item)
          if (typeof taken !== 'boolean') taken = await taken
          if (!taken) {
            stopped = true
            // resends decided on and not sent go out in the next round
            for (const rest of items.slice(i)) if (rest.messageId !== undefined) session.notResent(rest.pos, rest.messageId)
            throw new RoundStopped()
          }
          if (!item.dup) session.replayedNew++
          replayed++
        }
        if (limitHere) {
          session.skipTo(target)
          deps.metrics.offlineLimitHits.inc()
          deps.logger.warn({ clientId: session.clientId, limit }, 'offline message limit reached: the rest of the backlog is skipped (newer messages are dropped, as when a queue is full)')
        }
      }
    })
  } catch (err) {
    if (!(err instanceof RoundStopped)) throw err
    session.carryOver(target)
  }
  deps.metrics.replayedRecords.inc(replayed)
  return { replayed, gap, complete: !stopped }
}
