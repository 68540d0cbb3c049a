import type { Socket } from 'node:net'
import { parseProxyHeader, type ProxyHeader } from './proxy-protocol.js'

/** Why a connection that had to start with a PROXY header did not give one. */
export class ProxyHeaderError extends Error {
  override readonly name = 'ProxyHeaderError'
  /** `invalid`: bad bytes; `timeout`: nothing complete in time; `closed`: the peer went away first. */
  readonly reason: 'invalid' | 'timeout' | 'closed'

  constructor (reason: ProxyHeaderError['reason'], message: string) {
    super(message)
    this.reason = reason
  }
}

/**
 * Reads the PROXY protocol header off the start of a socket, waiting at most `timeoutMs`. On
 * success the socket is left paused with the bytes that followed the header put back (unshift),
 * so whoever reads it next sees the stream exactly as the client sent it. Paused explicitly: a
 * 'data' listener alone does not start it (`resume()`, `pipe`, a 'readable' listener and TLS do).
 * On failure the socket is left as it is: the caller closes it.
 */
export function readProxyHeader (socket: Socket, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0)
    const finish = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
    }
    const fail = (error: ProxyHeaderError): void => {
      finish()
      socket.pause()
      reject(error)
    }
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
      const parsed = parseProxyHeader(received)
      if (parsed.kind === 'incomplete') return
      if (parsed.kind === 'invalid') {
        fail(new ProxyHeaderError('invalid', parsed.reason))
        return
      }
      finish()
      socket.pause()
      if (received.length > parsed.length) socket.unshift(received.subarray(parsed.length))
      resolve(parsed.header)
    }
    const onClose = (): void => fail(new ProxyHeaderError('closed', 'the connection closed before its PROXY header'))
    const timer = setTimeout(() => fail(new ProxyHeaderError('timeout', `no PROXY header within ${timeoutMs} ms`)), timeoutMs)
    socket.on('data', onData)
    socket.once('close', onClose)
  })
}
