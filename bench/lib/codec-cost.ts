import type { KafkaMessage } from 'kafkajs'
import { pino } from 'pino'
import { Mapping } from '../../src/mapping/mapping.js'
import type { Format } from '../../src/mapping/codec.js'
import type { MqttMessage } from '../../src/protocol/message.js'
import { registrySchemasFor } from '../../src/mapping/registry-schemas.js'

export interface CodecCost { encodeUs: number; decodeUs: number; valueBytes: number }

/**
 * CPU per message of one format, in this process: Mapping.encode of a 16-byte QoS 1 PUBLISH and
 * Mapping.decode of the record it made (what an edge does per message on each side of Kafka),
 * best of 5 runs of `iterations`. `registryUrl` selects the Confluent wire format.
 */
export async function codecCost (format: Format, registryUrl: string | undefined, iterations = 200_000): Promise<CodecCost> {
  const logger = pino({ level: 'silent' })
  const registry = registryUrl === undefined ? undefined : registrySchemasFor({ url: registryUrl, request_timeout_ms: 5000 }, logger)
  const mapping = new Mapping([{ filter: 'bench/#', kafka_topic: `cost.${format}`, key: '${topic}', format, qos: 0 }], 'mqtt.messages', registry)
  await mapping.registerSchemas()
  const message: MqttMessage = { topic: 'bench/abcd1234/7', payload: Buffer.alloc(16, 0x61), qos: 1, retain: false, clientId: 'pub-abcd1234-7', node: 'bench-edge' }
  const out = mapping.encode(message)
  const record = { key: Buffer.from(out.key as string), value: out.value as Buffer, headers: out.headers, timestamp: '0', attributes: 0, offset: '0' } as KafkaMessage
  const best = (fn: () => void): number => {
    let min = Infinity
    for (let run = 0; run < 5; run++) {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < iterations; i++) fn()
      min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1000 / iterations)
    }
    return Math.round(min * 1000) / 1000
  }
  const encodeUs = best(() => { mapping.encode(message) })
  const decodeUs = best(() => { if (!mapping.decode(`cost.${format}`, record).ok) throw new Error('decode failed') })
  return { encodeUs, decodeUs, valueBytes: record.value?.length ?? 0 }
}
