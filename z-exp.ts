import { connect as netConnect } from 'node:net'
import { request } from 'node:http'
import { once } from 'node:events'
import { startBroker } from './test/support/listener-broker.js'
const b = await startBroker({ tcp: {}, ws: { default: { bind: '127.0.0.1:0' } } })
const port = b.port('ws:default')
const plain = await new Promise<number>((resolve, reject) => {
  request(`http://127.0.0.1:${port}/mqtt`, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject).end()
})
console.log('plain', plain)
const g = netConnect(port, '127.0.0.1')
g.on('error', (e) => console.log('err', e.message))
g.on('data', (d) => console.log('data', JSON.stringify(String(d))))
g.on('end', () => console.log('end'))
g.end('\x10\x0c\x00\x04MQTT not HTTP\r\n\r\n')
const t = setTimeout(() => { console.log('timeout', JSON.stringify(b.closed), b.logs.slice(-3)); process.exit(1) }, 3000)
await once(g, 'close'); clearTimeout(t)
console.log('closed', JSON.stringify(b.closed))
await b.close()
