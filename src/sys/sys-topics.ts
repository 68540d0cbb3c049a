import type { Logger } from '../observability/logger.js'
import type { TrafficCounters } from '../observability/traffic.js'
import type { ClientEvents, ConnectedClient, DisconnectReason, Subscription } from '../presence/client-events.js'

export interface SysTopicsOptions {
  node: string
  version: string
  /** ms; null = off (version, sysdescr, $SYS/brokers, stats, metrics) */
  msgIntervalMs: number | null
  /** ms; null = off (uptime, datetime) */
  heartbeatIntervalMs: number | null
  events: { connected: boolean; disconnected: boolean; subscribed: boolean; unsubscribed: boolean }
}

/** The numbers `$SYS/brokers/<node>/stats/...` and `.../metrics/...` show, read at each tick. */
export interface SysNumbers {
  connections: number
  connectionsMax: number
  sessions: number
  subscriptions: number
  sharedSubscriptions: number
  retained: number
  dropped: number
  traffic: TrafficCounters
}

export interface SysSources {
  /** delivers to this node's subscribers only (never Kafka) */
  publish: (topic: string, payload: Buffer) => void
  startedAt: () => number
  liveNodes: () => string[]
  numbers: () => SysNumbers
}

/** A topic level made of a name that may hold `/`, `+` or `#` (node names, client ids). */
export function topicLevel (name: string): string {
  return name.replace(/[/+#]/g, '_')
}

/**
 * `$SYS` topics with EMQX's names, for this node's subscribers only (never written to Kafka):
 * `$SYS/brokers` (live nodes), `$SYS/brokers/<node>/version|sysdescr`, `.../stats/...` and
 * `.../metrics/...` every `sys_msg_interval`; `.../uptime` (seconds) and `.../datetime` (ISO 8601)
 * every `sys_heartbeat_interval`; `.../clients/<client id>/connected|disconnected|subscribed|unsubscribed`
 * (EMQX's JSON payloads) when this node's clients do so. A `/`, `+` or `#` in a node name or client
 * id becomes `_` in the topic (the payload has the real one). Subscribing is an ACL matter.
 */
export class SysTopics implements ClientEvents {
  private readonly timers: NodeJS.Timeout[] = []
  /** what a disconnected event repeats of its connection, by connection id */
  private readonly connections = new Map<string, { username: string | null; ipaddress: string; proto_ver: number }>()
  private readonly prefix: string
  private readonly log: Logger

  constructor (private readonly opts: SysTopicsOptions, private readonly src: SysSources, logger: Logger) {
    this.prefix = `$SYS/brokers/${topicLevel(opts.node)}`
    this.log = logger.child({ component: 'sys' })
  }

  start (): void {
    const every = (ms: number | null, tick: () => void): void => {
      if (ms === null) return
      const timer = setInterval(() => {
        try { tick() } catch (err) { this.log.warn({ err }, '$SYS messages not published') }
      }, ms)
      timer.unref()
      this.timers.push(timer)
    }
    every(this.opts.msgIntervalMs, () => this.publishStats())
    every(this.opts.heartbeatIntervalMs, () => this.publishHeartbeat())
  }

  stop (): void {
    for (const t of this.timers.splice(0)) clearInterval(t)
  }

  /** uptime and datetime. */
  publishHeartbeat (now = Date.now()): void {
    this.put('uptime', String(Math.floor((now - this.src.startedAt()) / 1000)))
    this.put('datetime', new Date(now).toISOString())
  }

  /** $SYS/brokers, version, sysdescr, stats and metrics. */
  publishStats (): void {
    this.src.publish('$SYS/brokers', Buffer.from(this.src.liveNodes().join(',')))
    this.put('version', this.opts.version)
    this.put('sysdescr', 'Wharf, an MQTT broker whose cluster is Apache Kafka')
    const n = this.src.numbers()
    const t = n.traffic
    const values: Array<[string, number]> = [
      ['stats/connections/count', n.connections],
      ['stats/connections/max', n.connectionsMax],
      ['stats/sessions/count', n.sessions],
      ['stats/subscriptions/count', n.subscriptions],
      ['stats/subscriptions/shared/count', n.sharedSubscriptions],
      ['stats/retained/count', n.retained],
      ['metrics/messages/received', t.messagesIn],
      ['metrics/messages/sent', t.messagesOut],
      ['metrics/messages/dropped', n.dropped],
      ['metrics/bytes/received', t.bytesIn],
      ['metrics/bytes/sent', t.bytesOut],
      ['metrics/packets/received', sum(t.packetsIn)],
      ['metrics/packets/sent', sum(t.packetsOut)]
    ]
    for (let qos = 0; qos <= 2; qos++) {
      values.push([`metrics/messages/qos${qos}/received`, t.publishIn[qos] ?? 0], [`metrics/messages/qos${qos}/sent`, t.publishOut[qos] ?? 0])
    }
    for (const [name, value] of values) this.put(name, String(value))
  }

  connected (c: ConnectedClient): void {
    if (this.opts.events.disconnected) this.connections.set(c.conn, { username: c.username ?? null, ipaddress: c.peerhost, proto_ver: c.protoVer })
    if (!this.opts.events.connected) return
    const now = Date.now()
    this.event(c.clientId, 'connected', {
      clientid: c.clientId,
      username: c.username ?? null,
      ipaddress: c.peerhost,
      listener: c.listener,
      proto_name: c.protoVer === 3 ? 'MQIsdp' : 'MQTT',
      proto_ver: c.protoVer,
      keepalive: c.keepalive,
      clean_start: c.clean,
      connack: 0,
      connected_at: now,
      ts: now
    })
  }

  disconnected (clientId: string, conn: string, reason: DisconnectReason): void {
    if (!this.opts.events.disconnected) return
    const known = this.connections.get(conn)
    this.connections.delete(conn)
    const now = Date.now()
    this.event(clientId, 'disconnected', { clientid: clientId, ...known, reason, disconnected_at: now, ts: now })
  }

  subscribed (clientId: string, _conn: string, subs: Subscription[]): void {
    if (!this.opts.events.subscribed) return
    for (const [topic, qos] of subs) this.event(clientId, 'subscribed', { clientid: clientId, topic, subopts: { qos }, ts: Date.now() })
  }

  unsubscribed (clientId: string, _conn: string, filters: string[]): void {
    if (!this.opts.events.unsubscribed) return
    for (const topic of filters) this.event(clientId, 'unsubscribed', { clientid: clientId, topic, ts: Date.now() })
  }

  private event (clientId: string, what: string, payload: object): void {
    this.src.publish(`${this.prefix}/clients/${topicLevel(clientId)}/${what}`, Buffer.from(JSON.stringify(payload)))
  }

  private put (name: string, value: string): void {
    this.src.publish(`${this.prefix}/${name}`, Buffer.from(value))
  }
}

function sum (values: number[]): number {
  let s = 0
  for (const v of values) s += v
  return s
}
