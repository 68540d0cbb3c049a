import { createRequire } from 'node:module'
import type { Kafka, KafkaMessage } from 'kafkajs'

/**
 * The one place where Wharf's own Kafka reading (kafka/partition-fetcher.ts) reaches into kafkajs
 * 2.2.4 below its public API, the way kafka/kafkajs-encoder.ts does for producing. kafkajs reads only
 * through consumer groups and decodes every record it fetches; the fetcher needs neither, but it does
 * want kafkajs' connection machinery (TLS, SASL, request queue and timeouts, metadata, leaders,
 * retries of connects), so it takes exactly these pieces:
 *
 * - a `Cluster` made by the Kafka client's own private factory (same brokers, TLS, SASL, logger and
 *   retry settings as every other client of the node);
 * - `cluster.findBroker`, `refreshMetadata`, `addMultipleTargetTopics`, `findTopicPartitionMetadata`,
 *   `fetchTopicsOffset` (ListOffsets, one request per leader);
 * - a broker's `connectionPool.send({ request, response })`, with kafkajs' Fetch v11 request encoder
 *   and Wharf's own response decoder in place of kafkajs' (which would decode every record);
 * - the compression codec registry (`CompressionCodecs`: GZIP built in, others when registered), and
 *   kafkajs' legacy message-set decoder for the magic 0/1 record sets older logs may still hold.
 *
 * Everything is checked once, on first use: the installed version must be 2.2.4 (the last release)
 * and every piece must have the shape this was written against; otherwise `KafkajsInternalsMissing`
 * names the installed kafkajs version and what is missing.
 */

const require = createRequire(import.meta.url)
const SUPPORTED_VERSION = '2.2.4'

/** kafkajs is not the version (or shape) the fetcher was written against. */
export class KafkajsInternalsMissing extends Error {
  constructor (version: string, what: string) {
    super(`Wharf's partition fetcher needs kafkajs ${SUPPORTED_VERSION} internals (installed: kafkajs ${version}): ${what}`)
    this.name = 'KafkajsInternalsMissing'
  }
}

/** One partition as kafkajs' metadata cache holds it. */
export interface PartitionMetadata {
  partitionId: number
  leader: number
  partitionErrorCode?: number
}

/** A request as kafkajs' request encoders make it. */
export interface ProtocolRequest {
  apiKey: number
  apiVersion: number
  apiName: string
  encode: () => Promise<unknown>
}

/** What `connection.send` uses to turn the response payload into a result. */
export interface ResponseDecoder<T> {
  decode: (payload: Buffer) => Promise<T & { clientSideThrottleTime?: number }>
  parse: (decoded: T) => Promise<T>
}

export interface KafkajsBroker {
  nodeId: number
  versions: Record<number, { minVersion: number; maxVersion: number } | undefined> | null
  connectionPool: {
    send: <T>(protocolRequest: { request: ProtocolRequest; response: ResponseDecoder<T>; requestTimeout?: number }) => Promise<T>
  }
  disconnect: () => Promise<void>
}

export interface KafkajsCluster {
  connect: () => Promise<void>
  disconnect: () => Promise<void>
  refreshMetadata: () => Promise<void>
  addMultipleTargetTopics: (topics: string[]) => Promise<void>
  findBroker: (args: { nodeId: number | string }) => Promise<KafkajsBroker>
  findTopicPartitionMetadata: (topic: string) => PartitionMetadata[]
  fetchTopicsOffset: (topics: Array<{ topic: string; partitions: Array<{ partition: number }>; fromBeginning: boolean }>) =>
  Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>
}

export interface FetchRequestPartition {
  partition: number
  fetchOffset: string
  maxBytes: number
}

export interface FetchRequestArgs {
  replicaId: number
  maxWaitTime: number
  minBytes: number
  maxBytes: number
  isolationLevel: number
  topics: Array<{ topic: string; partitions: FetchRequestPartition[] }>
}

export interface CompressionCodec {
  decompress: (buffer: Buffer) => Promise<Buffer>
}

export interface KafkajsInternals {
  version: string
  /** a Cluster of this Kafka client: its own connections, the client's settings */
  createCluster: (kafka: Kafka, opts: { isolationLevel: number; metadataMaxAge?: number }) => KafkajsCluster
  /** kafkajs' Fetch v11 request (the version whose response carries record batches and log start offsets) */
  fetchRequest: (args: FetchRequestArgs) => ProtocolRequest
  /** the codec of a record batch's compression attribute; null for none; throws when not registered */
  codecFor: (attributes: number) => CompressionCodec | null
  /** kafkajs' decoder of a legacy (magic 0/1) message set */
  decodeMessageSet: (records: Buffer) => Promise<KafkaMessage[]>
}

export const FETCH_API_KEY = 1
export const FETCH_VERSION = 11
export const ISOLATION_READ_UNCOMMITTED = 0
export const ISOLATION_READ_COMMITTED = 1

let loaded: KafkajsInternals | undefined

function installedVersion (): string {
  try {
    return (require('kafkajs/package.json') as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function requireShape<T> (version: string, path: string, check: (m: T) => boolean, what: string): T {
  let mod: T
  try {
    mod = require(path) as T
  } catch {
    throw new KafkajsInternalsMissing(version, `cannot load ${path}`)
  }
  if (!check(mod)) throw new KafkajsInternalsMissing(version, `${path}: ${what}`)
  return mod
}

const isFunction = (v: unknown): boolean => typeof v === 'function'

/** The checked kafkajs internals; throws KafkajsInternalsMissing when they are not there. */
export function kafkajsInternals (): KafkajsInternals {
  if (loaded !== undefined) return loaded
  const version = installedVersion()
  if (version !== SUPPORTED_VERSION) throw new KafkajsInternalsMissing(version, 'a different kafkajs release is installed')

  type ClusterCtor = { prototype: Record<string, unknown> }
  const Cluster = requireShape<ClusterCtor>(version, 'kafkajs/src/cluster/index.js', (c) =>
    ['connect', 'disconnect', 'refreshMetadata', 'addMultipleTargetTopics', 'findBroker', 'findTopicPartitionMetadata', 'fetchTopicsOffset']
      .every((m) => isFunction(c.prototype?.[m])), 'Cluster lacks a method the fetcher uses')
  requireShape<{ prototype: Record<string, unknown> }>(version, 'kafkajs/src/network/connectionPool.js', (c) => isFunction(c.prototype?.send), 'ConnectionPool.send is missing')
  const fetchV11 = requireShape<(args: object) => ProtocolRequest>(version, 'kafkajs/src/protocol/requests/fetch/v11/request.js', isFunction, 'not a request encoder')
  const compression = requireShape<{ lookupCodecByAttributes: (a: number) => CompressionCodec | null }>(version, 'kafkajs/src/protocol/message/compression/index.js', (m) => isFunction(m.lookupCodecByAttributes), 'lookupCodecByAttributes is missing')
  const Decoder = requireShape<new (b: Buffer) => unknown>(version, 'kafkajs/src/protocol/decoder.js', isFunction, 'Decoder is missing')
  const messageSet = requireShape<(d: unknown, size: number) => Promise<KafkaMessage[]>>(version, 'kafkajs/src/protocol/messageSet/decoder.js', isFunction, 'not a decoder')

  loaded = {
    version,
    createCluster (kafka, opts) {
      const symbol = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster')
      const factory = symbol === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[symbol]
      if (typeof factory !== 'function') throw new KafkajsInternalsMissing(version, 'the Kafka client has no private cluster factory')
      const cluster = (factory as (o: object) => KafkajsCluster)({
        allowAutoTopicCreation: false,
        isolationLevel: opts.isolationLevel,
        ...(opts.metadataMaxAge === undefined ? {} : { metadataMaxAge: opts.metadataMaxAge })
      })
      if (!(cluster instanceof (Cluster as unknown as new () => object))) throw new KafkajsInternalsMissing(version, 'the cluster factory made something else than a Cluster')
      return cluster
    },
    fetchRequest: (args) => fetchV11(args),
    codecFor: (attributes) => compression.lookupCodecByAttributes(attributes),
    decodeMessageSet: async (records) => await messageSet(new Decoder(records), records.length)
  }
  return loaded
}

/** True when the broker speaks Fetch v11 (Kafka 2.3 and later). */
export function brokerSupportsFetchV11 (broker: KafkajsBroker): boolean {
  const range = broker.versions?.[FETCH_API_KEY]
  return range !== undefined && range.minVersion <= FETCH_VERSION && range.maxVersion >= FETCH_VERSION
}

/** kafkajs' Produce request definition (`protocol/requests/produce`): `protocol({ version })` is looked up on it per request. */
export interface ProduceDefinition {
  versions: string[]
  protocol: (opts: { version: number }) => (args: object) => { request: ProtocolRequest; response: unknown }
}

/** The pieces of kafkajs the Produce fast path (kafka/kafkajs-produce.ts) uses. */
export interface KafkajsProduceInternals {
  version: string
  /** the definition every Broker's `produce` looks its request up in (a shared module object) */
  produce: ProduceDefinition
  /** wraps finished bytes into a kafkajs Encoder (what `encode()` must return) */
  encoderOf: (bytes: Buffer) => unknown
  int64Bits: (value: unknown) => { high: number; low: number }
}

let produceLoaded: KafkajsProduceInternals | undefined

/**
 * The checked kafkajs internals of the Produce fast path: the Produce request definition (its
 * versions 3 to 7 share one layout, v3's), the Encoder class and Long. Throws
 * KafkajsInternalsMissing when the installed kafkajs is not 2.2.4 or lacks one of them.
 */
export function kafkajsProduceInternals (): KafkajsProduceInternals {
  if (produceLoaded !== undefined) return produceLoaded
  const version = installedVersion()
  if (version !== SUPPORTED_VERSION) throw new KafkajsInternalsMissing(version, 'a different kafkajs release is installed')
  const produce = requireShape<ProduceDefinition>(version, 'kafkajs/src/protocol/requests/produce/index.js', (m) =>
    isFunction(m.protocol) && Array.isArray(m.versions) && ['3', '7'].every((v) => m.versions.includes(v)), 'the Produce definition has no protocol() or not versions 3..7')
  const requests = requireShape<{ requests: Record<string, unknown> }>(version, 'kafkajs/src/protocol/requests/index.js', (m) => typeof m.requests === 'object', 'requests is missing')
  if (requests.requests.Produce !== produce) throw new KafkajsInternalsMissing(version, 'brokers do not look Produce requests up in protocol/requests/produce')
  const Encoder = requireShape<new () => { buf: Buffer; offset: number }>(version, 'kafkajs/src/protocol/encoder.js', isFunction, 'Encoder is missing')
  const Long = requireShape<{ fromValue: (v: unknown) => { getHighBits: () => number; getLowBits: () => number } }>(version, 'kafkajs/src/utils/long.js', (m) => isFunction(m.fromValue), 'Long.fromValue is missing')
  produceLoaded = {
    version,
    produce,
    encoderOf (bytes) {
      const encoder = new Encoder()
      encoder.buf = bytes
      encoder.offset = bytes.length
      return encoder
    },
    int64Bits (value) {
      const long = Long.fromValue(value)
      return { high: long.getHighBits(), low: long.getLowBits() }
    }
  }
  return produceLoaded
}
