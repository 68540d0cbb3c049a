/**
 * The few calls of the Confluent Schema Registry REST API that Wharf makes, over Node's fetch:
 * register a schema under a subject, read a schema by id, read a subject's latest version.
 */

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json'

export interface SchemaRegistryOptions {
  url: string
  username?: string | undefined
  password?: string | undefined
  requestTimeoutMs: number
}

/** The registry answered with an error status (4xx: retrying will not help; 5xx: it may). */
export class SchemaRegistryRefused extends Error {
  override readonly name = 'SchemaRegistryRefused'
  constructor (readonly status: number, readonly errorCode: number | undefined, message: string) {
    super(message)
  }
}

export interface RegisteredSchema {
  id: number
  version: number
  /** the schema as JSON text */
  schema: string
  /** absent means AVRO */
  schemaType?: string
}

export class SchemaRegistryClient {
  private readonly base: string
  private readonly authorization: string | undefined

  constructor (private readonly options: SchemaRegistryOptions) {
    this.base = options.url.replace(/\/+$/, '')
    this.authorization = options.username === undefined
      ? undefined
      : `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`
  }

  get url (): string { return this.base }

  /** POST /subjects/{subject}/versions: the schema's id (the existing one when already registered). */
  async register (subject: string, schema: string): Promise<number> {
    const body = await this.call('POST', `/subjects/${encodeURIComponent(subject)}/versions`, JSON.stringify({ schema })) as { id?: unknown }
    if (typeof body.id !== 'number') throw new Error(`schema registry answered POST /subjects/${subject}/versions without an id`)
    return body.id
  }

  /** GET /schemas/ids/{id}: the schema text and its type (absent = AVRO). */
  async schemaById (id: number): Promise<{ schema: string; schemaType?: string }> {
    const body = await this.call('GET', `/schemas/ids/${id}`) as { schema?: unknown; schemaType?: unknown }
    if (typeof body.schema !== 'string') throw new Error(`schema registry answered GET /schemas/ids/${id} without a schema`)
    return typeof body.schemaType === 'string' ? { schema: body.schema, schemaType: body.schemaType } : { schema: body.schema }
  }

  /** GET /subjects/{subject}/versions/latest. */
  async latest (subject: string): Promise<RegisteredSchema> {
    const body = await this.call('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`) as Partial<RegisteredSchema>
    if (typeof body.id !== 'number' || typeof body.schema !== 'string') throw new Error(`schema registry answered GET /subjects/${subject}/versions/latest without id and schema`)
    return { id: body.id, version: body.version ?? 0, schema: body.schema, ...(body.schemaType === undefined ? {} : { schemaType: body.schemaType }) }
  }

  private async call (method: 'GET' | 'POST', path: string, body?: string): Promise<unknown> {
    const headers: Record<string, string> = { Accept: `${CONTENT_TYPE}, application/json` }
    if (body !== undefined) headers['Content-Type'] = CONTENT_TYPE
    if (this.authorization !== undefined) headers.Authorization = this.authorization
    const res = await fetch(this.base + path, { method, headers, body, signal: AbortSignal.timeout(this.options.requestTimeoutMs) })
    const text = await res.text()
    let json: unknown
    try {
      json = text === '' ? {} : JSON.parse(text)
    } catch {
      json = {}
    }
    if (!res.ok) {
      const e = json as { error_code?: unknown; message?: unknown }
      const detail = typeof e.message === 'string' ? e.message : text.slice(0, 200)
      throw new SchemaRegistryRefused(res.status, typeof e.error_code === 'number' ? e.error_code : undefined, `${method} ${path}: ${res.status} ${detail}`)
    }
    return json
  }
}
