import { connect as tcpConnect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'

/**
 * A bare MQTT 3.1.1 (or, with `protocolVersion: 5`, MQTT 5) client over a TCP socket: it sends
 * exactly the packets a test writes and answers nothing by itself, so a test can stop a QoS 2
 * flow at any step.
 */
export class RawMqtt {
  readonly packets: Packet[] = []
  private waiters: Array<() => void> = []
  private readonly listeners: Array<(p: Packet) => void> = []
  /** resolves when the TCP connection is closed (by either side) */
  readonly closed: Promise<void>

  private constructor (private readonly socket: Socket, private readonly protocolVersion: 4 | 5) {
    const parser = mqttPacket.parser({ protocolVersion })
    parser.on('packet', (p: Packet) => {
      this.packets.push(p)
      for (const l of this.listeners) l(p)
      for (const w of this.waiters.splice(0)) w()
    })
    socket.on('data', (chunk) => parser.parse(chunk))
    this.closed = new Promise(resolve => socket.once('close', () => resolve()))
    socket.on('error', () => undefined)
  }

  static async connect (port: number, clientId: string, clean: boolean, protocolVersion: 4 | 5 = 4): Promise<{ client: RawMqtt; sessionPresent: boolean }> {
    const socket = tcpConnect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const client = new RawMqtt(socket, protocolVersion)
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId, clean, keepalive: 60 })
    const connack = await client.next(p => p.cmd === 'connack')
    if (connack.cmd !== 'connack' || (connack.returnCode ?? connack.reasonCode ?? 0) !== 0) throw new Error(`CONNECT refused: ${JSON.stringify(connack)}`)
    return { client, sessionPresent: connack.sessionPresent }
  }

  /** A connection that has sent nothing yet (the test writes the CONNECT itself). */
  static async open (port: number, protocolVersion: 4 | 5 = 4): Promise<RawMqtt> {
    const socket = tcpConnect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    return new RawMqtt(socket, protocolVersion)
  }

  send (packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.protocolVersion }))
  }

  /** The first packet received (from the start of the connection) that matches and was not taken yet. */
  /** Bytes as they are (a packet mqtt-packet would refuse to generate). */
  sendBytes (bytes: Buffer): void {
    this.socket.write(bytes)
  }

  async next (match: (p: Packet) => boolean, timeoutMs = 20000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.packets.findIndex(match)
      if (i >= 0) return this.packets.splice(i, 1)[0] as Packet
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no matching packet within ${timeoutMs} ms; got ${this.packets.map(p => p.cmd).join(', ')}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** `listener(packet)` for every packet received from now on (e.g. to acknowledge PUBLISHes). */
  onPacket (listener: (p: Packet) => void): void {
    this.listeners.push(listener)
  }

  /** Stop reading the socket: the broker's writes pile up in the kernel, then in the broker. */
  pause (): void { this.socket.pause() }

  /** Read the socket again. */
  resume (): void { this.socket.resume() }

  /** Drop the TCP connection without DISCONNECT. */
  drop (): void { this.socket.destroy() }

  disconnect (): void {
    this.send({ cmd: 'disconnect' })
    this.socket.end()
  }
}
