// Longer than the project's ~300 lines on purpose: one fetch loop per broker, the assignment API it
// serves and its error handling (leaders, offsets out of range, brokers away) are one state machine,
// read end to end; the decoding it calls lives in fetch-response.ts and record-batches.ts.
import type { Kafka } from 'kafkajs'
import type { Logger } from '../observability/logger.js'
import { tpKey } from './topic-partition.js'
import { newTopicFetchCounters, type TopicFetchCounters } from './fetch-counters.js'
import { decodeFetchResponseV11, type FetchedPartition, type FetchResponse } from './fetch-response.js'
import {
  brokerSupportsFetchV11, ISOLATION_READ_COMMITTED, ISOLATION_READ_UNCOMMITTED, kafkajsInternals,
  type KafkajsBroker, type KafkajsCluster, type KafkajsInternals, type PartitionMetadata, type ResponseDecoder
} from './kafkajs-internals.js'
import { patchKafkajsRequestQueue } from './kafkajs-request-queue.js'
import { OffsetLookup, type TopicPartition } from './offset-lookup.js'
import { parseRecordSet, type FetchedRecord, type RecordFilter } from './record-batches.js'

export type { FetchedRecord, RecordFilter, TopicPartition, TopicFetchCounters }

/** What the handler learns besides the records. */
export interface BatchInfo {
  /** the partition's high watermark in the fetch response these records came from */
  highWatermark: bigint
  /** the partition's position once the handler has resolved: the offset fetched next */
  nextOffset: bigint
  /** records of the same fetch the topic's filter did not want */
  skipped: number
}

/**
 * Records of one partition, in offset order (only the wanted ones). The partition is not fetched
 * again until the promise resolves. Calls for one Kafka topic come one at a time (calls for different
 * topics may overlap, so one fetcher can serve several readers, dispatching on the topic). A
 * rejection is logged and the same records are fetched again a second later (the position advances
 * only when a call resolves).
 */
export type FetchBatchHandler = (topic: string, partition: number, records: FetchedRecord[], info: BatchInfo) => Promise<void>

/** A position that was not in the log any more (retention, deleted records) or not yet (truncation). */
export interface OffsetReset {
  topic: string
  partition: number
  /** the position that was out of range */
  fetchOffset: bigint
  /** where reading goes on */
  resumeAt: bigint
  logStartOffset: bigint
  endOffset: bigint
  /** records between the position and the log start that nobody will read (0 when past the end) */
  lostRecords: bigint
}

export interface PartitionFetcherOptions {
  /** what this fetcher is for; in its log lines */
  purpose: string
  /** the handler of topics without one of their own (`setHandler`) */
  onBatch?: FetchBatchHandler
  /** told when a position was out of range and moved: below the log start to it, past the end to the end */
  onOffsetReset?: (reset: OffsetReset) => void
  /** how long a broker holds a Fetch while it has no new records (the idle poll interval); default 250 */
  maxWaitTimeMs?: number
  /** bytes per partition and fetch; default 1 MiB */
  partitionMaxBytes?: number
  /** bytes per Fetch response; default 16 MiB */
  maxBytes?: number
  /** read_committed (default): stop at the last stable offset and drop aborted transactions */
  readCommitted?: boolean
}

/** The partition was unassigned (or the fetcher stopped) before it reached the position waited for. */
export class PartitionUnassigned extends Error {
  constructor (topic: string, partition: number) {
    super(`partition ${tpKey(topic, partition)} is no longer assigned`)
    this.name = 'PartitionUnassigned'
  }
}

/** The broker does not speak the Fetch version this reader is written for (Kafka before 2.3). */
export class FetchVersionUnsupported extends Error {
  constructor (nodeId: number) {
    super(`Kafka broker ${nodeId} does not support Fetch v11 (Kafka 2.3 or later is needed)`)
    this.name = 'FetchVersionUnsupported'
  }
}

const FETCH_V11_RESPONSE: ResponseDecoder<FetchResponse> = {
  decode: async (payload) => decodeFetchResponseV11(payload),
  parse: async (decoded) => decoded
}

const OFFSET_OUT_OF_RANGE = 1
/** partition errors that mean "ask the metadata who leads it now" */
const STALE_LEADER_ERRORS = new Set([
  3, // UNKNOWN_TOPIC_OR_PARTITION
  5, // LEADER_NOT_AVAILABLE
  6, // NOT_LEADER_OR_FOLLOWER
  9, // REPLICA_NOT_AVAILABLE
  56, // KAFKA_STORAGE_ERROR
  74, // FENCED_LEADER_EPOCH
  75, // UNKNOWN_LEADER_EPOCH
  100 // UNKNOWN_TOPIC_ID
])
const MAX_BACKOFF_MS = 5000
const ERROR_RETRY_MS = 1000
const REQUEST_SLACK_MS = 100
/** the largest per-partition size a fetch grows to when one batch does not fit */
const LARGEST_PARTITION_BYTES = 64 * 1024 * 1024

interface Waiter {
  offset: bigint
  resolve: () => void
  reject: (err: Error) => void
}

/** One assigned partition. A new assignment of the same partition is a new object. */
class Assigned {
  leader: number | undefined
  highWatermark: bigint | undefined
  /** in a Fetch on the wire */
  inFetch = false
  /** records or an offset reset being handled: not fetched meanwhile */
  busy = false
  /** not fetched before this time (after an error) */
  retryAt = 0
  waiters: Waiter[] = []
  /** a problem logged once, until it clears */
  problem: string | undefined

  constructor (readonly topic: string, readonly partition: number, public next: bigint, public maxBytes: number) {}
}

interface BrokerLoop {
  wake: (() => void) | undefined
  /** when the broker was found away, and the backoff until the next try */
  awaySince: number | undefined
  retryAt: number
  backoffMs: number
}

/**
 * Reads an explicitly assigned set of partitions, each from a position the caller gives, with no
 * consumer group: no join, no rebalance, no coordinator, so assigning or unassigning one partition
 * never pauses the others. Per broker leading any assigned partition, one Fetch is on the wire at a
 * time, for every partition of that broker that is not still being handled (a long poll of
 * `maxWaitTimeMs`: an idle fetcher sends a few small requests a second per broker, one with nothing
 * assigned sends none). Records are walked before they are decoded (kafka/record-batches.ts): per
 * Kafka topic an optional filter sees each record's key first, and only wanted records are built.
 *
 * TLS, SASL, connections, metadata and leaders come from kafkajs' own cluster machinery
 * (kafka/kafkajs-internals.ts). A partition whose leader moved or is unknown waits for fresh metadata;
 * a broker that is away is retried forever with a backoff, logged once per outage; a position out of
 * range moves into the log (`onOffsetReset` says how many records were lost).
 */
export class PartitionFetcher {
  /** per Kafka topic: what was fetched, skipped and delivered */
  readonly topicCounters = new Map<string, TopicFetchCounters>()
  /** Fetch requests sent */
  fetchRequests = 0

  private readonly internals: KafkajsInternals
  private readonly cluster: KafkajsCluster
  private readonly offsets: OffsetLookup
  private readonly log: Logger
  private readonly assigned = new Map<string, Map<number, Assigned>>()
  private readonly filters = new Map<string, RecordFilter>()
  private readonly handlers = new Map<string, FetchBatchHandler>()
  private readonly loops = new Map<number, BrokerLoop>()
  private readonly maxWaitTimeMs: number
  private readonly partitionMaxBytes: number
  private readonly maxBytes: number
  private readonly isolationLevel: number
  /** per Kafka topic, the handler calls in progress or queued, one after another */
  private readonly handling = new Map<string, Promise<void>>()
  private leaderSearch: Promise<void> | undefined
  private metadataStale = false
  private started = false
  private stopped = false

  constructor (kafka: Kafka, private readonly opts: PartitionFetcherOptions, logger: Logger) {
    this.internals = kafkajsInternals()
    // kafkajs 2.2.4 wakes every idle connection 1,000 times a second (see kafkajs-request-queue.ts)
    patchKafkajsRequestQueue()
    this.log = logger.child({ component: 'fetcher', purpose: opts.purpose })
    this.maxWaitTimeMs = opts.maxWaitTimeMs ?? 250
    this.partitionMaxBytes = opts.partitionMaxBytes ?? 1024 * 1024
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024
    this.isolationLevel = opts.readCommitted === false ? ISOLATION_READ_UNCOMMITTED : ISOLATION_READ_COMMITTED
    this.cluster = this.internals.createCluster(kafka, { isolationLevel: this.isolationLevel })
    this.offsets = new OffsetLookup(this.cluster, this.log)
  }

  /** Connects to Kafka and starts fetching whatever is assigned (before or after). */
  async start (): Promise<void> {
    await this.cluster.connect()
    this.started = true
    if (this.stopped) return
    for (const byPartition of this.assigned.values()) for (const a of byPartition.values()) if (a.leader !== undefined) this.runLoop(a.leader)
    this.findLeaders()
  }

  /** Stops fetching: resolves once no Fetch is on the wire and the handler in progress has resolved. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const byPartition of this.assigned.values()) for (const a of byPartition.values()) this.rejectWaiters(a)
    this.assigned.clear()
    for (const loop of this.loops.values()) loop.wake?.()
    const deadline = Date.now() + this.maxWaitTimeMs + 5000
    while (this.loops.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    await Promise.all(this.handling.values())
    await this.cluster.disconnect().catch((err) => this.log.debug({ err }, 'Kafka connections did not close cleanly'))
  }

  /**
   * Reads the partition from `fromOffset` on. Take `fromOffset` from `latestOffsets` for "from now on".
   * Assigning an assigned partition moves its position (records of a Fetch on the wire for the old
   * position are dropped); its `waitForPosition` waiters go on waiting for the new position to get there.
   */
  assign (topic: string, partition: number, fromOffset: bigint): void {
    if (this.stopped) throw new Error(`the ${this.opts.purpose} fetcher is stopped`)
    let byPartition = this.assigned.get(topic)
    if (byPartition === undefined) this.assigned.set(topic, byPartition = new Map())
    const previous = byPartition.get(partition)
    const a = new Assigned(topic, partition, fromOffset, this.partitionMaxBytes)
    byPartition.set(partition, a)
    if (previous !== undefined) {
      a.waiters = previous.waiters
      previous.waiters = []
      this.moveTo(a, fromOffset)
    }
    if (!this.topicCounters.has(topic)) this.topicCounters.set(topic, newTopicFetchCounters())
    a.leader = previous?.leader ?? this.cachedLeader(topic, partition)
    if (a.leader === undefined) this.findLeaders()
    else this.runLoop(a.leader)
  }

  /** Stops reading the partition (a Fetch on the wire for it is ignored when it comes back). */
  unassign (topic: string, partition: number): void {
    const byPartition = this.assigned.get(topic)
    const a = byPartition?.get(partition)
    if (byPartition === undefined || a === undefined) return
    byPartition.delete(partition)
    if (byPartition.size === 0) this.assigned.delete(topic)
    this.rejectWaiters(a)
    if (a.leader !== undefined) this.loops.get(a.leader)?.wake?.()
  }

  isAssigned (topic: string, partition: number): boolean {
    return this.current(topic, partition) !== undefined
  }

  /** Every assigned partition. */
  assignments (): TopicPartition[] {
    const list: TopicPartition[] = []
    for (const [topic, byPartition] of this.assigned) for (const partition of byPartition.keys()) list.push({ topic, partition })
    return list
  }

  /** The next offset to read: every record below it has been handed to the handler, which resolved. */
  position (topic: string, partition: number): bigint | undefined {
    return this.current(topic, partition)?.next
  }

  /** The high watermark of the partition in the last Fetch response that answered for it. */
  highWatermark (topic: string, partition: number): bigint | undefined {
    return this.current(topic, partition)?.highWatermark
  }

  /**
   * Resolves once the partition's position has reached `offset` (every record below it handled);
   * rejects with PartitionUnassigned when it is unassigned first.
   */
  waitForPosition (topic: string, partition: number, offset: bigint): Promise<void> {
    const a = this.current(topic, partition)
    if (a === undefined) return Promise.reject(new PartitionUnassigned(topic, partition))
    if (a.next >= offset) return Promise.resolve()
    return new Promise((resolve, reject) => { a.waiters.push({ offset, resolve, reject }) })
  }

  /**
   * The filter that decides, from each record's key (and one header), which records of this Kafka
   * topic are decoded and delivered; undefined delivers all. It applies to records handled from now
   * on, including ones already fetched: set it before taking the start offset of a new interest.
   */
  setFilter (topic: string, filter: RecordFilter | undefined): void {
    if (filter === undefined) this.filters.delete(topic)
    else this.filters.set(topic, filter)
  }

  /** The handler of this Kafka topic's records (instead of `onBatch`): one fetcher, several readers. */
  setHandler (topic: string, handler: FetchBatchHandler | undefined): void {
    if (handler === undefined) this.handlers.delete(topic)
    else this.handlers.set(topic, handler)
  }

  /** End offsets (where a read_committed fetch stops), one ListOffsets per leader for all of them. */
  latestOffsets (partitions: readonly TopicPartition[]): Promise<Map<string, bigint>> {
    return this.offsets.latest(partitions)
  }

  /** Every partition of these topics, from the metadata (waiting while a topic has none yet). */
  async partitionsOf (topics: readonly string[], timeoutMs = 30_000): Promise<TopicPartition[]> {
    const deadline = Date.now() + timeoutMs
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      let failure: unknown
      try {
        await this.knowTopics([...topics])
      } catch (err) {
        failure = err
      }
      const found = topics.map((topic) => ({ topic, partitions: this.metadataOf(topic).map((p) => p.partitionId).sort((x, y) => x - y) }))
      const empty = found.filter((t) => t.partitions.length === 0).map((t) => t.topic)
      if (empty.length === 0) return found.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })))
      if (Date.now() > deadline) throw new Error(`no partitions known for ${empty.join(', ')}: ${(failure as Error | undefined)?.message ?? 'not in the metadata'}`)
      await new Promise((resolve) => setTimeout(resolve, delay))
      await this.cluster.refreshMetadata().catch(() => undefined)
    }
  }

  /** Log start offsets, one ListOffsets per leader for all of them. */
  earliestOffsets (partitions: readonly TopicPartition[]): Promise<Map<string, bigint>> {
    return this.offsets.earliest(partitions)
  }

  private current (topic: string, partition: number): Assigned | undefined {
    return this.assigned.get(topic)?.get(partition)
  }

  private isCurrent (a: Assigned): boolean {
    return !this.stopped && this.assigned.get(a.topic)?.get(a.partition) === a
  }

  private counters (topic: string): TopicFetchCounters {
    let c = this.topicCounters.get(topic)
    if (c === undefined) this.topicCounters.set(topic, c = newTopicFetchCounters())
    return c
  }

  private rejectWaiters (a: Assigned): void {
    const waiters = a.waiters
    a.waiters = []
    for (const w of waiters) w.reject(new PartitionUnassigned(a.topic, a.partition))
  }

  private moveTo (a: Assigned, next: bigint): void {
    a.next = next
    if (a.waiters.length === 0) return
    a.waiters = a.waiters.filter((w) => {
      if (w.offset > next) return true
      w.resolve()
      return false
    })
  }

  /** The partitions of a topic in kafkajs' metadata cache (none before it is loaded). */
  private metadataOf (topic: string): PartitionMetadata[] {
    try {
      return this.cluster.findTopicPartitionMetadata(topic)
    } catch {
      return [] // metadata not loaded yet
    }
  }

  /** The leader of a partition in kafkajs' metadata cache, if it has one. */
  private cachedLeader (topic: string, partition: number): number | undefined {
    const leader = this.metadataOf(topic).find((p) => p.partitionId === partition)?.leader
    return leader !== undefined && leader >= 0 ? leader : undefined
  }

  // ---- leaders ------------------------------------------------------------------------------

  /** Looks for the leaders of partitions that have none (or, when stale, of all), until all have one. */
  private findLeaders (stale = false): void {
    if (stale) this.metadataStale = true
    if (!this.started || this.stopped || this.leaderSearch !== undefined) return
    this.leaderSearch = this.searchLeaders().finally(() => { this.leaderSearch = undefined })
  }

  private async searchLeaders (): Promise<void> {
    let delay = 100
    let since: number | undefined
    for (;;) {
      if (this.stopped) return
      const topics = [...this.assigned.keys()]
      const missing = (): Assigned[] => [...this.assigned.values()].flatMap((m) => [...m.values()]).filter((a) => a.leader === undefined)
      if (!this.metadataStale && missing().length === 0) break
      this.metadataStale = false
      let failure: unknown
      try {
        await this.knowTopics(topics)
        await this.cluster.refreshMetadata()
      } catch (err) {
        failure = err
      }
      if (this.stopped) return
      this.applyLeaders()
      const still = missing()
      if (still.length === 0 && failure === undefined) break
      if (since === undefined) {
        since = Date.now()
        if (still.length > 0) this.log.warn({ err: failure, partitions: still.slice(0, 10).map((a) => tpKey(a.topic, a.partition)), count: still.length }, 'Kafka partitions without a known leader: fetching them waits until Kafka names one')
        else this.log.warn({ err: failure }, 'cannot refresh the Kafka metadata: fetching goes on with the leaders known, retrying')
      }
      await new Promise((resolve) => setTimeout(resolve, delay))
      delay = Math.min(delay * 2, MAX_BACKOFF_MS)
    }
    if (since !== undefined) this.log.info({ afterMs: Date.now() - since }, 'Kafka metadata fresh again: every assigned partition has a leader')
  }

  /** Makes kafkajs keep metadata of these topics; a topic that does not exist does not hold up the others. */
  private async knowTopics (topics: string[]): Promise<void> {
    try {
      await this.cluster.addMultipleTargetTopics(topics)
    } catch (err) {
      if (topics.length <= 1) throw err
      for (const topic of topics) await this.cluster.addMultipleTargetTopics([topic]).catch(() => undefined)
    }
  }

  private applyLeaders (): void {
    for (const [topic, byPartition] of this.assigned) {
      for (const a of byPartition.values()) {
        const leader = this.cachedLeader(topic, a.partition)
        if (leader === a.leader) continue
        a.leader = leader
        if (leader !== undefined) this.runLoop(leader)
      }
    }
  }

  // ---- one loop per broker ------------------------------------------------------------------

  /** Makes sure the broker's fetch loop runs (or wakes it). */
  private runLoop (nodeId: number): void {
    if (!this.started || this.stopped) return
    const existing = this.loops.get(nodeId)
    if (existing !== undefined) {
      existing.wake?.()
      return
    }
    const loop: BrokerLoop = { wake: undefined, awaySince: undefined, retryAt: 0, backoffMs: 0 }
    this.loops.set(nodeId, loop)
    void this.loop(nodeId, loop).catch((err) => this.log.error({ err, nodeId }, 'fetch loop failed'))
      .finally(() => { if (this.loops.get(nodeId) === loop) this.loops.delete(nodeId) })
  }

  private async loop (nodeId: number, loop: BrokerLoop): Promise<void> {
    while (!this.stopped) {
      const now = Date.now()
      const ready: Assigned[] = []
      let led = false
      let soonest = Infinity
      for (const byPartition of this.assigned.values()) {
        for (const a of byPartition.values()) {
          if (a.leader !== nodeId) continue
          led = true
          if (a.inFetch || a.busy) continue
          if (a.retryAt > now) soonest = Math.min(soonest, a.retryAt)
          else ready.push(a)
        }
      }
      if (!led) {
        // nothing of this broker is assigned: the loop ends, at once (the next assignment starts a new one)
        if (this.loops.get(nodeId) === loop) this.loops.delete(nodeId)
        return
      }
      if (loop.retryAt > now) {
        await this.sleep(loop, loop.retryAt - now)
      } else if (ready.length === 0) {
        await this.sleep(loop, soonest === Infinity ? undefined : soonest - now)
      } else {
        await this.fetchFrom(nodeId, loop, ready)
      }
    }
  }

  private sleep (loop: BrokerLoop, ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms)
      function done (): void {
        if (timer !== undefined) clearTimeout(timer)
        loop.wake = undefined
        resolve()
      }
      loop.wake = done
    })
  }

  private async fetchFrom (nodeId: number, loop: BrokerLoop, ready: Assigned[]): Promise<void> {
    const offsets = new Map<Assigned, bigint>()
    const byTopic = new Map<string, Array<{ partition: number; fetchOffset: string; maxBytes: number }>>()
    for (const a of ready) {
      a.inFetch = true
      offsets.set(a, a.next)
      let list = byTopic.get(a.topic)
      if (list === undefined) byTopic.set(a.topic, list = [])
      list.push({ partition: a.partition, fetchOffset: a.next.toString(), maxBytes: a.maxBytes })
    }
    let broker: KafkajsBroker | undefined
    try {
      broker = await this.cluster.findBroker({ nodeId })
      if (!brokerSupportsFetchV11(broker)) throw new FetchVersionUnsupported(nodeId)
      const request = this.internals.fetchRequest({
        replicaId: -1,
        maxWaitTime: this.maxWaitTimeMs,
        minBytes: 1,
        maxBytes: this.maxBytes,
        isolationLevel: this.isolationLevel,
        topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
      })
      this.fetchRequests++
      for (const topic of byTopic.keys()) this.counters(topic).fetchRequests++
      const response = await broker.connectionPool.send({ request, response: FETCH_V11_RESPONSE, requestTimeout: this.maxWaitTimeMs + REQUEST_SLACK_MS })
      if (response.errorCode !== 0) throw new Error(`Fetch failed with error code ${response.errorCode}`)
      this.brokerBack(nodeId, loop)
      this.onResponse(response, ready, offsets)
    } catch (err) {
      if ((err as Error).name === 'KafkaJSConnectionClosedError') await broker?.disconnect().catch(() => undefined)
      this.brokerAway(nodeId, loop, err)
    } finally {
      for (const a of ready) a.inFetch = false
    }
  }

  private brokerAway (nodeId: number, loop: BrokerLoop, err: unknown): void {
    if (this.stopped) return
    loop.backoffMs = Math.min(Math.max(loop.backoffMs * 2, 200), MAX_BACKOFF_MS)
    loop.retryAt = Date.now() + loop.backoffMs
    if (loop.awaySince === undefined) {
      loop.awaySince = Date.now()
      this.log.warn({ err, nodeId }, 'cannot fetch from a Kafka broker; retrying until it answers (its partitions follow a new leader if Kafka elects one)')
    } else {
      this.log.debug({ err, nodeId, retryInMs: loop.backoffMs }, 'Kafka broker still not answering')
    }
    // the partitions may have moved to another broker
    this.findLeaders(true)
  }

  private brokerBack (nodeId: number, loop: BrokerLoop): void {
    loop.backoffMs = 0
    loop.retryAt = 0
    if (loop.awaySince !== undefined) {
      this.log.info({ nodeId, afterMs: Date.now() - loop.awaySince }, 'fetching from the Kafka broker again')
      loop.awaySince = undefined
    }
  }

  // ---- responses ----------------------------------------------------------------------------

  private onResponse (response: FetchResponse, asked: Assigned[], offsets: Map<Assigned, bigint>): void {
    const byKey = new Map<string, Assigned>()
    for (const a of asked) byKey.set(tpKey(a.topic, a.partition), a)
    for (const { topic, partitions } of response.topics) {
      for (const p of partitions) {
        const a = byKey.get(tpKey(topic, p.partition))
        if (a === undefined || !this.isCurrent(a)) continue
        const fetchOffset = offsets.get(a) as bigint
        a.highWatermark = p.highWatermark
        if (p.errorCode === 0) {
          this.clearProblem(a)
          if (p.records !== null) {
            a.busy = true
            this.queue(topic, () => this.handle(a, p, fetchOffset))
          }
        } else if (p.errorCode === OFFSET_OUT_OF_RANGE) {
          a.busy = true
          void this.reset(a, fetchOffset)
        } else if (STALE_LEADER_ERRORS.has(p.errorCode)) {
          this.problem(a, 'debug', `partition error ${p.errorCode}: asking the metadata for its leader`)
          a.leader = undefined
          this.findLeaders(true)
        } else {
          this.problem(a, 'warn', `partition error ${p.errorCode}: retrying`)
          a.retryAt = Date.now() + ERROR_RETRY_MS
        }
      }
    }
  }

  /** Runs `work` after the topic's earlier handler calls. */
  private queue (topic: string, work: () => Promise<void>): void {
    const chain = (this.handling.get(topic) ?? Promise.resolve()).then(work)
    this.handling.set(topic, chain)
    void chain.then(() => { if (this.handling.get(topic) === chain) this.handling.delete(topic) })
  }

  /** Walks and delivers one partition's records (never rejects: the topic's handler chain goes on). */
  private async handle (a: Assigned, p: FetchedPartition, fetchOffset: bigint): Promise<void> {
    try {
      if (!this.isCurrent(a) || p.records === null) return
      const c = this.counters(a.topic)
      let parsed
      try {
        parsed = await parseRecordSet(p.records, fetchOffset, this.filters.get(a.topic), p.abortedTransactions)
      } catch (err) {
        this.problem(a, 'error', 'records cannot be read: retrying in 5 s', err)
        a.retryAt = Date.now() + MAX_BACKOFF_MS
        return
      }
      c.bytesFetched += parsed.bytes
      c.recordsFetched += parsed.fetched
      c.recordsSkipped += parsed.skipped
      c.recordsAborted += parsed.aborted
      const next = parsed.nextOffset
      if (next === undefined) {
        // not one whole batch fits in the partition's share of the response
        if (a.maxBytes < LARGEST_PARTITION_BYTES) a.maxBytes *= 2
        else this.problem(a, 'warn', `a record batch is larger than ${LARGEST_PARTITION_BYTES} bytes`)
        return
      }
      if (parsed.records.length > 0 && this.isCurrent(a)) {
        try {
          const handler = this.handlers.get(a.topic) ?? this.opts.onBatch
          if (handler === undefined) throw new Error(`no batch handler for Kafka topic ${a.topic}`)
          await handler(a.topic, a.partition, parsed.records, { highWatermark: p.highWatermark, nextOffset: next, skipped: parsed.skipped })
        } catch (err) {
          this.problem(a, 'error', 'the batch handler failed: fetching the same records again in 1 s', err)
          a.retryAt = Date.now() + ERROR_RETRY_MS
          return
        }
        c.recordsDelivered += parsed.records.length
      }
      if (this.isCurrent(a) && next > a.next) this.moveTo(a, next)
    } finally {
      a.busy = false
      if (a.leader !== undefined) this.loops.get(a.leader)?.wake?.()
    }
  }

  /** OFFSET_OUT_OF_RANGE: below the log start, go on from it (reporting the loss); past the end, from the end. */
  private async reset (a: Assigned, fetchOffset: bigint): Promise<void> {
    try {
      const tp = [{ topic: a.topic, partition: a.partition }]
      const [low, high] = await Promise.all([this.offsets.earliest(tp), this.offsets.latest(tp)])
      if (!this.isCurrent(a)) return
      const key = tpKey(a.topic, a.partition)
      const logStartOffset = low.get(key) as bigint
      const endOffset = high.get(key) as bigint
      const resumeAt = fetchOffset < logStartOffset ? logStartOffset : fetchOffset > endOffset ? endOffset : fetchOffset
      const lostRecords = fetchOffset < logStartOffset ? logStartOffset - fetchOffset : 0n
      const c = this.counters(a.topic)
      c.offsetResets++
      c.recordsLost += Number(lostRecords)
      this.log.warn({ kafkaTopic: a.topic, partition: a.partition, fetchOffset: fetchOffset.toString(), logStartOffset: logStartOffset.toString(), endOffset: endOffset.toString(), lostRecords: lostRecords.toString() },
        lostRecords > 0n ? 'records left Kafka before they were read: reading goes on from the log start' : 'position past the end of the log: reading goes on from its end')
      this.moveTo(a, resumeAt)
      this.opts.onOffsetReset?.({ topic: a.topic, partition: a.partition, fetchOffset, resumeAt, logStartOffset, endOffset, lostRecords })
    } catch (err) {
      this.problem(a, 'warn', 'position out of range and the log bounds are unknown: retrying', err)
      a.retryAt = Date.now() + ERROR_RETRY_MS
    } finally {
      a.busy = false
      if (a.leader !== undefined) this.loops.get(a.leader)?.wake?.()
    }
  }

  /** Logs a partition's problem once, until it clears. */
  private problem (a: Assigned, level: 'debug' | 'warn' | 'error', what: string, err?: unknown): void {
    if (a.problem === what) return
    a.problem = what
    this.log[level]({ err, kafkaTopic: a.topic, partition: a.partition }, what)
  }

  private clearProblem (a: Assigned): void {
    if (a.problem === undefined) return
    this.log.debug({ kafkaTopic: a.topic, partition: a.partition, was: a.problem }, 'partition fetches again')
    a.problem = undefined
  }
}
