import { Writable } from 'node:stream'
import { Aedes } from 'aedes'
import { pino } from 'pino'
import { listenersSchema } from '../../src/config/listeners-schema.js'
import { Listeners, type ClosedEvent, type Connection, type OpenListenersOptions } from '../../src/listeners/index.js'
import type { Logger } from '../../src/observability/logger.js'

/*
 * The listeners in front of a plain in-memory aedes (no Kafka): what the edge will do with them,
 * minus everything else. Every accepted Connection is kept for the test to look at.
 */

/** A pino logger whose JSON lines are kept in `lines` (parsed). */
export function memoryLogger (): { logger: Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  return { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'debug' }, sink), lines }
}

export interface TestBroker {
  aedes: Aedes
  listeners: Listeners
  /** Every connection handed on, in order. */
  connections: Connection[]
  /** Every connection a listener closed itself. */
  closed: ClosedEvent[]
  logs: Array<Record<string, unknown>>
  /** The bound port of listener `<kind>:<name>`. */
  port: (listener: string) => number
  close: () => Promise<void>
}

/**
 * Opens the listeners of `config` (the YAML `listeners` section, validated by the schema; give
 * `tcp: {}` for no plain TCP listener) on an in-memory aedes. Binds are the test's to choose
 * (`127.0.0.1:0`).
 */
export async function startBroker (config: unknown, options: OpenListenersOptions = {}): Promise<TestBroker> {
  const aedes = await Aedes.createBroker()
  const { logger, lines } = memoryLogger()
  const connections: Connection[] = []
  const closed: ClosedEvent[] = []
  let listeners: Listeners
  try {
    listeners = await Listeners.open(listenersSchema.parse(config), (c) => {
      connections.push(c)
      aedes.handle(c.stream)
    }, logger, options)
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    throw err
  }
  listeners.on('closed', (e) => closed.push(e))
  return {
    aedes,
    listeners,
    connections,
    closed,
    logs: lines,
    port: (id) => {
      const found = listeners.describe().find((d) => d.listener === id)
      if (found === undefined) throw new Error(`no listener ${id}`)
      return found.port
    },
    close: async () => {
      listeners.close()
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
    }
  }
}
