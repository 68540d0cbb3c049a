import mqtt, { type MqttClient, type IClientOptions } from 'mqtt'

/** An mqtt.js client connected (MQTT 3.1.1) to `url`; rejects on the first error. */
export async function connect (url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10000, ...opts })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
  })
  return client
}

export interface Received { topic: string; payload: string; qos: number; retain: boolean }

/** Collects every message a client receives. */
export function collect (client: MqttClient): Received[] {
  const got: Received[] = []
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }))
  return got
}

/** Poll until `pred()` holds or fail after `timeoutMs`. */
export async function until (pred: () => boolean, timeoutMs = 15000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Poll an asynchronous check (e.g. a read of a Kafka topic) until it holds or fail after `timeoutMs`. */
export async function untilAsync (pred: () => Promise<boolean>, timeoutMs = 30000, what = 'condition', everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

export function end (...clients: MqttClient[]): Promise<void> {
  return Promise.all(clients.map(c => c.endAsync(true))).then(() => undefined)
}
