import { topicsEnv, type WharfTopics } from './wharf-process.js'
import { wharf } from './wharf-cli.js'

/** A new API key made with the built `wharf api-keys add` (the way operators make them): `name:secret`. */
export async function addApiKey (brokers: string[], topics: WharfTopics, name: string): Promise<string> {
  const out = await wharf(['api-keys', 'add', name, '--desc', 'test'], { env: { WHARF_KAFKA__BROKERS: brokers.join(','), ...topicsEnv(topics) } })
  const line = out.trim()
  if (!line.startsWith(`${name}:`)) throw new Error(`wharf api-keys add printed ${JSON.stringify(out)}`)
  return line
}

export interface ApiReply<T = unknown> { status: number; body: T; headers: Headers }

/** One request to a node's REST API (`/api/v1<path>`) with basic authentication `key` (none when undefined). */
export async function apiCall<T = unknown> (httpPort: number, key: string | undefined, method: string, path: string, body?: unknown): Promise<ApiReply<T>> {
  const headers: Record<string, string> = {}
  if (key !== undefined) headers.authorization = `Basic ${Buffer.from(key).toString('base64')}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) })
  const text = await res.text()
  return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as T, headers: res.headers }
}
