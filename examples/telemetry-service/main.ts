/**
 * Runs the telemetry service until Ctrl-C:
 *   npx tsx examples/telemetry-service/main.ts
 * Environment: KAFKA_BROKERS (default 127.0.0.1:9092), THRESHOLD (default 30).
 */
import { startTelemetryService } from './service.js'

const service = await startTelemetryService({
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  telemetryTopic: 'devices.telemetry',
  commandsTopic: 'devices.commands',
  threshold: Number(process.env.THRESHOLD ?? 30),
  groupId: 'telemetry-service'
})
console.log('telemetry-service running; Ctrl-C stops it')
process.once('SIGINT', () => { void service.stop().then(() => process.exit(0)) })
