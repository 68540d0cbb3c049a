import { Readable } from 'node:stream'
import { createRequire } from 'node:module'
import type { AedesMemoryPersistence } from 'aedes-persistence'
import type { RetainedView } from '../retained/retained-view.js'

// a CommonJS module whose typings describe an ES default export: load it the CommonJS way
const memory = createRequire(import.meta.url)('aedes-persistence') as () => AedesMemoryPersistence

/**
 * aedes' in-memory persistence (subscriptions, inflight QoS state, wills of this node) with the
 * retained-message part replaced by the node's view of the compacted retained topic. aedes' own
 * `storeRetained` becomes a no-op: retained messages are written to Kafka by the publish hook and
 * the view is fed from the log.
 */
export function createPersistence (view: RetainedView): AedesMemoryPersistence {
  const persistence = memory()
  const stream = (patterns: string[]): Readable => Readable.from(
    view.match(patterns).map(m => ({ cmd: 'publish', topic: m.topic, payload: m.payload, qos: m.qos, retain: true }))
  )
  Object.assign(persistence, {
    storeRetained: async () => undefined,
    createRetainedStream: (pattern: string) => stream([pattern]),
    createRetainedStreamCombi: (patterns: string[]) => stream(patterns)
  })
  return persistence
}
