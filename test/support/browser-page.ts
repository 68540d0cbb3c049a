import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'

/*
 * An MQTT client in a real headless Chromium page (Debian's chromium driven by playwright-core):
 * mqtt.js's browser bundle on a page served by a small local HTTP server. The page connects to a
 * WebSocket URL, subscribes to one topic and keeps what arrives.
 */

const BUNDLE = readFileSync(fileURLToPath(new URL('../../node_modules/mqtt/dist/mqtt.min.js', import.meta.url)))
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** What the page keeps on its window. */
interface PageState { state: string, received: Array<{ topic: string, payload: string }> }

/** The page: connects, subscribes, and keeps what arrives in `window.received`. */
function page (wsUrl: string, topic: string, clientId: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>wharf ws</title><script src="/mqtt.min.js"></script></head><body><script>
    window.state = 'connecting'
    window.received = []
    const client = mqtt.connect(${JSON.stringify(wsUrl)}, { protocolVersion: 4, reconnectPeriod: 0, clientId: ${JSON.stringify(clientId)} })
    client.on('error', (e) => { window.state = 'error: ' + e.message })
    client.on('message', (topic, payload) => { window.received.push({ topic, payload: payload.toString() }) })
    client.on('connect', () => {
      client.subscribe(${JSON.stringify(topic)}, { qos: 1 }, (err) => { window.state = err ? 'error: ' + err.message : 'subscribed' })
    })
  </script></body></html>`
}

/** The HTTP server of the page and the browser. */
export interface BrowserStand {
  /** the page's origin, `http://127.0.0.1:<port>` (for an origin check) */
  origin: string
  /**
   * Opens the page in a new tab: it connects to `wsUrl` and subscribes to `topic`. Resolves with
   * the state it reached ('subscribed', or 'error: ...'), the tab, and `received(n)`: what the page
   * received, once it has at least `n` messages (20 s at most).
   */
  open: (wsUrl: string, topic: string, clientId?: string) => Promise<{ state: string, tab: Page, received: (n: number) => Promise<PageState['received']> }>
  close: () => Promise<void>
}

/** Starts the page server and Chromium. */
export async function startBrowserStand (): Promise<BrowserStand> {
  const pages = new Map<string, string>()
  const http: Server = createServer((req, res) => {
    const html = pages.get(req.url ?? '')
    if (req.url === '/mqtt.min.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(BUNDLE)
    else if (html !== undefined) res.writeHead(200, { 'content-type': 'text/html' }).end(html)
    else res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const address = http.address()
  if (typeof address !== 'object' || address === null) throw new Error('the page server has no port')
  const origin = `http://127.0.0.1:${address.port}`
  let browser: Browser
  try {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true })
  } catch (err) {
    http.close()
    throw err
  }
  return {
    origin,
    open: async (wsUrl, topic, clientId = 'chromium-page') => {
      const path = `/page-${pages.size}`
      pages.set(path, page(wsUrl, topic, clientId))
      const tab = await browser.newPage()
      await tab.goto(`${origin}${path}`)
      await tab.waitForFunction(() => (globalThis as unknown as PageState).state !== 'connecting', undefined, { timeout: 20000 })
      const state = await tab.evaluate(() => (globalThis as unknown as PageState).state)
      const received = async (n: number): Promise<PageState['received']> => {
        await tab.waitForFunction((count) => (globalThis as unknown as PageState).received.length >= count, n, { timeout: 20000 })
        return await tab.evaluate(() => (globalThis as unknown as PageState).received)
      }
      return { state, tab, received }
    },
    close: async () => {
      await browser.close()
      http.close()
    }
  }
}
