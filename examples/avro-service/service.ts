/**
 * The telemetry service of ../telemetry-service with Wharf's Avro envelope (format: avro, no
 * schema registry): every record value is one envelope encoded with the shipped schema
 * schemas/wharf-envelope.avsc, and the header `wharf.schema.fingerprint` names that schema.
 *
 * It decodes each device message (topic, payload, qos, retain, client_id, username, node,
 * timestamp, properties), and answers a device that is too warm with an envelope of its own whose
 * `topic` field is the device's MQTT command topic: no rule template needed.
 */
import { readFileSync } from 'node:fs'
import avro from 'avsc'
import { Kafka, logLevel } from 'kafkajs'

export const SCHEMA_FILE = new URL('../../schemas/wharf-envelope.avsc', import.meta.url)
const envelopeType = avro.Type.forSchema(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as avro.Schema)
/** hex SHA-256 of the schema's Parsing Canonical Form, as Wharf writes it */
export const FINGERPRINT = envelopeType.fingerprint('sha256').toString('hex')

/** The envelope as the shipped schema defines it. */
export interface Envelope {
  topic: string | null
  payload: Buffer
  qos: number | null
  retain: boolean
  client_id: string | null
  username: string | null
  node: string | null
  timestamp: number
  properties: Record<string, string>
}

export interface AvroServiceOptions {
  brokers: string[]
  telemetryTopic: string
  commandsTopic: string
  threshold: number
  groupId: string
  fromBeginning?: boolean
  log?: (line: string) => void
}

export async function startAvroService (opts: AvroServiceOptions) {
  const log = opts.log ?? ((line: string) => console.log(line))
  const kafka = new Kafka({ clientId: 'avro-service', brokers: opts.brokers, logLevel: logLevel.WARN })
  const consumer = kafka.consumer({ groupId: opts.groupId })
  const producer = kafka.producer()
  let sent = 0
  await producer.connect()
  await consumer.connect()
  await consumer.subscribe({ topic: opts.telemetryTopic, fromBeginning: opts.fromBeginning ?? false })
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()))
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value === null || message.headers?.['wharf.schema.fingerprint']?.toString() !== FINGERPRINT) {
        log('ignored a record not written with the shipped envelope schema')
        return
      }
      const e = envelopeType.fromBuffer(message.value) as Envelope
      const device = message.key?.toString() // the rule's key "{2}": the device id
      log(`${e.topic ?? '?'} from ${e.client_id ?? '?'} (user ${e.username ?? '-'}) via ${e.node ?? '?'} at ${new Date(e.timestamp).toISOString()}, QoS ${e.qos ?? '?'}: ${e.payload.toString()}`)
      let temperature: unknown
      try {
        temperature = (JSON.parse(e.payload.toString()) as { temperature?: unknown }).temperature
      } catch {
        return
      }
      if (device === undefined || typeof temperature !== 'number' || temperature <= opts.threshold) return
      const command: Envelope = {
        topic: `devices/${device}/commands`, // the MQTT topic, so the record needs no mqtt.topic header
        payload: Buffer.from(JSON.stringify({ command: 'fan', on: true })),
        qos: 1,
        retain: false,
        client_id: null,
        username: null,
        node: null,
        timestamp: Date.now(),
        properties: {}
      }
      await producer.send({
        topic: opts.commandsTopic,
        messages: [{ key: device, value: envelopeType.toBuffer(command), headers: { 'wharf.schema.fingerprint': FINGERPRINT } }]
      })
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
