import { randomUUID } from 'node:crypto'
import type { Kafka, KafkaMessage } from 'kafkajs'
import { retryRetriable } from './retry.js'
import type { Logger } from '../observability/logger.js'
import { settlesWithin } from '../util/async.js'

/**
 * Reads one topic from its earliest offset to the end offsets seen at the start, then stops: a
 * short-lived reader for tools such as `wharf cluster status`. kafkajs reads only through consumer
 * groups, so it joins a group of its own and deletes that group again when done.
 */
export async function readToEnd (kafka: Kafka, topic: string, onMessage: (m: KafkaMessage, partition: number) => void, logger: Logger, timeoutMs = 30000): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  const groupId = `wharf.snapshot.${topic}.${randomUUID().slice(0, 8)}`
  try {
    const offsets = await retryRetriable(`offsets of ${topic}`, () => admin.fetchTopicOffsets(topic), logger)
    /** last offset to read, per partition that has records */
    const remaining = new Map<number, bigint>()
    for (const o of offsets) if (BigInt(o.high) > BigInt(o.low)) remaining.set(o.partition, BigInt(o.high) - 1n)
    if (remaining.size === 0) return
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false })
    let done: () => void = () => undefined
    const finished = new Promise<void>(resolve => { done = resolve })
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const last = remaining.get(batch.partition)
          if (last === undefined) return
          for (const m of batch.messages) {
            if (BigInt(m.offset) > last) break
            onMessage(m, batch.partition)
          }
          const tail = batch.messages[batch.messages.length - 1]
          if (tail !== undefined && BigInt(tail.offset) >= last) {
            remaining.delete(batch.partition)
            if (remaining.size === 0) done()
          }
        }
      })
      for (const o of offsets) consumer.seek({ topic, partition: o.partition, offset: o.low })
      if (!await settlesWithin(finished, timeoutMs)) throw new Error(`could not read ${topic} to its end within ${timeoutMs} ms`)
      await finished
    } finally {
      await consumer.disconnect().catch(() => undefined)
      await admin.deleteGroups([groupId]).catch(err => logger.debug({ err, groupId }, 'could not delete the reader group'))
    }
  } finally {
    await admin.disconnect()
  }
}
