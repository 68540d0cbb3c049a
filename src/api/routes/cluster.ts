import type { FastifyInstance } from 'fastify'
import { PresenceView } from '../../presence/presence-view.js'
import type { ApiContext, NodeStats } from '../api-context.js'
import { errorResponses, fullList } from '../schemas.js'

const rates = {
  type: ['object', 'null'],
  description: 'per second, between the node\'s last two heartbeats',
  properties: { received: { type: 'number' }, sent: { type: 'number' }, dropped: { type: 'number' }, bytes_in: { type: 'number' }, bytes_out: { type: 'number' } }
} as const

const listener = {
  type: 'object',
  properties: { node: { type: 'string' }, name: { type: 'string' }, kind: { type: 'string' }, host: { type: 'string' }, port: { type: 'integer' } },
  required: ['node', 'name', 'host', 'port']
} as const

const STAT_FIELDS = [
  'connections', 'connectionsMax', 'sessionsLocal', 'sessionsStored', 'subscriptions', 'sharedSubscriptions', 'retained', 'uptimeS',
  'received', 'sent', 'dropped', 'bytesIn', 'bytesOut', 'pendingBytes'
]
const nodeStatsSchema = {
  type: 'object',
  properties: { ...Object.fromEntries(STAT_FIELDS.map(k => [snake(k), { type: 'number' }])), ack_ms: { type: ['number', 'null'] } }
}

function snake (k: string): string {
  return k.replace(/[A-Z]/g, c => `_${c.toLowerCase()}`)
}

/** A node's stats with snake_case names. */
function statsJson (s: NodeStats): Record<string, number | null> {
  const out: Record<string, number | null> = {}
  for (const [k, v] of Object.entries(s)) out[k === 'ackMs' ? 'ack_ms' : snake(k)] = v
  return out
}

/** GET /nodes, /listeners, /stats, /metrics: the membership view and this node's numbers. */
export function clusterRoutes (app: FastifyInstance, ctx: ApiContext): void {
  app.get('/nodes', {
    schema: {
      summary: 'every node seen in the nodes topic: live, down or left, with what its last heartbeat said',
      tags: ['cluster'],
      response: {
        200: fullList({
              type: 'object',
              properties: {
                node: { type: 'string' },
                status: { type: 'string', enum: ['live', 'down', 'left'] },
                this_node: { type: 'boolean' },
                version: { type: ['string', 'null'] },
                started_at: { type: ['number', 'null'] },
                uptime_s: { type: ['number', 'null'] },
                last_heartbeat_at: { type: 'number' },
                connections: { type: ['integer', 'null'] },
                listeners: { type: 'array', items: listener },
                rates,
                pending_bytes: { type: ['number', 'null'], description: 'bytes waiting for Kafka\'s acknowledgement' },
                kafka_ack_ms: { type: ['number', 'null'], description: 'mean wait for Kafka\'s acknowledgement over its last heartbeat interval' }
              },
              required: ['node', 'status', 'this_node', 'last_heartbeat_at', 'listeners']
            }),
      ...errorResponses
    }
  }
}, async () => ({
  data: ctx.membership.states().map(s => {
    const hb = s.heartbeat
    return {
      node: s.node,
      status: s.status,
      this_node: s.node === ctx.node,
      version: hb?.version ?? null,
      started_at: hb?.startedAt ?? null,
      uptime_s: hb === undefined || s.status !== 'live' ? null : Math.floor((hb.at - hb.startedAt) / 1000),
      last_heartbeat_at: s.at,
      connections: hb?.connections ?? null,
      listeners: (hb?.listeners ?? []).map(l => ({ node: s.node, ...l })),
      rates: s.rates === undefined ? null : { received: s.rates.received, sent: s.rates.sent, dropped: s.rates.dropped, bytes_in: s.rates.bytesIn, bytes_out: s.rates.bytesOut },
      pending_bytes: hb?.counters?.pendingBytes ?? null,
      kafka_ack_ms: hb?.counters?.ackMs ?? null
    }
  })
}))

app.get('/listeners', {
  schema: {
    summary: 'the MQTT listeners of every live node (from their heartbeats)',
    tags: ['cluster'],
    response: { 200: { type: 'object', properties: { data: { type: 'array', items: listener } }, required: ['data'] }, ...errorResponses }
  }
}, async () => ({
  data: ctx.membership.states().filter(s => s.status === 'live').flatMap(s => (s.heartbeat?.listeners ?? []).map(l => ({ node: s.node, ...l })))
}))

app.get('/stats', {
  schema: {
    summary: 'this node\'s numbers, and the cluster\'s from the views every node keeps',
    tags: ['cluster'],
    response: {
      200: {
        type: 'object',
        properties: {
          node: { type: 'string' },
          this_node: nodeStatsSchema,
          cluster: {
            type: 'object',
            properties: {
              nodes_live: { type: 'integer' },
              nodes_down: { type: 'integer' },
              connections: { type: 'integer', description: 'sum of the live nodes\' last heartbeats' },
              clients_connected: { type: 'integer', description: 'presence records of connected clients on live nodes' },
              clients_known: { type: 'integer', description: 'presence records (connected clients and persistent sessions)' },
              sessions_stored: { type: 'integer' },
              retained: { type: 'integer' }
            }
          }
        }
      },
      ...errorResponses
    }
  }
}, async () => {
  const states = ctx.membership.states()
  const live = states.filter(s => s.status === 'live')
  let connected = 0
  const isLive = (node: string, inc: string): boolean => ctx.membership.isLive(node, inc)
  for (const r of ctx.presence.values()) if (PresenceView.isConnected(r, isLive)) connected++
  return {
    node: ctx.node,
    this_node: statsJson(ctx.stats()),
    cluster: {
      nodes_live: live.length,
      nodes_down: states.filter(s => s.status === 'down').length,
      connections: live.reduce((n, s) => n + (s.heartbeat?.connections ?? 0), 0),
      clients_connected: connected,
      clients_known: ctx.presence.size,
      sessions_stored: ctx.sessions.sessions.size,
      retained: ctx.retained.size
    }
  }
})

app.get('/metrics', {
  schema: {
    summary: 'this node\'s Prometheus metrics as JSON (prom-client\'s form); the text form is GET /metrics on the port',
    tags: ['cluster'],
    response: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } }, ...errorResponses }
  }
}, async () => ctx.metricsJson())
}
