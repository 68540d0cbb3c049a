import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { startAvroService } from '../../examples/avro-service/service.js'
import { startTelemetryService } from '../../examples/telemetry-service/service.js'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

const config = (example: string): string => fileURLToPath(new URL(`../../examples/${example}/wharf.yaml`, import.meta.url))

interface Service { readonly sent: number; stop (): Promise<void> }

/**
 * Runs one example service against Wharf started with the example's own wharf.yaml, as its README
 * says: a hot device gets exactly one command, on its own command topic; a cool one gets none.
 */
async function runExample (example: string, start: (groupId: string, log: (line: string) => void) => Promise<Service>): Promise<string[]> {
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
    await until(() => lines.filter((l) => l.includes(cool)).length >= 1, 15000, `${example}: the cool device's reading seen`)
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.deepEqual(gotCool, [], 'no command to the cool device')
    assert.equal(gotHot.length, 1)
    await end(hotDevice, coolDevice)
    return lines
  } finally {
    await service.stop()
    await wharf.stop()
  }
}

describe('examples/ end to end against a real Kafka', () => {
  it('telemetry-service (raw): reads telemetry by device key, commands one device through the rule\'s mqtt_topic', async () => {
    const lines = await runExample('telemetry-service', (groupId, log) => startTelemetryService({
      brokers: testBrokers(), telemetryTopic: 'devices.telemetry', commandsTopic: 'devices.commands', threshold: 30, groupId, fromBeginning: true, log
    }))
    assert.ok(lines.some((l) => /^hot-\w+ \(client hot-\w+, devices\/hot-\w+\/telemetry\): 35\.5 °C$/.test(l)), lines.join('\n'))
  })

  it('avro-service: decodes the Avro envelope with the shipped schema, commands one device by the envelope\'s topic', async () => {
    const lines = await runExample('avro-service', (groupId, log) => startAvroService({
      brokers: testBrokers(), telemetryTopic: 'avro.telemetry', commandsTopic: 'avro.commands', threshold: 30, groupId, fromBeginning: true, log
    }))
    assert.ok(lines.some((l) => /^devices\/hot-\w+\/telemetry from hot-\w+ \(user -\) via .+ at \d{4}-.*Z, QoS 1: \{"temperature":35\.5\}$/.test(l)), lines.join('\n'))
  })
})
