import { loadOrExit } from './start-command.js'
import { fail } from './auth-kafka.js'

/** Where `wharf clients ...` and `wharf publish` send their requests, and with which key. */
export interface ApiTarget { url: string; key: string }

export interface ApiOptions { url?: string; key?: string; config?: string }

/** The API options every command that talks to a node takes. */
export const API_OPTIONS: Array<[string, string]> = [
  ['--url <url>', 'a node\'s HTTP port (default: $WHARF_API_URL, else http://127.0.0.1:<http.port>)'],
  ['--key <name:secret>', 'an API key (default: $WHARF_API_KEY)'],
  ['-c, --config <file>', 'YAML configuration file, for http.port (default: $WHARF_CONFIG)']
]

/** The node and key to use, from the options, the environment, then the configuration. */
export function apiTarget (opts: ApiOptions): ApiTarget {
  const key = opts.key ?? process.env.WHARF_API_KEY
  if (key === undefined || !key.includes(':')) fail('an API key is needed: --key name:secret or WHARF_API_KEY (wharf api-keys add <name>)', 2)
  let url = opts.url ?? process.env.WHARF_API_URL
  if (url === undefined) {
    const config = loadOrExit(opts.config)
    url = `${config.http.ssl_options === undefined ? 'http' : 'https'}://127.0.0.1:${config.http.port}`
  }
  return { url: url.replace(/\/+$/, ''), key }
}

/**
 * One call to `/api/v1<path>`; the parsed body (null for 204). An error answer ends the command
 * with exit code 1 and the API's message (`wharf: 404 CLIENT_NOT_FOUND: no client x`).
 */
export async function callApi<T> (t: ApiTarget, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  let res: Response
  try {
    res = await fetch(`${t.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Basic ${Buffer.from(t.key).toString('base64')}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
  } catch (err) {
    fail(`cannot reach ${t.url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`)
  }
  const text = await res.text()
  const parsed = text === '' ? null : JSON.parse(text) as unknown
  if (!res.ok) {
    const e = parsed as { code?: string; message?: string } | null
    fail(`${res.status} ${e?.code ?? ''}: ${e?.message ?? text}`)
  }
  return { status: res.status, body: parsed as T }
}
