import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A STAND-IN for the Confluent Schema Registry API, for the unit tests of the registry client and
 * codec (test/unit/avro-codec.test.ts) and the format benchmark. The integration tests run against
 * a real registry instead (Apicurio Registry, test/support/apicurio-registry.ts). This stays for
 * what a real registry cannot be made to do: list every request it received (which calls were
 * made, that a 4xx is not retried) and answer every request with a chosen status on demand
 * (`failWith`, e.g. 503 or 409 for any call). It serves exactly what Wharf calls, with the same
 * paths, bodies and content type:
 *   POST /subjects/{subject}/versions   {"schema": "..."} -> {"id": n}   (same schema = same id)
 *   GET  /schemas/ids/{id}                                  -> {"schema": "..."}
 *   GET  /subjects/{subject}/versions/latest                -> {"subject", "version", "id", "schema"}
 * Errors as Confluent's: {"error_code": 40401, "message": "..."}. No compatibility checks.
 */
export class SchemaRegistryStandIn {
  private readonly schemas: string[] = []
  private readonly subjects = new Map<string, number[]>()
  /** every request, in order: "METHOD path content-type" */
  readonly requests: string[] = []
  /** answer every request with this status while set (e.g. 503) */
  failWith: number | undefined

  private constructor (private readonly server: Server) {}

  static async start (): Promise<SchemaRegistryStandIn> {
    const standIn = new SchemaRegistryStandIn(createServer())
    standIn.server.on('request', (req: IncomingMessage, res: ServerResponse) => { void standIn.handle(req, res) })
    await new Promise<void>((resolve) => standIn.server.listen(0, '127.0.0.1', resolve))
    return standIn
  }

  get url (): string { return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}` }

  /** Registers a schema directly (as another producer would); its id. */
  register (subject: string, schema: string): number {
    const normalized = JSON.stringify(JSON.parse(schema))
    let id = this.schemas.indexOf(normalized) + 1
    if (id === 0) id = this.schemas.push(normalized)
    const versions = this.subjects.get(subject) ?? []
    if (!versions.includes(id)) versions.push(id)
    this.subjects.set(subject, versions)
    return id
  }

  async close (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = ''
    for await (const chunk of req) body += String(chunk)
    const path = req.url ?? ''
    this.requests.push(`${req.method ?? ''} ${path} ${req.headers['content-type'] ?? ''}`)
    const send = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify(value))
    }
    if (this.failWith !== undefined) return send(this.failWith, { error_code: this.failWith * 100, message: 'stand-in told to fail' })
    let m: RegExpMatchArray | null
    if (req.method === 'POST' && (m = path.match(/^\/subjects\/([^/]+)\/versions$/)) !== null) {
      if (req.headers['content-type'] !== 'application/vnd.schemaregistry.v1+json') return send(415, { error_code: 415, message: 'unsupported content type' })
      const schema = (JSON.parse(body) as { schema?: unknown }).schema
      if (typeof schema !== 'string') return send(422, { error_code: 42201, message: 'Invalid schema' })
      return send(200, { id: this.register(decodeURIComponent(m[1] as string), schema) })
    }
    if (req.method === 'GET' && (m = path.match(/^\/schemas\/ids\/(\d+)$/)) !== null) {
      const schema = this.schemas[Number(m[1]) - 1]
      return schema === undefined ? send(404, { error_code: 40403, message: 'Schema not found' }) : send(200, { schema })
    }
    if (req.method === 'GET' && (m = path.match(/^\/subjects\/([^/]+)\/versions\/latest$/)) !== null) {
      const subject = decodeURIComponent(m[1] as string)
      const versions = this.subjects.get(subject)
      const id = versions?.[versions.length - 1]
      if (versions === undefined || id === undefined) return send(404, { error_code: 40401, message: 'Subject not found' })
      return send(200, { subject, version: versions.length, id, schema: this.schemas[id - 1] })
    }
    send(404, { error_code: 404, message: 'HTTP 404 Not Found' })
  }
}
