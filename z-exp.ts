import { once } from 'node:events'
import { createServer, connect, type Socket } from 'node:net'
import { readProxyHeader } from './src/listeners/proxy-stream.js'
const srv = createServer()
srv.listen(0, '127.0.0.1')
await once(srv, 'listening')
const address = srv.address() as any
const client = connect(address.port, '127.0.0.1')
const [server] = await once(srv, 'connection') as [Socket]
const reading = readProxyHeader(server, 5000)
client.write('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhello')
console.log(await reading)
server.on('data', d => console.log('data', String(d)))
setTimeout(() => { client.destroy(); server.destroy(); srv.close() }, 500)
