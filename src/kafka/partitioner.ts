import { murmur2 } from './murmur2.js'

/**
 * The partition of a keyed record among `partitions`: what kafkajs' DefaultPartitioner (and the Java
 * client's) chooses, `toPositive(murmur2(key)) % partitions`, with Wharf's 32-bit murmur2.
 */
export function keyPartition (key: string | Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions
}

/**
 * The partition a keyed record goes to, exactly the producer's choice (batching-producer.ts uses
 * keyPartition for keyed records), so that readers compute where a key's records are.
 */
export function partitionOf (_topic: string, key: string, partitions: number): number {
  return keyPartition(key, partitions)
}
