/**
 * The Kafka a benchmark runs on: the brokers given (`--brokers a:9092,b:9092`), or a single-node
 * local Kafka started in a temporary folder, which `stop()` stops and removes (a no-op for brokers
 * that were given).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalKafka } from '../../src/local-kafka/index.js'
import { createLogger } from '../../src/observability/logger.js'

export interface BenchKafka {
  brokers: string[]
  /** the local Kafka started for the run, if one was */
  local: LocalKafka | undefined
  stop: () => Promise<void>
}

/** `gc`: the local Kafka's collector (the launcher's default, serial, unless given) */
export async function benchKafka (brokersOption: string | undefined, onStart?: () => void, gc?: 'g1' | 'serial'): Promise<BenchKafka> {
  if (brokersOption !== undefined) return { brokers: brokersOption.split(','), local: undefined, stop: async () => {} }
  const dir = await mkdtemp(join(tmpdir(), 'wharf-bench-kafka-'))
  onStart?.()
  const local = await LocalKafka.start({ dir, nodes: 1, port: 0, ...(gc === undefined ? {} : { gc }), logger: createLogger({ level: 'warn' }) })
  return {
    brokers: local.brokers,
    local,
    stop: async () => {
      await local.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
