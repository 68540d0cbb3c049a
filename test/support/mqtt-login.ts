import { execFile } from 'node:child_process'
import { connect as tcpConnect } from 'node:net'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { until } from './mqtt-client.js'

/**
 * What a CONNECT gets: 0 and the connected mqtt.js client, or the CONNACK return code of a refusal
 * (4 bad user name or password, 5 not authorized, ...). `localAddress` picks the source address
 * (any 127.x.y.z), so tests can tell clients apart by address as bans do.
 */
export async function login (port: number, opts: IClientOptions & { localAddress?: string } = {}): Promise<{ code: number; client?: MqttClient }> {
  const { localAddress, ...options } = opts
  const client = new mqtt.MqttClient(() => tcpConnect({ port, host: '127.0.0.1', localAddress }), {
    protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10000, ...options
  })
  return await new Promise((resolve, reject) => {
    client.once('connect', () => resolve({ code: 0, client }))
    client.once('error', (err: Error & { code?: unknown }) => {
      client.end(true)
      if (typeof err.code === 'number') resolve({ code: err.code })
      else reject(err)
    })
  })
}

/** The CONNACK return code of a login; the client is closed again. */
export async function loginCode (port: number, opts: IClientOptions & { localAddress?: string } = {}): Promise<number> {
  const r = await login(port, opts)
  await r.client?.endAsync()
  return r.code
}

export interface RawConnect {
  clientId: string
  clean: boolean
  username?: string
  password?: string
  /** 4 = MQTT 3.1.1 (default), 3 = MQTT 3.1 */
  protocolVersion?: 3 | 4
}

function utf8Field (s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}

/**
 * A CONNECT written byte by byte, for what client libraries refuse to send (a zero-length client
 * id with clean session 0): resolves with the CONNACK return code, or 'closed' when the server
 * closed the connection without one.
 */
export async function rawConnack (port: number, c: RawConnect): Promise<number | 'closed'> {
  const v3 = c.protocolVersion === 3
  let flags = c.clean ? 0x02 : 0
  if (c.username !== undefined) flags |= 0x80
  if (c.password !== undefined) flags |= 0x40
  const variable = Buffer.concat([utf8Field(v3 ? 'MQIsdp' : 'MQTT'), Buffer.from([v3 ? 3 : 4, flags, 0, 60])])
  const payload = Buffer.concat([utf8Field(c.clientId), ...(c.username === undefined ? [] : [utf8Field(c.username)]), ...(c.password === undefined ? [] : [utf8Field(c.password)])])
  const rest = variable.length + payload.length
  const len: number[] = []
  let x = rest
  do { let b = x % 128; x = Math.floor(x / 128); if (x > 0) b |= 0x80; len.push(b) } while (x > 0)
  const packet = Buffer.concat([Buffer.from([0x10, ...len]), variable, payload])
  return await new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(packet))
    let got = Buffer.alloc(0)
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d])
      if (got.length >= 4) {
        socket.destroy()
        if (got[0] !== 0x20) reject(new Error(`expected a CONNACK, got ${got.toString('hex')}`))
        else resolve(got[3] as number)
      }
    })
    socket.once('close', () => resolve('closed'))
    socket.once('error', reject)
  })
}

export interface ToolResult { code: number; stdout: string; stderr: string }

/** Runs mosquitto_pub / mosquitto_sub (Debian's mosquitto-clients); its exit code is the CONNACK code of a refusal. */
export function mosquitto (tool: 'mosquitto_pub' | 'mosquitto_sub', args: string[], timeoutMs = 20000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

/** A mosquitto_sub running in the background (`-v` gives `topic payload` lines). */
export interface MosquittoSubscriber { lines: () => string[]; stop: () => void }

/** Starts `mosquitto_sub <args>` and keeps what it prints. */
export function mosquittoSubscriber (args: string[]): MosquittoSubscriber {
  const child = execFile('mosquitto_sub', args)
  let out = ''
  child.stdout?.on('data', (d: string) => { out += d })
  return { lines: () => out.split('\n').filter(l => l !== ''), stop: () => { child.kill() } }
}

/** Until a mosquitto_sub (`-v`) prints a probe message `publisher` sends to `topic` (it has subscribed then). */
export async function untilSubscribed (sub: { lines: () => string[] }, publisher: MqttClient, topic: string): Promise<void> {
  for (let i = 0; ; i++) {
    await publisher.publishAsync(topic, `probe-${i}`, { qos: 1 })
    const seen = await until(() => sub.lines().some(l => l.startsWith(`${topic} probe-`)), 300).then(() => true, () => false)
    if (seen) return
    if (i > 60) throw new Error('mosquitto_sub did not subscribe')
  }
}
