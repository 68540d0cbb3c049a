import { Histogram, type Registry } from 'prom-client'

/** One acknowledged produce batch, as the batching producer reports it. */
export interface ProduceAck { records: number; oldestWaitMs: number; sendMs: number }

const BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]

/**
 * How long Kafka takes to acknowledge what the node produces (acks=all): a histogram of the
 * oldest record's wait per batch (queued -> acknowledged: what the slowest PUBACK of that batch
 * waited for Kafka) and one of the Produce round trips, plus a window the heartbeat closes every
 * interval (`takeWindow()`): its mean is what the dashboard and `GET /nodes` show.
 */
export class ProduceLatency {
  private readonly wait: Histogram
  private readonly send: Histogram
  private windowSum = 0
  private windowCount = 0
  /** the mean of the last window taken (ms), null when it had no batch */
  lastWindowMs: number | null = null

  constructor (registry: Registry) {
    this.wait = new Histogram({
      name: 'wharf_kafka_produce_latency_seconds',
      help: 'per acknowledged batch: from its oldest record being queued to Kafka\'s acknowledgement (acks=all)',
      buckets: BUCKETS,
      registers: [registry]
    })
    this.send = new Histogram({
      name: 'wharf_kafka_produce_request_seconds',
      help: 'Produce round trips of acknowledged batches (retries included)',
      buckets: BUCKETS,
      registers: [registry]
    })
  }

  readonly observe = (ack: ProduceAck): void => {
    this.wait.observe(ack.oldestWaitMs / 1000)
    this.send.observe(ack.sendMs / 1000)
    this.windowSum += ack.oldestWaitMs
    this.windowCount++
  }

  /** Ends the window (the heartbeat does, every interval): its mean wait becomes `lastWindowMs`. */
  takeWindow (): number | null {
    this.lastWindowMs = this.windowCount === 0 ? null : this.windowSum / this.windowCount
    this.windowSum = 0
    this.windowCount = 0
    return this.lastWindowMs
  }
}
