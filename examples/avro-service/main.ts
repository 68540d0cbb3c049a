/**
 * Runs the Avro service until Ctrl-C:
 *   npx tsx examples/avro-service/main.ts
 * Environment: KAFKA_BROKERS (default 127.0.0.1:9092), THRESHOLD (default 30).
 */
import { startAvroService } from './service.js'

const service = await startAvroService({
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  telemetryTopic: 'avro.telemetry',
  commandsTopic: 'avro.commands',
  threshold: Number(process.env.THRESHOLD ?? 30),
  groupId: 'avro-service'
})
console.log('avro-service running; Ctrl-C stops it')
process.once('SIGINT', () => { void service.stop().then(() => process.exit(0)) })
