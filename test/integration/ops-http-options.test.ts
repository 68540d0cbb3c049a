import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeCa, makeCert } from '../support/test-certs.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/*
 * The HTTP port's options on a real node: HTTPS with `http.ssl_options` (the listeners' keys),
 * `/metrics` behind an API key (`prometheus.enable_basic_auth`), a key from
 * `api_key.bootstrap_file`; and the Grafana dashboard under docker/ queries only metrics a
 * running node serves.
 */

const DASHBOARD = new URL('../../docker/grafana/wharf-dashboard.json', import.meta.url)

interface Reply { status: number; type: string; body: string }

/** One HTTPS request that trusts only the test CA. */
function httpsGet (port: number, path: string, ca: string, key?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = key === undefined ? {} : { authorization: `Basic ${Buffer.from(key).toString('base64')}` }
    const req = request({ host: '127.0.0.1', port, path, ca, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Every `wharf_*` metric name the dashboard's queries use (histogram series named by their family). */
function dashboardMetrics (): Set<string> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> }
  const names = new Set<string>()
  for (const panel of dashboard.panels) {
    for (const t of panel.targets ?? []) {
      for (const m of t.expr.matchAll(/\bwharf_[a-z0-9_]+/g)) names.add(m[0].replace(/_bucket$/, ''))
    }
  }
  return names
}

/** The metric families of a Prometheus text (its `# TYPE` lines: present even before a labelled metric has a sample). */
function families (text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map(m => m[1] as string))
}

describe('HTTP port options: HTTPS, /metrics behind a key, bootstrap keys; the Grafana dashboard', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-http-'))
  const ca = makeCa(dir)
  const server = makeCert(dir, 'http', ca, '/CN=127.0.0.1', true)
  const caPem = readFileSync(ca.cert, 'utf8')
  const key = 'ops-bootstrap:s3cret-bootstrap-key'
  let node: WharfProcess

  before(async () => {
    const keys = join(dir, 'api-keys.txt')
    writeFileSync(keys, `${key}\n`)
    node = await WharfProcess.start({
      brokers: testBrokers(),
      topics: uniqueTopics('httpopt'),
      env: {
        WHARF_HTTP__SSL_OPTIONS__CERTFILE: server.cert,
        WHARF_HTTP__SSL_OPTIONS__KEYFILE: server.key,
        WHARF_PROMETHEUS__ENABLE_BASIC_AUTH: 'true',
        WHARF_API_KEY__BOOTSTRAP_FILE: keys
      }
    })
  })
  after(async () => {
    await node?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves HTTPS with the configured certificate, and no plain HTTP', async () => {
    const health = await httpsGet(node.httpPort, '/health', caPem)
    assert.equal(health.status, 200)
    assert.deepEqual(JSON.parse(health.body), { status: 'ok' })
    const nodes = await httpsGet(node.httpPort, '/api/v1/nodes', caPem, key)
    assert.equal(nodes.status, 200, 'the bootstrap file\'s key is accepted')
    await assert.rejects(fetch(`http://127.0.0.1:${node.httpPort}/health`), 'plain HTTP gets no answer')
  })

  it('asks for an API key on /metrics (health and readiness stay open)', async () => {
    for (const k of [undefined, 'ops-bootstrap:wrong']) {
      const r = await httpsGet(node.httpPort, '/metrics', caPem, k)
      assert.equal(r.status, 401, String(k))
      assert.equal(JSON.parse(r.body).code, 'UNAUTHORIZED')
    }
    assert.equal((await httpsGet(node.httpPort, '/ready', caPem)).status, 200)
    const metrics = await httpsGet(node.httpPort, '/metrics', caPem, key)
    assert.equal(metrics.status, 200)
    assert.match(metrics.type, /^text\/plain/)
    assert.match(metrics.body, /^wharf_connections\{node="[^"]+"\} 0$/m)
  })

  it('the Grafana dashboard queries only metrics the node serves', async () => {
    const queried = dashboardMetrics()
    assert.ok(queried.size >= 30, `the dashboard queries ${queried.size} metrics`)
    const served = families((await httpsGet(node.httpPort, '/metrics', caPem, key)).body)
    const missing = [...queried].filter(name => !served.has(name))
    assert.deepEqual(missing, [], 'metrics the dashboard queries that /metrics does not have')
  })
})
