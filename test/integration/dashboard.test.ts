import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MqttClient } from 'mqtt'
import { chromium, type Browser, type Page } from 'playwright-core'
import { collect, connect, end, until } from '../support/mqtt-client.js'
import { addApiKey } from '../support/ops-api.js'
import { testBrokers, uniqueTopics, WharfProcess } from '../support/wharf-process.js'

/*
 * The web dashboard in a real headless Chromium (Debian's chromium driven by playwright-core) on
 * two real edges: log in with an API key, see both nodes and live rates, find a client of node 2,
 * kick it, publish from the form to a subscriber of node 2. Screenshots go to test-output/dashboard
 * (TEST_OUTPUT_DIR) and the overview also to docs/dashboard.png, which the README shows.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const OUT = process.env.TEST_OUTPUT_DIR ?? join(ROOT, 'test-output', 'dashboard')
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

describe('dashboard in headless Chromium (two edges)', () => {
  const brokers = testBrokers()
  const topics = uniqueTopics('dash')
  const id = randomUUID().slice(0, 6)
  const names = [`edge1-${id}`, `edge2-${id}`]
  const env = { WHARF_CLUSTER__HEARTBEAT_INTERVAL_MS: '1000' }
  let nodes: WharfProcess[] = []
  let browser: Browser
  let page: Page
  let key = ''
  const pageErrors: string[] = []
  let load: NodeJS.Timeout | undefined
  const clients: MqttClient[] = []

  before(async () => {
    mkdirSync(OUT, { recursive: true })
    nodes = [await WharfProcess.start({ brokers, topics, nodeName: names[0], env })]
    nodes.push(await WharfProcess.start({ brokers, topics, nodeName: names[1], env }))
    key = await addApiKey(brokers, topics, 'dashboard')
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true })
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } })
    page.on('pageerror', err => pageErrors.push(err.message))
  })
  after(async () => {
    clearInterval(load)
    await end(...clients)
    await browser?.close()
    await Promise.all(nodes.map(n => n.stop()))
  })

  const base = (): string => `http://127.0.0.1:${(nodes[0] as WharfProcess).httpPort}`
  const shot = async (name: string, alsoDocs = false): Promise<void> => {
    await page.screenshot({ path: join(OUT, `${name}.png`) })
    if (alsoDocs) await page.screenshot({ path: join(ROOT, 'docs', 'dashboard.png') })
  }

  it('refuses a wrong secret on the login form', async () => {
    await page.goto(base() + '/')
    await page.waitForSelector('#login-form', { state: 'visible' })
    await page.fill('#login-key', 'dashboard')
    await page.fill('#login-secret', 'not-the-secret')
    await page.click('#login-button')
    await page.waitForFunction('document.querySelector("#login-error").textContent !== ""')
    assert.match(await page.textContent('#login-error') ?? '', /refused/)
    assert.equal(await page.isVisible('#app'), false)
  })

  it('logs in with an API key and shows both nodes live, with message rates', async () => {
    const [name, secret] = key.split(':') as [string, string]
    await page.fill('#login-key', name)
    await page.fill('#login-secret', secret)
    await page.click('#login-button')
    await page.waitForSelector('#app', { state: 'visible' })
    await page.waitForFunction(`document.querySelectorAll('#nodes tbody tr').length === ${names.length}`)
    for (const node of names) {
      const row = page.locator(`#nodes tbody tr[data-node="${node}"]`)
      assert.equal(await row.locator('.badge').textContent(), 'live', node)
    }
    // traffic through node 2 for the charts: a publisher and a subscriber
    const sub = await connect((nodes[1] as WharfProcess).url, { clientId: `watcher-${id}` })
    const pub = await connect((nodes[1] as WharfProcess).url, { clientId: `meter-${id}` })
    clients.push(sub, pub)
    await sub.subscribeAsync(`dash/${id}/#`, { qos: 1 })
    let i = 0
    load = setInterval(() => { pub.publish(`dash/${id}/load`, `reading ${i++}`, { qos: 1 }, () => undefined) }, 20)
    // the "in / s" tile shows the rate from the nodes' heartbeats
    await page.waitForFunction(`[...document.querySelectorAll('#tiles .tile')].some(t => t.querySelector('span').textContent === 'in / s' && Number(t.querySelector('b').textContent) > 0)`, undefined, { timeout: 30000 })
    // a few points on the charts before the screenshot (the page polls every 2 s)
    await page.waitForFunction('series.t.length >= 6', undefined, { timeout: 30000 })
    assert.ok(await page.locator('#chart-rates canvas').count() > 0, 'the rates chart is drawn')
    await shot('overview', true)
  })

  it('finds a client of node 2 and kicks it', async () => {
    const clientId = `sensor-${id}`
    const target = await connect((nodes[1] as WharfProcess).url, { clientId, username: 'sensor', clean: false })
    clients.push(target)
    await target.subscribeAsync([`devices/${id}/cmd`, `devices/${id}/cfg`], { qos: 1 })
    const closed = new Promise<void>(resolve => target.once('close', () => resolve()))
    await page.goto(base() + '/#clients')
    await page.fill('#clients-prefix', clientId)
    await page.click('#clients-search button')
    const row = page.locator(`#clients-table tbody tr[data-clientid="${clientId}"]`)
    await row.waitFor()
    assert.match(await row.textContent() ?? '', new RegExp(`${clientId}${names[1]}sensor`))
    await row.click()
    await page.waitForSelector('#client-detail button.kick')
    assert.match(await page.textContent('#client-detail') ?? '', new RegExp(`devices/${id}/cmd`))
    await shot('client')
    await page.click('#client-detail button.kick')
    await page.waitForFunction('/kicked/.test(document.querySelector("#client-detail .kick-result").textContent)')
    await closed
    await page.locator(`#clients-table tr[data-clientid="${clientId}"]`, { hasText: 'kicked' }).waitFor()
    await shot('kicked')
  })

  it('publishes from the form; the message reaches a subscriber on node 2', async () => {
    const sub = await connect((nodes[1] as WharfProcess).url, { clientId: `inbox-${id}` })
    clients.push(sub)
    const got = collect(sub)
    await sub.subscribeAsync(`ui/${id}/inbox`, { qos: 1 })
    await page.goto(base() + '/#publish')
    await page.fill('#publish-topic', `ui/${id}/inbox`)
    await page.fill('#publish-payload', 'hello from the dashboard')
    await page.click('#publish-button')
    await page.locator('#publish-result', { hasText: 'acknowledged' }).waitFor()
    await until(() => got.length === 1, 15000, 'the message at the subscriber')
    assert.deepEqual([got[0]?.topic, got[0]?.payload, got[0]?.qos], [`ui/${id}/inbox`, 'hello from the dashboard', 1])
    await shot('publish')
    assert.deepEqual(pageErrors, [], 'no script errors on the page')
  })
})
