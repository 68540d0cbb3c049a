import { connect } from 'node:net'
import { LOCALHOST } from './ports.js'

const METADATA_API_KEY = 3
/** Metadata v4: old enough to need no tagged fields, new enough to exist in Kafka 4.x (KIP-896). */
const METADATA_VERSION = 4
const CLIENT_ID = 'wharf-local-kafka-probe'

function metadataRequest (correlationId: number): Buffer {
  const clientId = Buffer.from(CLIENT_ID, 'utf8')
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length + 4 + 1)
  let o = 0
  o = body.writeInt16BE(METADATA_API_KEY, o)
  o = body.writeInt16BE(METADATA_VERSION, o)
  o = body.writeInt32BE(correlationId, o)
  o = body.writeInt16BE(clientId.length, o)
  o += clientId.copy(body, o)
  o = body.writeInt32BE(0, o) // topics: none (an empty array, not null = all)
  body.writeInt8(0, o) // allow_auto_topic_creation: false
  const size = Buffer.alloc(4)
  size.writeInt32BE(body.length)
  return Buffer.concat([size, body])
}

/** The broker ids in a Metadata v4 response (after its size prefix). */
function parseBrokerIds (response: Buffer, correlationId: number): number[] {
  let o = 0
  if (response.readInt32BE(o) !== correlationId) throw new Error('unexpected correlation id')
  o += 4
  o += 4 // throttle_time_ms
  const count = response.readInt32BE(o)
  o += 4
  const ids: number[] = []
  for (let i = 0; i < count; i++) {
    ids.push(response.readInt32BE(o))
    o += 4
    o += 2 + response.readInt16BE(o) // host
    o += 4 // port
    const rack = response.readInt16BE(o)
    o += 2 + Math.max(rack, 0)
  }
  return ids.sort((a, b) => a - b)
}

/**
 * The broker ids that the broker at host:port itself lists in its metadata (registered and not
 * fenced), asked with one raw Metadata request; undefined when it does not answer in time.
 * Asking each broker directly matters: a client library asks a random one, and right after a
 * start one broker's metadata can lag another's.
 */
export async function brokerIdsSeenBy (port: number, host = LOCALHOST, timeoutMs = 3000): Promise<number[] | undefined> {
  const correlationId = 1 + Math.floor(Math.random() * 1_000_000)
  return await new Promise((resolve) => {
    const socket = connect({ port, host })
    const chunks: Buffer[] = []
    let received = 0
    const done = (ids: number[] | undefined): void => {
      socket.removeAllListeners()
      socket.destroy()
      resolve(ids)
    }
    socket.setTimeout(timeoutMs, () => { done(undefined) })
    socket.once('error', () => { done(undefined) })
    socket.once('close', () => { done(undefined) })
    socket.once('connect', () => { socket.write(metadataRequest(correlationId)) })
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      received += chunk.length
      if (received < 4) return
      const all = Buffer.concat(chunks)
      const size = all.readInt32BE(0)
      if (all.length < 4 + size) return
      try {
        done(parseBrokerIds(all.subarray(4, 4 + size), correlationId))
      } catch {
        done(undefined)
      }
    })
  })
}
