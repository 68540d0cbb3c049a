import { createRequire } from 'node:module'
// kafkajs-encoder.ts loads nothing of kafkajs when imported (this runs before kafkajs loads)
import { kafkajsVersion } from './kafkajs-encoder.js'

/**
 * kafkajs 2.2.4 groups every batch's messages by partition (`producer/groupMessagesPerPartition.js`)
 * with a `reduce` that copies the partition's whole array and makes an object per message
 * (`Object.assign(result, { [partition]: [...current, message] })`): quadratic in the batch,
 * ~1.2 µs per message at Wharf's 40-record batches (a sixth of kafkajs' share of the edge's CPU),
 * and far more when Kafka is slow and batches grow to `batch_max_messages` (2,000: ~670,000 copies
 * for one batch over three partitions). The replacement below returns the same object (a list per
 * partition, the messages in their order, the partitioner called once per message in order), in one
 * pass.
 *
 * kafkajs' `sendMessages.js` takes the function when it is loaded (`const … = require(…)`), so the
 * module's export has to be replaced before kafkajs loads: `kafkajs-preload.ts`, the first import of
 * the CLI, does it. Loaded later (a process that imported kafkajs first), the patch is not applied
 * and kafkajs groups as before (same result). Returns whether the replacement is in effect.
 */

const require = createRequire(import.meta.url)
const GROUPING = 'kafkajs/src/producer/groupMessagesPerPartition.js'
const USER = 'kafkajs/src/producer/sendMessages.js'

interface GroupArgs<M> {
  topic: string
  partitionMetadata: unknown[]
  messages: M[]
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: M }) => number
}

/** kafkajs' groupMessagesPerPartition, in one pass. */
export function groupMessagesPerPartition<M> ({ topic, partitionMetadata, messages, partitioner }: GroupArgs<M>): Record<number, M[]> {
  const result: Record<number, M[]> = {}
  if (partitionMetadata.length === 0) return result
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message })
    const list = result[partition]
    if (list === undefined) result[partition] = [message]
    else list.push(message)
  }
  return result
}

/** kafkajs' own grouping (for the equivalence tests). */
export function kafkajsGroupMessagesPerPartition (): typeof groupMessagesPerPartition | undefined {
  const entry = require.cache[require.resolve(GROUPING)]
  const original = (entry as { wharfOriginal?: typeof groupMessagesPerPartition } | undefined)?.wharfOriginal
  return original ?? (require(GROUPING) as typeof groupMessagesPerPartition)
}

export function patchKafkajsGrouping (): boolean {
  if (kafkajsVersion() !== '2.2.4') return false
  const file = require.resolve(GROUPING)
  const original = require(GROUPING) as unknown
  const entry = require.cache[file] as (NodeJS.Module & { wharfOriginal?: unknown }) | undefined
  if (entry === undefined) return false
  if (entry.exports === groupMessagesPerPartition) return true
  // sendMessages.js already holds kafkajs' function: too late for this process
  if (require.cache[require.resolve(USER)] !== undefined || typeof original !== 'function') return false
  entry.wharfOriginal = original
  entry.exports = groupMessagesPerPartition
  return true
}
