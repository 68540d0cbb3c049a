import { connect } from 'node:net'
import { LOCALHOST } from './ports.js'

const METADATA_API_KEY = 3
/** Metadata v4: old enough to need no tagged fields, new enough to exist in Kafka 4.x (KIP-896). */
const METADATA_VERSION = 4
const API_VERSIONS_API_KEY = 18
/** ApiVersions v0: every broker answers it (it is how clients start negotiating), no tagged fields. */
const API_VERSIONS_VERSION = 0
const CLIENT_ID = 'wharf-local-kafka-probe'

/** A request (size prefix, v1 header without tagged fields, then `body`). */
function request (apiKey: number, apiVersion: number, correlationId: number, body: Buffer): Buffer {
  const clientId = Buffer.from(CLIENT_ID, 'utf8')
  const header = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length)
  let o = 0
  o = header.writeInt16BE(apiKey, o)
  o = header.writeInt16BE(apiVersion, o)
  o = header.writeInt32BE(correlationId, o)
  o = header.writeInt16BE(clientId.length, o)
  clientId.copy(header, o)
  const size = Buffer.alloc(4)
  size.writeInt32BE(header.length + body.length)
  return Buffer.concat([size, header, body])
}

/**
 * Sends one request to the broker at host:port on a fresh PLAINTEXT connection and returns the
 * response body after its correlation id; undefined when the broker does not answer in time or
 * the answer does not parse.
 */
async function ask<T> (port: number, host: string, timeoutMs: number, apiKey: number, apiVersion: number, body: Buffer, parse: (response: Buffer) => T): Promise<T | undefined> {
  const correlationId = 1 + Math.floor(Math.random() * 1_000_000)
  return await new Promise((resolve) => {
    const socket = connect({ port, host })
    const chunks: Buffer[] = []
    let received = 0
    const done = (result: T | undefined): void => {
      socket.removeAllListeners()
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMs, () => { done(undefined) })
    socket.once('error', () => { done(undefined) })
    socket.once('close', () => { done(undefined) })
    socket.once('connect', () => { socket.write(request(apiKey, apiVersion, correlationId, body)) })
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      received += chunk.length
      if (received < 4) return
      const all = Buffer.concat(chunks)
      const size = all.readInt32BE(0)
      if (all.length < 4 + size) return
      try {
        if (all.readInt32BE(4) !== correlationId) throw new Error('unexpected correlation id')
        done(parse(all.subarray(8, 4 + size)))
      } catch {
        done(undefined)
      }
    })
  })
}

/** The broker ids in a Metadata v4 response body. */
function parseBrokerIds (response: Buffer): number[] {
  let o = 4 // throttle_time_ms
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
  const body = Buffer.alloc(4 + 1)
  body.writeInt32BE(0, 0) // topics: none (an empty array, not null = all)
  body.writeInt8(0, 4) // allow_auto_topic_creation: false
  return await ask(port, host, timeoutMs, METADATA_API_KEY, METADATA_VERSION, body, parseBrokerIds)
}

/** The versions of one request a broker accepts. */
export interface ApiVersionRange { apiKey: number; min: number; max: number }

/** The ranges in an ApiVersions v0 response body; throws on an error code. */
function parseApiVersions (response: Buffer): ApiVersionRange[] {
  const errorCode = response.readInt16BE(0)
  if (errorCode !== 0) throw new Error(`ApiVersions error code ${errorCode}`)
  const count = response.readInt32BE(2)
  const ranges: ApiVersionRange[] = []
  for (let i = 0, o = 6; i < count; i++, o += 6) {
    ranges.push({ apiKey: response.readInt16BE(o), min: response.readInt16BE(o + 2), max: response.readInt16BE(o + 4) })
  }
  return ranges
}

/**
 * Every request the broker at host:port accepts, with its version range (ApiVersions v0); undefined
 * when it does not answer in time. Used to check what kafkajs negotiates with a Kafka version.
 */
export async function brokerApiVersions (port: number, host = LOCALHOST, timeoutMs = 3000): Promise<ApiVersionRange[] | undefined> {
  return await ask(port, host, timeoutMs, API_VERSIONS_API_KEY, API_VERSIONS_VERSION, Buffer.alloc(0), parseApiVersions)
}
