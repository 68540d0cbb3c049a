/**
 * Plain aedes in memory behind Wharf's listeners (src/listeners): the listener layer's cost
 * (TLS, WebSocket, PROXY protocol) with no Kafka and nothing else.
 *
 *   node --import tsx bench/targets/listeners-server.ts <listeners-config.json>
 *
 * The file holds a `listeners` section (as in the YAML). Prints `listening <json>` on stdout, the
 * listeners' describe(), once every one accepts connections.
 */
import { readFileSync } from 'node:fs'
import { Aedes } from 'aedes'
import { listenersSchema } from '../../src/config/listeners-schema.js'
import { Listeners } from '../../src/listeners/index.js'
import { createLogger } from '../../src/observability/logger.js'

const file = process.argv[2]
if (file === undefined) throw new Error('usage: listeners-server.ts <listeners-config.json>')
const broker = await Aedes.createBroker()
const listeners = await Listeners.open(listenersSchema.parse(JSON.parse(readFileSync(file, 'utf8'))), (c) => broker.handle(c.stream), createLogger({ level: 'warn' }))
console.log(`listening ${JSON.stringify(listeners.describe())}`)
const stop = (): void => { listeners.close(); broker.close(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
