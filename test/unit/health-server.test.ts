import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { pino } from 'pino'
import { HealthServer, type ReadinessReport } from '../../src/observability/health-server.js'

const logger = pino({ level: 'silent' })

interface Reply {
  status: number
  contentType: string | null
  text: string
}

describe('HealthServer', () => {
  let report: ReadinessReport = { ready: false, kafka: 'connecting' }
  let calls = 0
  const server = new HealthServer(() => { calls++; return report }, logger)
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
    assert.equal(r.contentType, 'application/json')
    assert.deepEqual(JSON.parse(r.text), { status: 'ok' })
  })

  it('GET /ready follows the readiness function: 503, then 200, then 503 again', async () => {
    report = { ready: false, kafka: 'connecting' }
    let r = await request('/ready')
    assert.equal(r.status, 503)
    assert.equal(r.contentType, 'application/json')
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

  it('answers 404 with a JSON body for unknown paths', async () => {
    for (const path of ['/', '/nope', '/health/x', '/readyz', '/HEALTH']) {
      const r = await request(path)
      assert.equal(r.status, 404, path)
      assert.equal(r.contentType, 'application/json')
      assert.equal(typeof (JSON.parse(r.text) as { error: unknown }).error, 'string')
    }
  })

  it('answers 405 with a JSON body for other methods', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      for (const path of ['/health', '/ready', '/nope']) {
        const r = await request(path, { method, body: method === 'DELETE' ? null : '{}' })
        assert.equal(r.status, 405, `${method} ${path}`)
        assert.equal(r.contentType, 'application/json')
        assert.equal(typeof (JSON.parse(r.text) as { error: unknown }).error, 'string')
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

describe('HealthServer.listen', () => {
  it('rejects when the port is taken', async () => {
    const blocker = createServer()
    await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', () => resolve()))
    const address = blocker.address()
    assert.ok(typeof address === 'object' && address !== null)
    const server = new HealthServer(() => ({ ready: true }), logger)
    try {
      await assert.rejects(server.listen('127.0.0.1', address.port), /EADDRINUSE/)
    } finally {
      await new Promise<void>(resolve => blocker.close(() => resolve()))
    }
  })

  it('close() ends kept-alive connections', async () => {
    const server = new HealthServer(() => ({ ready: true }), logger)
    await server.listen('127.0.0.1', 0)
    const res = await fetch(`http://127.0.0.1:${server.port}/health`, { headers: { connection: 'keep-alive' } })
    await res.text()
    await server.close() // must not hang on the idle keep-alive socket
  })
})
