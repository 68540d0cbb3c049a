import type { Kafka, KafkaMessage } from 'kafkajs'
import type { Logger } from '../observability/logger.js'
import { settlesWithin } from '../util/async.js'
import { LogTail } from './log-tail.js'
import { PartitionFetcher } from './partition-fetcher.js'

/**
 * Reads one topic from its earliest offset to the end offsets seen at the start, then stops: a
 * short-lived reader for tools such as `wharf cluster status` and `wharf users list`. Like the node's
 * readers it assigns the partitions itself (no consumer group: nothing to join, nothing left behind,
 * and no wait for a group coordinator that a fresh Kafka is still loading).
 */
export async function readToEnd (kafka: Kafka, topic: string, onMessage: (m: KafkaMessage, partition: number) => void, logger: Logger, timeoutMs = 30000): Promise<void> {
  const fetcher = new PartitionFetcher(kafka, { purpose: `snapshot ${topic}`, maxWaitTimeMs: 100 }, logger)
  const tail = new LogTail(fetcher, {
    topics: [topic],
    from: 'earliest',
    onBatch: async (_topic, partition, messages) => { for (const m of messages) onMessage(m, partition) }
  })
  try {
    await fetcher.start()
    const read = tail.start().then(() => tail.caughtUp())
    if (!await settlesWithin(read, timeoutMs)) throw new Error(`could not read ${topic} to its end within ${timeoutMs} ms`)
    await read
  } finally {
    await tail.stop()
    await fetcher.stop()
  }
}
