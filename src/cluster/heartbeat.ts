import type { BatchingProducer } from '../kafka/batching-producer.js'
import type { Logger } from '../observability/logger.js'
import { encodeNodeRecord, type HeartbeatRecord, type ListenerInfo, type NodeCounters, type NodeRecord } from './node-records.js'

export interface HeartbeatOptions {
  node: string
  topic: string
  intervalMs: number
  version: string
  startedAt: number
  /** this node process' incarnation id */
  inc: string
  /** what the node reports in each heartbeat, read at send time */
  status: () => { listeners: ListenerInfo[]; connections: number }
  /** the node's running totals (rates for `GET /nodes` and the dashboard), read at send time */
  counters?: () => NodeCounters
}

/**
 * Writes this node's heartbeat to the nodes topic (key = node name) every `intervalMs`, and a leave
 * record on graceful stop. Heartbeats go through the node's batching producer; one that Kafka has
 * not acknowledged yet is not followed by another (no pile-up while Kafka is away).
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined
  private inFlight = false
  private readonly log: Logger

  constructor (private readonly producer: BatchingProducer, private readonly opts: HeartbeatOptions, logger: Logger) {
    this.log = logger.child({ component: 'heartbeat' })
  }

  /** Send the first heartbeat (resolves when Kafka acknowledged it) and keep sending. */
  async start (): Promise<void> {
    await this.beat()
    this.timer = setInterval(() => { void this.beat() }, this.opts.intervalMs)
    this.timer.unref()
  }

  /** Stop heartbeating and queue a leave record (the producer's close flushes it). */
  leave (): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    return this.send({ v: 1, type: 'leave', node: this.opts.node, at: Date.now() })
  }

  private async beat (): Promise<void> {
    if (this.inFlight) return
    this.inFlight = true
    const { listeners, connections } = this.opts.status()
    const record: HeartbeatRecord = {
      v: 1,
      type: 'heartbeat',
      node: this.opts.node,
      listeners,
      startedAt: this.opts.startedAt,
      inc: this.opts.inc,
      connections,
      version: this.opts.version,
      ...(this.opts.counters === undefined ? {} : { counters: this.opts.counters() }),
      at: Date.now()
    }
    try {
      await this.send(record)
    } finally {
      this.inFlight = false
    }
  }

  private send (record: NodeRecord): Promise<void> {
    return this.producer.send({ topic: this.opts.topic, key: this.opts.node, value: encodeNodeRecord(record) })
      .catch(err => this.log.warn({ err, type: record.type }, 'node record not written'))
  }
}
