import { createServer, connect } from 'node:net'

export const LOCALHOST = '127.0.0.1'

/** True when nothing listens on host:port, i.e. a server can bind it right now. */
export async function isPortFree (port: number, host = LOCALHOST): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => { resolve(false) })
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => { resolve(true) })
    })
  })
}

/** A port the operating system hands out as free right now (for a single listener). */
export async function findFreePort (host = LOCALHOST): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => {
        if (port > 0) resolve(port)
        else reject(new Error('could not find a free port'))
      })
    })
  })
}

/**
 * `count` consecutive free ports, starting at the returned number. Chosen at random below the
 * Linux ephemeral range (32768+) so that outgoing connections do not grab them between the check
 * and the moment Kafka binds them.
 */
export async function findFreePortBlock (count: number, host = LOCALHOST): Promise<number> {
  const low = 20000
  const high = 32000 - count
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = low + 2 * Math.floor(Math.random() * ((high - low) / 2))
    if (await arePortsFree(range(base, count), host)) return base
  }
  throw new Error(`could not find ${count} consecutive free ports on ${host}`)
}

export async function arePortsFree (ports: number[], host = LOCALHOST): Promise<boolean> {
  for (const port of ports) {
    if (!await isPortFree(port, host)) return false
  }
  return true
}

/** True when a TCP connection to host:port succeeds within timeoutMs. */
export async function canConnect (port: number, host = LOCALHOST, timeoutMs = 1000): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ port, host })
    const done = (ok: boolean): void => {
      socket.removeAllListeners()
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => { done(false) })
    socket.once('connect', () => { done(true) })
    socket.once('error', () => { done(false) })
  })
}

function range (start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i)
}
