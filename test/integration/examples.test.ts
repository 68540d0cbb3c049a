import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { startAvroService } from '../../examples/avro-service/service.js'
import { startTelemetryService } from '../../examples/telemetry-service/service.js'
import { avroCodec } from '../../src/mapping/avro-codec.js'
import type { RecordCodec } from '../../src/mapping/codec.js'
import { rawCodec } from '../../src/mapping/raw-codec.js'
import { collect, connect, end, until, type Received } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

const config = (example: string): string => fileURLToPath(new URL(`../../examples/${example}/wharf.yaml`, import.meta.url))

interface Service { readonly sent: number; stop (): Promise<void> }

/** The Kafka topic the example's service sends commands to, and the format of its mapping rule. */
interface Commands { topic: string; codec: RecordCodec }

const MARKER = '{"command":"marker"}'

/**
 * One command record per device, as a backend would produce it (through the example's own rule):
 * keyed by the device like the service's commands, with the same default partitioner, so each in
 * the partition of that device's commands and after any the service had sent.
 */
async function sendMarkers (commands: Commands, devices: string[]): Promise<void> {
  const producer = new Kafka({ clientId: 'examples-test', brokers: testBrokers(), logLevel: logLevel.NOTHING }).producer()
  await producer.connect()
  try {
    await producer.send({
      topic: commands.topic,
      messages: devices.map(device => commands.codec.encode(
        { topic: `devices/${device}/commands`, payload: Buffer.from(MARKER), qos: 1, retain: false },
        { topic: commands.topic, key: device }
      ))
    })
  } finally {
    await producer.disconnect()
  }
}

/**
 * Runs one example service against Wharf started with the example's own wharf.yaml, as its README
 * says: a hot device gets exactly one command, on its own command topic; a cool one gets none.
 */
async function runExample (example: string, commands: Commands, start: (groupId: string, log: (line: string) => void) => Promise<Service>): Promise<string[]> {
  const wharf = await WharfProcess.start({ brokers: testBrokers(), topics: uniqueTopics(example), args: ['--config', config(example)] })
  const lines: string[] = []
  const service = await start(`${example}-test-${randomUUID()}`, (line) => lines.push(line))
  const hot = `hot-${randomUUID().slice(0, 6)}`
  const cool = `cool-${randomUUID().slice(0, 6)}`
  try {
    const hotDevice = await connect(wharf.url, { clientId: hot })
    const coolDevice = await connect(wharf.url, { clientId: cool })
    const gotHot = collect(hotDevice)
    const gotCool = collect(coolDevice)
    await hotDevice.subscribeAsync(`devices/${hot}/commands`, { qos: 1 })
    await coolDevice.subscribeAsync(`devices/${cool}/commands`, { qos: 1 })
    await coolDevice.publishAsync(`devices/${cool}/telemetry`, JSON.stringify({ temperature: 21 }), { qos: 1 })
    await hotDevice.publishAsync(`devices/${hot}/telemetry`, JSON.stringify({ temperature: 21 }), { qos: 1 })
    await hotDevice.publishAsync(`devices/${hot}/telemetry`, JSON.stringify({ temperature: 35.5 }), { qos: 1 })
    await until(() => gotHot.length === 1, 30000, `${example}: command to the hot device`)
    assert.deepEqual(gotHot[0], { topic: `devices/${hot}/commands`, payload: '{"command":"fan","on":true}', qos: 1, retain: false })
    // each device reports once more, below the threshold. The service reads a device's readings in
    // order (one key, one partition) and sends a reading's command before it takes the next one, so
    // once it logged these it has sent every command it was going to send for the earlier readings
    await coolDevice.publishAsync(`devices/${cool}/telemetry`, JSON.stringify({ temperature: 22.5 }), { qos: 1 })
    await hotDevice.publishAsync(`devices/${hot}/telemetry`, JSON.stringify({ temperature: 22.5 }), { qos: 1 })
    await until(() => [hot, cool].every(d => lines.some(l => l.includes(d) && l.includes('22.5'))), 15000, `${example}: the last readings seen`)
    // then a marker command per device: any command sent before reaches the device before it
    await sendMarkers(commands, [hot, cool])
    const marked = (got: Received[]): boolean => got.some(m => m.payload === MARKER)
    await until(() => marked(gotHot) && marked(gotCool), 30000, `${example}: the marker commands`)
    assert.deepEqual(gotCool, [{ topic: `devices/${cool}/commands`, payload: MARKER, qos: 1, retain: false }], 'no command to the cool device')
    assert.deepEqual(gotHot.map(m => m.payload), ['{"command":"fan","on":true}', MARKER], 'one command to the hot device')
    await end(hotDevice, coolDevice)
    return lines
  } finally {
    await service.stop()
    await wharf.stop()
  }
}

describe('examples/ end to end against a real Kafka', () => {
  it('telemetry-service (raw): reads telemetry by device key, commands one device through the rule\'s mqtt_topic', async () => {
    const lines = await runExample('telemetry-service', { topic: 'devices.commands', codec: rawCodec }, (groupId, log) => startTelemetryService({
      brokers: testBrokers(), telemetryTopic: 'devices.telemetry', commandsTopic: 'devices.commands', threshold: 30, groupId, fromBeginning: true, log
    }))
    assert.ok(lines.some((l) => /^hot-\w+ \(client hot-\w+, devices\/hot-\w+\/telemetry\): 35\.5 °C$/.test(l)), lines.join('\n'))
  })

  it('avro-service: decodes the Avro envelope with the shipped schema, commands one device by the envelope\'s topic', async () => {
    const lines = await runExample('avro-service', { topic: 'avro.commands', codec: avroCodec }, (groupId, log) => startAvroService({
      brokers: testBrokers(), telemetryTopic: 'avro.telemetry', commandsTopic: 'avro.commands', threshold: 30, groupId, fromBeginning: true, log
    }))
    assert.ok(lines.some((l) => /^devices\/hot-\w+\/telemetry from hot-\w+ \(user -\) via .+ at \d{4}-.*Z, QoS 1: \{"temperature":35\.5\}$/.test(l)), lines.join('\n'))
  })
})
