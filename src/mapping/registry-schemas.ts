import avro from 'avsc'
import type { Logger } from '../observability/logger.js'
import { sleep } from '../util/async.js'
import { ENVELOPE_SCHEMA_TEXT, envelopeType } from './avro-envelope.js'
import type { SchemaRegistrySpec } from './mapping-rules.js'
import { SchemaRegistryClient, SchemaRegistryRefused } from './schema-registry-client.js'

/** How a record written with one schema id is read: a resolver (none = the shipped schema itself), or why not. */
export type SchemaReader = { resolver: avro.Resolver | undefined } | { error: string }

/** Registration could not be done at start; the message names the configuration key. */
export class SchemaRegistrationFailed extends Error {
  override readonly name = 'SchemaRegistrationFailed'
}

/** Delays between start-time attempts while the registry is unreachable or answers 5xx. */
export const REGISTER_RETRY_MS = [500, 1000, 2000, 4000]
/** A schema id the registry did not answer for is asked again after this long. */
const FETCH_RETRY_AFTER_MS = 30_000

/**
 * The writer schemas of one schema registry, by id, for synchronous decoding: the shipped
 * envelope (registered at start), each subject's latest version (read at start), and any other id
 * a record names (fetched by `fetch` before its batch is decoded). Shared by every `avro` topic.
 */
export class RegistrySchemas {
  private readonly readers = new Map<number, SchemaReader>()
  private readonly unanswered = new Map<number, { error: string; retryAt: number }>()
  private readonly inflight = new Map<number, Promise<void>>()
  private readonly log: Logger

  constructor (readonly client: SchemaRegistryClient, logger: Logger, private readonly retryMs: readonly number[] = REGISTER_RETRY_MS) {
    this.log = logger.child({ component: 'schema-registry' })
  }

  /**
   * Registers the shipped envelope under `subject` (or finds it registered) and learns the
   * subject's latest version; retries while the registry is unreachable. Its id.
   */
  async register (subject: string): Promise<number> {
    const id = await this.atStart(subject, 'register the Avro envelope', () => this.client.register(subject, ENVELOPE_SCHEMA_TEXT))
    this.readers.set(id, { resolver: undefined })
    const latest = await this.atStart(subject, 'read the latest version', () => this.client.latest(subject))
    if (latest.id !== id) this.learn(latest.id, latest.schema, latest.schemaType)
    this.log.info({ subject, schemaId: id, latestSchemaId: latest.id, latestVersion: latest.version, registry: this.client.url }, 'Avro envelope schema registered')
    return id
  }

  /** How to read records of schema `id`; undefined when it has to be fetched first. */
  reader (id: number): SchemaReader | undefined {
    const known = this.readers.get(id)
    if (known !== undefined) return known
    const failed = this.unanswered.get(id)
    if (failed !== undefined && Date.now() < failed.retryAt) return { error: failed.error }
    return undefined
  }

  /** Fetches the writer schemas of these ids (GET /schemas/ids/{id}); never rejects. */
  async fetch (ids: readonly number[]): Promise<void> {
    await Promise.all([...new Set(ids)].map((id) => {
      let pending = this.inflight.get(id)
      if (pending === undefined) {
        pending = this.fetchOne(id).finally(() => this.inflight.delete(id))
        this.inflight.set(id, pending)
      }
      return pending
    }))
  }

  private async fetchOne (id: number): Promise<void> {
    try {
      const { schema, schemaType } = await this.client.schemaById(id)
      this.learn(id, schema, schemaType)
      this.unanswered.delete(id)
    } catch (err) {
      const error = err instanceof SchemaRegistryRefused && err.status === 404 ? `schema id ${id} not in the schema registry` : `schema registry did not answer for schema id ${id}`
      this.unanswered.set(id, { error, retryAt: Date.now() + FETCH_RETRY_AFTER_MS })
      this.log.warn({ err, schemaId: id, retryInMs: FETCH_RETRY_AFTER_MS }, 'could not fetch a writer schema; its records are skipped meanwhile')
    }
  }

  /** Builds the resolver from writer schema `id` to the shipped envelope (Avro schema resolution). */
  private learn (id: number, schema: string, schemaType: string | undefined): void {
    if (schemaType !== undefined && schemaType !== 'AVRO') {
      this.readers.set(id, { error: `schema id ${id} is a ${schemaType} schema, not Avro` })
      return
    }
    try {
      const writer = avro.Type.forSchema(JSON.parse(schema) as avro.Schema)
      this.readers.set(id, { resolver: envelopeType.createResolver(writer) })
    } catch (err) {
      this.readers.set(id, { error: `schema id ${id} cannot be read as the Wharf envelope` })
      this.log.warn({ err, schemaId: id }, 'writer schema cannot be resolved against the Wharf envelope; its records are skipped')
    }
  }

  private async atStart<T> (subject: string, what: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call()
      } catch (err) {
        const retriable = !(err instanceof SchemaRegistryRefused) || err.status >= 500
        const delay = this.retryMs[attempt]
        const cause = (err as Error).message + causeText(err)
        if (!retriable || delay === undefined) {
          const tries = retriable ? ` after ${attempt + 1} attempts` : ''
          throw new SchemaRegistrationFailed(`mapping.schema_registry.url: could not ${what} for subject ${subject} at ${this.client.url}${tries}: ${cause}`, { cause: err })
        }
        this.log.warn({ subject, attempt: attempt + 1, retryInMs: delay, err: cause }, 'schema registry not reachable yet')
        await sleep(delay)
      }
    }
  }
}

/** fetch's "fetch failed" hides the reason (ECONNREFUSED, ENOTFOUND) in `cause`. */
function causeText (err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause
  if (cause === undefined) return ''
  return ` (${typeof cause.code === 'string' ? cause.code : String(cause.message)})`
}

/** The registry of `mapping.schema_registry`, or undefined when none is configured. */
export function registrySchemasFor (spec: SchemaRegistrySpec | undefined, logger: Logger): RegistrySchemas | undefined {
  if (spec === undefined) return undefined
  const client = new SchemaRegistryClient({ url: spec.url, username: spec.username, password: spec.password, requestTimeoutMs: spec.request_timeout_ms })
  return new RegistrySchemas(client, logger)
}
