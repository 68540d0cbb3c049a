/**
 * A backend service next to Wharf, talking to devices through Kafka only (kafkajs, raw format).
 *
 * It reads device telemetry from the Kafka topic that Wharf's rule `devices/+/telemetry` writes
 * (value = the MQTT payload bytes, key = the device id, MQTT metadata in `mqtt.*` headers), and
 * when a device reports a temperature above the threshold it sends that one device a command by
 * producing to the commands topic: key = the device id, and Wharf's rule turns it into the MQTT
 * topic `devices/<id>/commands` (`mqtt_topic: "devices/${key}/commands"`) at the rule's QoS 1.
 */
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs'

export interface TelemetryServiceOptions {
  brokers: string[]
  /** Kafka topic of the devices/+/telemetry rule */
  telemetryTopic: string
  /** Kafka topic of the devices/+/commands rule */
  commandsTopic: string
  /** above this temperature a device gets a command */
  threshold: number
  groupId: string
  /** read the telemetry topic from its start (a new consumer group otherwise starts at its end) */
  fromBeginning?: boolean
  log?: (line: string) => void
}

export interface RunningService {
  /** commands sent so far */
  readonly sent: number
  stop (): Promise<void>
}

/** What the devices publish, e.g. `{"temperature": 31.5}`. */
interface Telemetry { temperature?: unknown }

export async function startTelemetryService (opts: TelemetryServiceOptions): Promise<RunningService> {
  const log = opts.log ?? ((line: string) => console.log(line))
  const kafka = new Kafka({ clientId: 'telemetry-service', brokers: opts.brokers, logLevel: logLevel.WARN })
  const consumer: Consumer = kafka.consumer({ groupId: opts.groupId })
  const producer: Producer = kafka.producer()
  let sent = 0
  await producer.connect()
  await consumer.connect()
  await consumer.subscribe({ topic: opts.telemetryTopic, fromBeginning: opts.fromBeginning ?? false })
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()))
  await consumer.run({
    eachMessage: async ({ message }) => {
      const device = message.key?.toString() // the rule's key "{2}": the device id
      const mqttTopic = message.headers?.['mqtt.topic']?.toString()
      const clientId = message.headers?.['mqtt.client_id']?.toString()
      let reading: Telemetry
      try {
        reading = JSON.parse(message.value?.toString() ?? '') as Telemetry
      } catch {
        log(`ignored a payload that is not JSON on ${mqttTopic ?? '?'}`)
        return
      }
      if (device === undefined || typeof reading.temperature !== 'number') return
      log(`${device} (client ${clientId ?? '?'}, ${mqttTopic ?? '?'}): ${reading.temperature} °C`)
      if (reading.temperature <= opts.threshold) return
      // one device, by key: Wharf's rule makes it devices/<key>/commands at QoS 1. To pick the
      // MQTT topic yourself instead, add headers: { 'mqtt.topic': `devices/${device}/commands` }.
      await producer.send({ topic: opts.commandsTopic, messages: [{ key: device, value: JSON.stringify({ command: 'fan', on: true }) }] })
      sent++
      log(`sent fan-on to ${device}`)
    }
  })
  await joined
  return {
    get sent () { return sent },
    async stop () {
      await consumer.disconnect()
      await producer.disconnect()
    }
  }
}
