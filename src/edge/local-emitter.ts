import mqemitter from 'mqemitter'

/** aedes' own notices (`$SYS/<broker id>/heartbeat`, `.../new/clients`, ...): Wharf publishes EMQX's `$SYS` names instead. */
const AEDES_NOTICE = /^\$SYS\/[^/]+\/(heartbeat|birth|new\/clients|disconnect\/clients|new\/subscribes|new\/unsubscribes)$/

/** The emitter aedes delivers through. */
export type LocalEmitter = mqemitter.MQEmitter

/**
 * The mqemitter aedes delivers through, with one change: a packet that comes from a client (aedes
 * stamps `clientId` on it in `broker.publish`) has already been written to Kafka by the publish hook
 * and is dropped here. It reaches subscribers — on this node and every other — when the log tail
 * reads it back, so every delivery goes through the log and has the same order everywhere.
 * Packets without a client (the tail's deliveries, Wharf's `$SYS` messages) are delivered locally;
 * aedes' own `$SYS` notices are dropped (they would tell any `$SYS/#` subscriber every client id
 * under aedes' names; nothing in aedes needs them with a single broker id per node).
 *
 * No concurrency limit: every emit is dispatched to the matching subscribers at once, within the
 * call (edge/delivery.ts relies on it). A limit would make a slow subscriber, whose writes complete
 * late, hold back the deliveries to everyone else, and queue them here without bound; what waits
 * for a client is bounded per client instead (edge/outbound.ts).
 */
export function createLocalEmitter (): LocalEmitter {
  const mq = mqemitter({ concurrency: 0, matchEmptyLevels: true })
  const deliverLocally = mq.emit.bind(mq)
  mq.emit = function emit (packet, cb) {
    if (packet.clientId !== undefined || (packet.topic.charCodeAt(0) === 36 && AEDES_NOTICE.test(packet.topic))) {
      if (cb !== undefined) cb()
      return
    }
    deliverLocally(packet, cb)
  }
  return mq
}
