/**
 * Plain aedes in memory: the protocol engine Wharf uses, with no Kafka and nothing else.
 *
 *   node --import tsx bench/targets/aedes-server.ts [--port 0] [--host 127.0.0.1]
 *
 * Prints `listening <port>` on stdout once the TCP server accepts connections.
 */
import { createServer } from 'node:net'
import { parseArgs } from 'node:util'
import { Aedes } from 'aedes'

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } })
const broker = await Aedes.createBroker()
const server = createServer(broker.handle)
server.listen(Number(values.port), values.host, () => {
  const addr = server.address()
  console.log(`listening ${typeof addr === 'object' && addr !== null ? addr.port : values.port}`)
})
const stop = (): void => { server.close(); broker.close(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
