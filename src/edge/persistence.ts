import { Readable } from 'node:stream'
import { createRequire } from 'node:module'
import type { Client, PublishPacket } from 'aedes'
import type { AedesMemoryPersistence } from 'aedes-persistence'
import type { RetainedView } from '../retained/retained-view.js'
import type { Qos } from '../protocol/message.js'
import type { WireProperties } from '../protocol/message-properties.js'
import type { PersistentSession } from '../session/persistent-session.js'
import { subscriptionOptionsOf, type HeldSubscription } from '../protocol/subscription-options.js'

// a CommonJS module whose typings describe an ES default export: load it the CommonJS way
const memory = createRequire(import.meta.url)('aedes-persistence') as () => AedesMemoryPersistence

export interface PersistenceDeps {
  retained: RetainedView
  /** the persistent session of a connected client (by id: aedes asks for subscriptions that way) */
  sessionOf: (clientId: string) => PersistentSession | undefined
  /** a session's subscriptions changed; resolves when that is in Kafka (SUBACK waits for it) */
  subscriptionsChanged: (session: PersistentSession) => Promise<void>
  /** a client connects with a will; resolves when Kafka has it (CONNACK waits for it) */
  putWill: (client: Client, will: PublishPacket) => Promise<void>
}

interface RetainedPacket {
  cmd: 'publish'
  topic: string
  payload: Buffer
  qos: Qos
  retain: true
  properties?: WireProperties
  /** aedes 2's expiry instant of a message (ms since the epoch) */
  messageExpiry?: number
}

interface QosPacket { cmd: string; messageId?: number; brokerCounter: number }

/**
 * The persistence aedes runs on. Nothing of a session lives here: aedes' in-memory persistence
 * keeps only what belongs to one connection on this node (inbound QoS 2 packet ids); everything
 * else is a window onto Wharf's own state:
 * - retained messages: the node's view of the retained topic (written by the publish hook);
 * - subscriptions and outgoing QoS 1/2 state of persistent sessions: the session (written to the
 *   sessions topic by the session manager); aedes' offline queue is never used, the log is the queue,
 *   and the outgoing stream at CONNECT holds only the PUBRELs of interrupted QoS 2 deliveries;
 * - wills: the sessions topic (aedes' own dead-broker will sweep sees none: survivors publish
 *   the wills of dead nodes through the cluster).
 */
export function createPersistence (deps: PersistenceDeps): AedesMemoryPersistence {
  const persistence = memory()
  const { retained, sessionOf } = deps
  // aedes 2 drops a retained message whose `messageExpiry` (ms since the epoch) passed and sends the
  // others with what is left of the interval and their properties (to MQTT 5 subscribers only)
  const stream = (patterns: string[]): Readable => Readable.from(retained.match(patterns).map(m => {
    const packet: RetainedPacket = { cmd: 'publish', topic: m.topic, payload: m.payload, qos: m.qos, retain: true }
    if (m.properties === undefined) return packet
    // the interval aedes sends is what is left of it at delivery, from `messageExpiry`
    const { expiresAt, messageExpiryInterval: _asPublished, ...rest } = m.properties
    if (Object.keys(rest).length > 0) packet.properties = rest
    if (expiresAt !== undefined) packet.messageExpiry = expiresAt
    return packet
  }))
  const session = (client: { id: string }): PersistentSession | undefined => sessionOf(client.id)
  Object.assign(persistence, {
    storeRetained: async () => undefined,
    createRetainedStream: (pattern: string) => stream([pattern]),
    createRetainedStreamCombi: (patterns: string[]) => stream(patterns),

    // a SUBSCRIBE's subscriptions as aedes 2 has them: MQTT 5 options and identifier included
    addSubscriptions: async (client: Client, subs: Array<{ topic: string; qos: Qos; nl?: boolean; rap?: boolean; rh?: number; subscriptionIdentifier?: number }>) => {
      const s = session(client)
      if (s === undefined) return
      for (const sub of subs) s.addSub(sub.topic, sub.qos, subscriptionOptionsOf(sub))
      await deps.subscriptionsChanged(s)
    },
    removeSubscriptions: async (client: Client, topics: string[]) => {
      const s = session(client)
      if (s === undefined) return
      for (const topic of topics) s.removeSub(topic)
      await deps.subscriptionsChanged(s)
    },
    subscriptionsByClient: async (client: { id: string }) => {
      const s = session(client)
      // restored with their options: aedes applies them to live deliveries, and Retain Handling 1
      // finds the subscription existing when the client subscribes again
      return s === undefined ? [] : [...s.subs].map(([topic, sub]) => restoredSubscription(topic, sub))
    },
    cleanSubscriptions: async () => undefined,
    subscriptionsByTopic: async () => [],
    countOffline: async () => ({ subscriptions: 0, clients: 0 }),

    outgoingEnqueue: async () => undefined,
    outgoingEnqueueCombi: async () => undefined,
    outgoingUpdate: async (client: Client, packet: QosPacket) => {
      const s = session(client)
      if (s === undefined || packet.messageId === undefined) return
      if (packet.cmd === 'publish') s.packetId(packet.brokerCounter, packet.messageId)
      else if (packet.cmd === 'pubrel') s.released(packet.messageId)
    },
    outgoingClearMessageId: async (client: Client, packet: QosPacket) => {
      if (packet.messageId !== undefined) session(client)?.completed(packet.messageId)
      return packet
    },
    outgoingStream: (client: Client) => Readable.from(
      (session(client)?.pendingReleases() ?? []).map(messageId => ({ cmd: 'pubrel', messageId }))
    ),

    putWill: (client: Client, packet: PublishPacket) => deps.putWill(client, packet),
    getWill: async () => undefined,
    delWill: async () => undefined,
    streamWill: () => Readable.from([])
  })
  return persistence
}

/** A session's subscription as aedes' restore (its SUBSCRIBE handling) takes it: options only where set. */
function restoredSubscription (topic: string, sub: HeldSubscription): { topic: string; qos: Qos; nl?: boolean; rap?: boolean; rh?: number; subscriptionIdentifier?: number } {
  return {
    topic,
    qos: sub.qos,
    ...(sub.nl === true ? { nl: true } : {}),
    ...(sub.rap === true ? { rap: true } : {}),
    ...(sub.rh === undefined ? {} : { rh: sub.rh }),
    ...(sub.id === undefined ? {} : { subscriptionIdentifier: sub.id })
  }
}
