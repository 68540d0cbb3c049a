import { Partitioners } from 'kafkajs'

const defaultPartitioner = Partitioners.DefaultPartitioner()
const metadataByCount = new Map<number, Array<{ partitionId: number; leader: number }>>()

/**
 * The partition a keyed record goes to: kafkajs' DefaultPartitioner, the one Wharf's producer uses
 * (murmur2 of the key, as the Java client's), asked directly so that readers compute exactly the
 * producer's choice.
 */
export function partitionOf (topic: string, key: string, partitions: number): number {
  let metadata = metadataByCount.get(partitions)
  if (metadata === undefined) {
    metadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0 }))
    metadataByCount.set(partitions, metadata)
  }
  return defaultPartitioner({ topic, partitionMetadata: metadata as never, message: { key, value: null } })
}
