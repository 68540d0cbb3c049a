import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet'

/** An mqtt.js MQTT 5 client with its CONNACK and every PUBLISH it received (collected from before the CONNACK). */
export interface V5 { client: MqttClient; connack: IConnackPacket; got: IPublishPacket[] }

/** Connects an mqtt.js client with `protocolVersion: 5` (no reconnects) to 127.0.0.1:`port`. */
export async function v5 (port: number, opts: IClientOptions = {}): Promise<V5> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10000, ...opts })
  const got: IPublishPacket[] = []
  client.on('message', (_t, _p, packet) => got.push(packet))
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  return { client, connack, got }
}
