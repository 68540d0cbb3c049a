/**
 * Plays one fuzzing plan over one TCP connection and says how the server ended it: it closed the
 * connection (`closed`), answered the final PINGREQ (`answered`, so the connection was still served),
 * said nothing within the quiet time (`silent`: the fuzzer closes it), or refused the TCP connection.
 */
import { connect as tcpConnect } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import type { Plan } from './fuzz-cases.js'
import { Rng } from './rng.js'

export type Outcome = 'closed' | 'answered' | 'silent' | 'refused'

export interface ConnResult {
  outcome: Outcome
  /** packets written before the server closed the connection */
  written: number
  bytes: number
  /** the CONNACK return code, when one came */
  connack?: number
  /** the server wrote bytes that are not MQTT (mqtt-packet could not parse them) */
  serverGarbage: boolean
}

export function runPlan (host: string, port: number, plan: Plan, quietMs: number): Promise<ConnResult> {
  return new Promise(resolve => {
    const socket = tcpConnect({ host, port, noDelay: true })
    const result: ConnResult = { outcome: 'silent', written: 0, bytes: 0, serverGarbage: false }
    let done = false
    let connected = false
    let timer: NodeJS.Timeout | undefined
    const finish = (outcome: Outcome): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      result.outcome = outcome
      if (outcome === 'answered' && !plan.abrupt) socket.end(Buffer.from([0xe0, 0x00]))
      else socket.destroy()
      resolve(result)
    }
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connack') result.connack = p.returnCode
      if (p.cmd === 'pingresp') finish('answered')
    })
    parser.on('error', () => { result.serverGarbage = true })
    socket.on('data', chunk => parser.parse(chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => finish(connected ? 'closed' : 'refused'))
    socket.once('connect', () => {
      connected = true
      void write().then(() => { if (!done) timer = setTimeout(() => finish('silent'), quietMs) })
    })

    const writeChunk = (chunk: Buffer): Promise<void> => new Promise(r => socket.write(chunk, () => r()))
    async function write (): Promise<void> {
      const rng = new Rng(plan.chunkSeed, plan.index)
      for (const p of plan.packets) {
        if (done || socket.destroyed) return
        result.written++
        result.bytes += p.length
        if (plan.split === 'none') { socket.write(p); continue }
        for (let at = 0; at < p.length && !done;) {
          const n = plan.split === 'bytes' ? 1 : rng.between(1, 64)
          await writeChunk(p.subarray(at, at + n))
          at += n
        }
      }
    }
  })
}
