import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { pino } from 'pino'
import { HttpServer, type ReadinessReport } from '../../src/api/http-server.js'

const logger = pino({ level: 'silent' })

interface Reply {
  status: number
  contentType: string | null
  text: string
}

const metrics = { contentType: 'text/plain; version=0.0.4', metrics: async () => 'wharf_up 1\n' }

/** The port without the REST API (its behaviour is tested on real nodes: test/integration/ops-api.test.ts). */
function server (readiness: () => ReadinessReport): HttpServer {
  return new HttpServer({ readiness, metrics, logger })
}

describe('HttpServer: health, readiness, metrics', () => {
  let report: ReadinessReport = { ready: false, kafka: 'connecting' }
  let calls = 0
  const server = new HttpServer({ readiness: () => { calls++; return report }, metrics, logger })
  let base = ''

  async function request (path: string, init: RequestInit = {}): Promise<Reply> {
    const res = await fetch(base + path, init)
    return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() }
  }

  before(async () => {
    await server.listen('127.0.0.1', 0)
    assert.ok(server.port > 0, 'port 0 should be replaced by the bound port')
    base = `http://127.0.0.1:${server.port}`
  })
  after(async () => { await server.close() })

  it('GET /health answers 200 with a JSON body', async () => {
    const r = await request('/health')
    assert.equal(r.status, 200)
    assert.match(r.contentType ?? '', /^application\/json/)
    assert.deepEqual(JSON.parse(r.text), { status: 'ok' })
  })

  it('GET /ready follows the readiness function: 503, then 200, then 503 again', async () => {
    report = { ready: false, kafka: 'connecting' }
    let r = await request('/ready')
    assert.equal(r.status, 503)
    assert.match(r.contentType ?? '', /^application\/json/)
    assert.deepEqual(JSON.parse(r.text), { ready: false, kafka: 'connecting' })

    report = { ready: true, kafka: 'ok', retained: 12 }
    r = await request('/ready')
    assert.equal(r.status, 200)
    assert.deepEqual(JSON.parse(r.text), { ready: true, kafka: 'ok', retained: 12 })

    report = { ready: false, shuttingDown: true }
    r = await request('/ready')
    assert.equal(r.status, 503)
    assert.deepEqual(JSON.parse(r.text), { ready: false, shuttingDown: true })
  })

  it('asks the readiness function on every /ready request', async () => {
    const seen = calls
    await request('/ready')
    await request('/ready')
    assert.equal(calls, seen + 2)
    await request('/health')
    assert.equal(calls, seen + 2, '/health must not depend on readiness')
  })

  it('ignores the query string', async () => {
    report = { ready: true }
    assert.equal((await request('/ready?verbose=1')).status, 200)
    assert.equal((await request('/health?x')).status, 200)
  })

  it('GET /metrics answers the Prometheus text', async () => {
    const r = await request('/metrics')
    assert.equal(r.status, 200)
    assert.equal(r.contentType, metrics.contentType)
    assert.equal(r.text, 'wharf_up 1\n')
  })

  it('answers 404 with a JSON body {code, message} for unknown paths (no dashboard, no API here)', async () => {
    for (const path of ['/', '/nope', '/health/x', '/readyz', '/HEALTH', '/api/v1/clients']) {
      const r = await request(path)
      assert.equal(r.status, 404, path)
      assert.match(r.contentType ?? '', /^application\/json/)
      assert.equal((JSON.parse(r.text) as { code: unknown }).code, 'NOT_FOUND')
    }
  })

  it('answers 405 with a JSON body for other methods on /health and /ready', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      for (const path of ['/health', '/ready']) {
        const r = await request(path, method === 'DELETE' ? { method } : { method, body: '{}', headers: { 'content-type': 'application/json' } })
        assert.equal(r.status, 405, `${method} ${path}`)
        assert.match(r.contentType ?? '', /^application\/json/)
        assert.equal((JSON.parse(r.text) as { code: unknown }).code, 'METHOD_NOT_ALLOWED')
      }
    }
  })

  it('HEAD gets the status without a body', async () => {
    report = { ready: false }
    const ready = await request('/ready', { method: 'HEAD' })
    assert.equal(ready.status, 503)
    assert.equal(ready.text, '')
    const health = await request('/health', { method: 'HEAD' })
    assert.equal(health.status, 200)
    assert.equal(health.text, '')
  })
})

describe('HttpServer.listen', () => {
  it('rejects when the port is taken', async () => {
    const blocker = createServer()
    await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', () => resolve()))
    const address = blocker.address()
    assert.ok(typeof address === 'object' && address !== null)
    const s = server(() => ({ ready: true }))
    try {
      await assert.rejects(s.listen('127.0.0.1', address.port), /EADDRINUSE/)
    } finally {
      await new Promise<void>(resolve => blocker.close(() => resolve()))
    }
  })

  it('close() ends kept-alive connections', async () => {
    const s = server(() => ({ ready: true }))
    await s.listen('127.0.0.1', 0)
    const res = await fetch(`http://127.0.0.1:${s.port}/health`, { headers: { connection: 'keep-alive' } })
    await res.text()
    await s.close() // must not hang on the idle keep-alive socket
  })
})
