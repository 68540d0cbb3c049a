import type { Aedes, Client, PublishPacket } from 'aedes'
import type { Duplex } from 'node:stream'
import type { InboundWindow } from './inbound-window.js'

/*
 * What aedes 1.1.3 and 1.2.0 fixed and aedes 2.0.0-beta.1 (cut before them) lacks, closed from
 * outside. Part of the aedes-internals seam: together with `aedes-internals.ts` the only code that
 * touches aedes' private fields. See docs/architecture.md, "MQTT 5 engine".
 */

interface Maps {
  clients: Record<string, unknown>
  brokers: Record<string, unknown>
}

interface ClientMaps {
  subscriptions: Record<string, unknown>
  duplicates: Record<string, unknown>
}

/** aedes' incoming (QoS 2) store as its handlers call it (promise style). */
interface IncomingStore {
  incomingDelPacket (client: Client, packet: { messageId?: number }): Promise<void>
  cleanIncoming (client: Client): Promise<void>
}

const nullProto = <T extends object>(from: T | undefined): T => Object.assign(Object.create(null) as T, from)

/**
 * GHSA-52qw-whmv-87c5 (fixed in aedes 1.1.3): aedes keys plain objects by client id and topic
 * filter, so `constructor`, `toString` or `__proto__` reach Object.prototype and one SUBSCRIBE,
 * UNSUBSCRIBE or CONNECT throws out of aedes and ends the process. The broker's maps become
 * null-prototype objects once, before any client; each client's right after `handle()`
 * (`handleConnection`).
 */
export function hardenBroker (aedes: Aedes): void {
  const b = aedes as unknown as Maps
  b.clients = nullProto(b.clients)
  b.brokers = nullProto(b.brokers)
}

/** aedes' `handle()` for a new connection, with the client's maps made safe (see `hardenBroker`). */
export function handleConnection (aedes: Aedes, stream: Duplex): Client {
  const client = aedes.handle(stream)
  const c = client as unknown as ClientMaps
  c.subscriptions = nullProto(c.subscriptions)
  c.duplicates = nullProto(c.duplicates)
  return client
}

/**
 * The incoming store as aedes 2.0.0-beta.1 needs it:
 * - a second PUBREL for the same id (a client retransmits while the first is handled) finds the
 *   packet gone; the store rejects and the beta lets that rejection escape `.finally()`, which
 *   ends the process (aedes 1.2.0 answers PUBCOMP twice). Here a missing packet is no error;
 * - every removal frees the id's slot in the inbound window; `cleanIncoming` frees them all.
 */
export function hardenIncomingStore (persistence: object, window: InboundWindow): void {
  const store = persistence as IncomingStore
  const del = store.incomingDelPacket.bind(store)
  const clean = store.cleanIncoming.bind(store)
  store.incomingDelPacket = async (client, packet) => {
    await del(client, packet).catch(() => undefined)
    window.settled(client, { qos: 2, messageId: packet.messageId })
  }
  store.cleanIncoming = async (client) => {
    window.reset(client)
    await clean(client)
  }
}

/**
 * [MQTT-3.1.2-6] (MQTT 3.1.1; MQTT 5: [MQTT-3.1.2-4]): the inbound QoS 2 ids are session state. aedes 1.2.0 discards them at a clean
 * start and when a clean session ends; the beta never does, so a new QoS 2 PUBLISH reusing an id
 * of an earlier session looks like a retransmission and is never written to Kafka. Wharf calls
 * this at both points (`ConnectFlow.open`, the end of a connection whose session ends with it).
 */
export async function discardIncoming (aedes: Aedes, client: Client): Promise<void> {
  await ((aedes as unknown as { persistence: IncomingStore }).persistence).cleanIncoming(client)
}

/**
 * Session expiry is Wharf's, cluster-wide (the session manager's sweep over the sessions topic):
 * aedes 2 would arm a timer per disconnected MQTT 5 client on this node, holding the Client, and
 * at its end empty the outgoing queue of a session that may have moved to another node meanwhile.
 */
export function leaveSessionExpiryToWharf (aedes: Aedes): void {
  (aedes as unknown as { scheduleSessionExpiry: (client: Client) => void }).scheduleSessionExpiry = () => undefined
}

/**
 * Will Delay Interval is Wharf's, cluster-wide (`WillStore`): aedes 2 would time a delayed will on
 * this node only, publish it although the client came back on another node, and lose it when this
 * node stops. aedes calls `scheduleWill(client, will, delayS)` as an abnormally ended connection
 * closes (the delay already capped by the Session Expiry Interval), before 'clientDisconnect';
 * Wharf takes it from there.
 */
export function takeOverWillDelay (aedes: Aedes, onDelayed: (client: Client, will: PublishPacket, delayS: number) => void): void {
  (aedes as unknown as { scheduleWill: typeof onDelayed }).scheduleWill = onDelayed
}

/** What `checkAedes` reports missing of what this file relies on (a client, or the broker). */
export function missingForHardening (client: object | undefined, aedes?: Aedes): string[] {
  const missing: string[] = []
  if (client !== undefined) {
    const c = client as Partial<ClientMaps> & { disconnect?: unknown }
    if (typeof c.duplicates !== 'object') missing.push('Client.duplicates')
    if (typeof c.disconnect !== 'function') missing.push('Client.disconnect')
  }
  if (aedes !== undefined) {
    const b = aedes as unknown as Partial<Maps> & { persistence?: Partial<IncomingStore> }
    if (typeof b.brokers !== 'object' || b.brokers === null) missing.push('Aedes.brokers')
    if (typeof (aedes as unknown as { scheduleSessionExpiry?: unknown }).scheduleSessionExpiry !== 'function') missing.push('Aedes.scheduleSessionExpiry')
    if (typeof (aedes as unknown as { scheduleWill?: unknown }).scheduleWill !== 'function') missing.push('Aedes.scheduleWill')
    if (typeof b.persistence?.cleanIncoming !== 'function') missing.push('Aedes.persistence.cleanIncoming')
    if (typeof b.persistence?.incomingDelPacket !== 'function') missing.push('Aedes.persistence.incomingDelPacket')
  }
  return missing
}
