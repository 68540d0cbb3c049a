import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { banner } from '../../src/cli/banner.js'

describe('start banner', () => {
  it('shows every listener with the URL a client uses, the dashboard, API and metrics URLs and the brokers', () => {
    const text = banner({
      node: 'n1',
      version: '1.2.3',
      brokers: ['k1:9092', 'k2:9092'],
      listeners: [
        { name: 'tcp:default', kind: 'tcp', host: '0.0.0.0', port: 1883 },
        { name: 'ssl:default', kind: 'ssl', host: '10.0.0.5', port: 8883 },
        { name: 'ws:default', kind: 'ws', host: '::', port: 8083, path: '/mqtt' },
        { name: 'wss:edge', kind: 'wss', host: '::1', port: 8084, path: '/ws' }
      ],
      http: { host: '0.0.0.0', port: 18083, tls: true, dashboard: true }
    }, 2500, false)
    assert.match(text, /Wharf 1\.2\.3 · node n1 · ready in 2\.5 s/)
    assert.match(text, /tcp:default\s+mqtt:\/\/localhost:1883\n/)
    assert.match(text, /ssl:default\s+mqtts:\/\/10\.0\.0\.5:8883\n/)
    assert.match(text, /ws:default\s+ws:\/\/localhost:8083\/mqtt\n/)
    assert.match(text, /wss:edge\s+wss:\/\/\[::1\]:8084\/ws\n/)
    assert.match(text, /Dashboard {2}https:\/\/localhost:18083\/\n/)
    assert.match(text, /REST API {3}https:\/\/localhost:18083\/api\/v1 /)
    assert.match(text, /Kafka {6}k1:9092, k2:9092\n/)
  })

  it('leaves the dashboard out when it is off, and says when Kafka is the local one', () => {
    const text = banner({ node: 'n', version: 'v', brokers: ['127.0.0.1:9092'], listeners: [], http: { host: '127.0.0.1', port: 1, tls: false, dashboard: false } }, 0, true)
    assert.doesNotMatch(text, /Dashboard/)
    assert.match(text, /REST API {3}http:\/\/127\.0\.0\.1:1\/api\/v1/)
    assert.match(text, /\(local, started by wharf\)/)
  })
})
