import type { Qos } from '../protocol/message.js'
import type { WireProperties } from '../protocol/message-properties.js'

/** What one client may have waiting on the node (`mqtt.max_inflight`, `max_mqueue_len`, `max_client_buffer_bytes`). */
export interface OutboundLimits {
  /** QoS 1/2 deliveries written and not acknowledged yet */
  maxInflight: number
  /** QoS 1/2 messages of a clean session waiting for room */
  maxQueueLen: number
  /** bytes in the client's stream, on their way there, and queued */
  maxBufferBytes: number
}

/** A message of a clean session waiting for room in the client's window or socket. */
export interface QueuedMessage {
  topic: string
  payload: Buffer | string
  qos: Qos
  bytes: number
  /** MQTT 5 properties as the delivery had them (the subscription identifier included) */
  properties?: WireProperties | undefined
  /** when its Message Expiry Interval ends (ms): it is not sent after that */
  expiresAt?: number | undefined
}

/** What becomes of a live delivery to a clean session. */
export type CleanVerdict = 'send' | 'queue' | 'drop'

/** The size of a PUBLISH on the wire, near enough: fixed header, topic, packet id, payload. */
export function publishBytes (topic: string, payload: Buffer | string, qos: number): number {
  const body = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  return 5 + Buffer.byteLength(topic) + (qos > 0 ? 2 : 0) + body
}

/**
 * The outbound accounting of one client, pure: its QoS 1/2 deliveries not acknowledged yet (by
 * packet id), the bytes it has not read (its stream's buffer, told by `streamBytes`, plus what was
 * accepted for writing and has not reached the stream yet: aedes writes a turn of the event loop
 * after it accepts), and the queue of a clean session. It answers whether a delivery fits, and
 * whether the client is over its bounds (the slow-client clock runs while it is).
 *
 * A delivery fits when the window has a free slot (QoS 1/2) and the bytes stay within the bound; an
 * empty buffer takes one message of any size, so a message larger than the bound still goes out
 * (alone).
 */
export class ClientOutbound {
  /** packet ids of QoS 1/2 deliveries written and not acknowledged */
  readonly inflight = new Set<number>()
  private readonly queue: QueuedMessage[] = []
  private queuedBytes = 0
  /** bytes accepted in this turn of the event loop: not in the stream yet */
  private accepting = 0
  /** bytes accepted in the previous turn: reaching the stream now */
  private landing = 0
  /** a delivery did not fit its bytes, and the buffer has not emptied since */
  private blocked = false

  constructor (private readonly limits: OutboundLimits, private readonly streamBytes: () => number) {}

  /** Bytes for this client the node holds and the client has not read. */
  get buffered (): number {
    return this.streamBytes() + this.accepting + this.landing
  }

  /** Messages waiting in the queue (clean sessions). */
  get queued (): number {
    return this.queue.length
  }

  /**
   * Can a delivery of `bytes` at `qos` be written now? When its bytes do not fit, the client is
   * blocked (over its bound: the slow-client clock runs) until its buffer empties.
   */
  hasRoom (bytes: number, qos: number): boolean {
    if (qos > 0 && this.inflight.size >= this.limits.maxInflight) return false
    const buffered = this.buffered
    if (buffered === 0) {
      this.blocked = false
      return true
    }
    if (buffered + bytes <= this.limits.maxBufferBytes) return true
    this.blocked = true
    return false
  }

  /** The stream emptied (its `drain`), or may have: no longer blocked once nothing is buffered. */
  drained (): void {
    if (this.buffered === 0) this.blocked = false
  }

  /**
   * A live delivery to a clean session: written now (nothing queued ahead and room), queued (QoS 1/2
   * while the queue has a place and bytes), or dropped.
   */
  offer (bytes: number, qos: number): CleanVerdict {
    if (qos === 0) return this.hasRoom(bytes, 0) ? 'send' : 'drop'
    if (this.queue.length === 0 && this.hasRoom(bytes, qos)) return 'send'
    if (this.queue.length >= this.limits.maxQueueLen) return 'drop'
    const fits = this.queue.length === 0 || this.buffered + this.queuedBytes + bytes <= this.limits.maxBufferBytes
    return fits ? 'queue' : 'drop'
  }

  enqueue (message: QueuedMessage): void {
    this.queue.push(message)
    this.queuedBytes += message.bytes
  }

  /** The first queued message, taken from the queue, if it can be written now. */
  nextQueued (): QueuedMessage | undefined {
    const head = this.queue[0]
    if (head === undefined || !this.hasRoom(head.bytes, head.qos)) return undefined
    this.queue.shift()
    this.queuedBytes -= head.bytes
    return head
  }

  /** A packet is on its way to the client (aedes writes it next turn); `packetId` when it will be acknowledged. */
  accepted (bytes: number, packetId: number | undefined): void {
    this.accepting += bytes
    if (packetId !== undefined) this.inflight.add(packetId)
  }

  /** Has anything been accepted since the last `startLanding`? */
  get accepts (): boolean {
    return this.accepting > 0
  }

  /** A turn begins: what was accepted is being written now. Returns the amount, for `landed`. */
  startLanding (): number {
    const n = this.accepting
    this.landing += n
    this.accepting = 0
    return n
  }

  /** A turn later: `n` bytes of `startLanding` are in the stream (counted there). */
  landed (n: number): void {
    this.landing = Math.max(0, this.landing - n)
  }

  /** PUBACK or PUBCOMP; false when the id was not one of this client's deliveries in flight. */
  acked (packetId: number): boolean {
    return this.inflight.delete(packetId)
  }

  /** Over a bound: the window is full, or a delivery found no room for its bytes and the buffer has not emptied since (the slow-client clock runs). */
  get over (): boolean {
    return this.inflight.size >= this.limits.maxInflight || this.blocked
  }

  /**
   * Room for a persistent session to catch up from Kafka: half the window free and nothing
   * buffered, so a round delivers a batch and does not stop at its first record.
   */
  get roomToCatchUp (): boolean {
    return this.inflight.size <= Math.floor(this.limits.maxInflight / 2) && this.buffered === 0
  }
}
