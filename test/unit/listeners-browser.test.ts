import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startBrowserStand, type BrowserStand } from '../support/browser-page.js'
import { startBroker, type TestBroker } from '../support/listener-broker.js'
import { connect, end } from '../support/mqtt-client.js'

/*
 * An MQTT client in a real headless Chromium page (Debian's chromium driven by playwright-core):
 * mqtt.js's browser bundle, served by a small local HTTP server, connects over ws:// to a ws
 * listener (origin check on, the page's origin allowed) in front of an in-memory aedes, and
 * receives a message published over plain TCP.
 */

describe('MQTT over ws:// from a headless Chromium page', () => {
  let stand: BrowserStand
  let b: TestBroker

  before(async () => {
    stand = await startBrowserStand()
    b = await startBroker({
      tcp: { plain: { bind: '127.0.0.1:0' } },
      ws: { default: { bind: '127.0.0.1:0', websocket: { check_origin_enable: true, check_origins: [stand.origin] } } }
    })
  })

  after(async () => {
    await stand?.close()
    await b?.close()
  })

  it('the page subscribes over ws:// and receives a message published over TCP', async () => {
    const publisher = await connect(`mqtt://127.0.0.1:${b.port('tcp:plain')}`)
    const page = await stand.open(`ws://127.0.0.1:${b.port('ws:default')}/mqtt`, 'browser/inbox')
    try {
      assert.equal(page.state, 'subscribed')
      await publisher.publishAsync('browser/inbox', 'hello, browser', { qos: 1 })
      assert.deepEqual(await page.received(1), [{ topic: 'browser/inbox', payload: 'hello, browser' }])
      const c = b.connections.find((x) => x.listener === 'ws:default')
      assert.equal(c?.kind, 'ws')
      assert.equal(c?.peer.address, '127.0.0.1')
    } finally {
      await end(publisher)
      await page.tab.close()
    }
  })
})
