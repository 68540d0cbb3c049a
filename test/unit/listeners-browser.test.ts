import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser } from 'playwright-core'
import { startBroker, type TestBroker } from '../support/listener-broker.js'
import { connect, end } from '../support/mqtt-client.js'

/*
 * An MQTT client in a real headless Chromium page (Debian's chromium driven by playwright-core):
 * mqtt.js's browser bundle, served by a small local HTTP server, connects over ws:// to a ws
 * listener (origin check on, the page's origin allowed) in front of an in-memory aedes, and
 * receives a message published over plain TCP.
 */

const BUNDLE = readFileSync(fileURLToPath(new URL('../../node_modules/mqtt/dist/mqtt.min.js', import.meta.url)))
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** What the page keeps on its window. */
interface PageState { state: string, received: unknown[] }

/** The page: connects, subscribes, and keeps what arrives in `window.received`. */
function page (wsUrl: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>wharf ws</title><script src="/mqtt.min.js"></script></head><body><script>
    window.state = 'connecting'
    window.received = []
    const client = mqtt.connect(${JSON.stringify(wsUrl)}, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'chromium-page' })
    client.on('error', (e) => { window.state = 'error: ' + e.message })
    client.on('message', (topic, payload) => { window.received.push({ topic, payload: payload.toString() }) })
    client.on('connect', () => {
      client.subscribe('browser/inbox', { qos: 1 }, (err) => { window.state = err ? 'error: ' + err.message : 'subscribed' })
    })
  </script></body></html>`
}

describe('MQTT over ws:// from a headless Chromium page', () => {
  let http: Server
  let httpPort = 0
  let b: TestBroker
  let browser: Browser

  before(async () => {
    http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const address = http.address()
    assert.ok(typeof address === 'object' && address !== null)
    httpPort = address.port
    const origin = `http://127.0.0.1:${httpPort}`
    b = await startBroker({
      tcp: { plain: { bind: '127.0.0.1:0' } },
      ws: { default: { bind: '127.0.0.1:0', websocket: { check_origin_enable: true, check_origins: [origin] } } }
    })
    const html = page(`ws://127.0.0.1:${b.port('ws:default')}/mqtt`)
    http.on('request', (req, res) => {
      if (req.url === '/mqtt.min.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(BUNDLE)
      } else if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(html)
      } else {
        res.writeHead(404).end()
      }
    })
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true })
  })

  after(async () => {
    await browser?.close()
    await b?.close()
    http?.close()
  })

  it('the page subscribes over ws:// and receives a message published over TCP', async () => {
    const tab = await browser.newPage()
    const publisher = await connect(`mqtt://127.0.0.1:${b.port('tcp:plain')}`)
    try {
      await tab.goto(`http://127.0.0.1:${httpPort}/`)
      await tab.waitForFunction(() => (globalThis as unknown as PageState).state !== 'connecting', undefined, { timeout: 20000 })
      assert.equal(await tab.evaluate(() => (globalThis as unknown as PageState).state), 'subscribed')
      await publisher.publishAsync('browser/inbox', 'hello, browser', { qos: 1 })
      await tab.waitForFunction(() => (globalThis as unknown as PageState).received.length > 0, undefined, { timeout: 20000 })
      assert.deepEqual(await tab.evaluate(() => (globalThis as unknown as PageState).received), [{ topic: 'browser/inbox', payload: 'hello, browser' }])
      const c = b.connections.find((x) => x.listener === 'ws:default')
      assert.equal(c?.kind, 'ws')
      assert.equal(c?.peer.address, '127.0.0.1')
    } finally {
      await end(publisher)
      await tab.close()
    }
  })
})
