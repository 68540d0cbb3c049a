import type { FastifyInstance } from 'fastify'
import type { ClientRecord } from '../../presence/client-record.js'
import { PresenceView, type Liveness } from '../../presence/presence-view.js'
import { apiKeyOf } from '../api-auth.js'
import type { ApiContext } from '../api-context.js'
import { ApiError } from '../api-errors.js'
import { clientSchema, errorResponses, errorSchema, meta, pagedList, pageQuery, subscriptionItem } from '../schemas.js'

/** How long DELETE /clients/{id} waits for the owning node to report the client gone. */
const KICK_WAIT_MS = 5000

/** A presence record as the API shows it (EMQX's field names). */
export function clientJson (r: ClientRecord, live: Liveness) {
  return {
    clientid: r.clientId,
    node: r.node,
    connected: PresenceView.isConnected(r, live),
    username: r.username,
    ip_address: r.peerhost,
    listener: r.listener,
    proto_ver: r.protoVer,
    clean_start: r.clean,
    keepalive: r.keepalive,
    expiry_interval: r.expiryS,
    connected_at: r.connectedAt,
    disconnected_at: r.disconnectedAt ?? null,
    disconnect_reason: r.reason ?? (r.connected && !live(r.node, r.inc) ? 'node_down' : null),
    subscriptions_cnt: r.subs.length
  }
}

interface ClientsQuery { node?: string; username?: string; clientid_prefix?: string; connected?: boolean; page: number; limit: number }
interface SubscriptionsQuery { clientid?: string; topic?: string; node?: string; share_group?: string; qos?: number; page: number; limit: number }

/** GET /clients, GET|DELETE /clients/{clientid}, GET /subscriptions: answered from the presence view (the whole cluster). */
export function clientRoutes (app: FastifyInstance, ctx: ApiContext): void {
  const live: Liveness = (node, inc) => ctx.membership.isLive(node, inc)

  app.get('/clients', {
    schema: {
      summary: 'clients of the whole cluster, sorted by client id',
      tags: ['clients'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          node: { type: 'string' },
          username: { type: 'string' },
          clientid_prefix: { type: 'string' },
          connected: { type: 'boolean', description: 'true: connected now; false: persistent sessions whose client is away' },
          ...pageQuery
        }
      },
      response: { 200: pagedList(clientSchema), ...errorResponses }
    }
  }, async (request) => {
    const q = request.query as ClientsQuery
    const { items, total } = ctx.presence.list({ node: q.node, username: q.username, clientIdPrefix: q.clientid_prefix, connected: q.connected }, q.page, q.limit, live)
    return { data: items.map(r => clientJson(r, live)), meta: meta(q.page, q.limit, total) }
  })

  const clientParams = { type: 'object', properties: { clientid: { type: 'string' } }, required: ['clientid'] } as const

  app.get('/clients/:clientid', {
    schema: {
      summary: 'one client, with its subscriptions and its persistent session',
      tags: ['clients'],
      params: clientParams,
      response: {
        200: {
          type: 'object',
          properties: {
            ...clientSchema.properties,
            subscriptions: { type: 'array', items: subscriptionItem },
            session: {
              type: ['object', 'null'],
              description: 'the persistent session (clean_start false), as its last record in the sessions topic says',
              properties: {
                connected: { type: 'boolean' },
                owner_node: { type: 'string' },
                expiry_interval: { type: 'integer' },
                subscriptions: { type: 'array', items: subscriptionItem },
                inflight: { type: 'integer', description: 'QoS 1/2 deliveries not completed (as of its last checkpoint)' },
                offline_backlog: { type: ['integer', 'null'], description: 'records in its partitions after its cursors: at most this many messages are waiting for it' }
              }
            }
          }
        },
        404: errorSchema,
        ...errorResponses
      }
    }
  }, async (request) => {
    const { clientid } = request.params as { clientid: string }
    const r = ctx.presence.get(clientid)
    if (r === undefined) throw new ApiError(404, 'CLIENT_NOT_FOUND', `no client ${clientid}`)
    const s = ctx.sessions.sessions.get(clientid)
    const session = s === undefined
      ? null
      : {
          connected: s.connected,
          owner_node: s.owner.node,
          expiry_interval: s.expiryS,
          subscriptions: s.subs.map(([topic, qos]) => ({ topic, qos })),
          inflight: s.unacked.length,
          offline_backlog: s.connected ? 0 : await ctx.sessionBacklog(s)
        }
    return { ...clientJson(r, live), subscriptions: r.subs.map(([topic, qos]) => ({ topic, qos })), session }
  })

  app.delete('/clients/:clientid', {
    schema: {
      summary: 'kick: the node that holds the connection closes it (through Kafka, from any node)',
      tags: ['clients'],
      params: clientParams,
      response: {
        204: { type: 'null', description: 'the owning node closed the connection' },
        202: { ...errorSchema, description: 'asked; the owning node has not reported the close within 5 s' },
        404: errorSchema,
        ...errorResponses
      }
    }
  }, async (request, reply) => {
    const { clientid } = request.params as { clientid: string }
    const r = ctx.presence.get(clientid)
    if (r === undefined || !PresenceView.isConnected(r, live)) throw new ApiError(404, 'CLIENT_NOT_CONNECTED', `client ${clientid} is not connected`)
    await ctx.kick(clientid, { node: r.node, conn: r.conn }, `api:${apiKeyOf(request)}`)
    const gone = await ctx.presence.waitFor(clientid, now => now === undefined || now.conn !== r.conn || !now.connected, KICK_WAIT_MS)
    if (!gone) return reply.code(202).send({ code: 'KICK_PENDING', message: `asked ${r.node} to close the connection; it has not reported it closed yet` })
    return reply.code(204).send()
  })

  app.get('/subscriptions', {
    schema: {
      summary: 'subscriptions of the cluster\'s clients (connected ones, and persistent sessions whose client is away)',
      tags: ['clients'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          clientid: { type: 'string' },
          topic: { type: 'string', description: 'the exact filter' },
          node: { type: 'string' },
          share_group: { type: 'string', description: 'shared subscriptions of this group' },
          qos: { type: 'integer', enum: [0, 1, 2] },
          ...pageQuery
        }
      },
      response: {
        200: pagedList({
          type: 'object',
          properties: { clientid: { type: 'string' }, node: { type: 'string' }, topic: { type: 'string' }, qos: { type: 'integer' }, connected: { type: 'boolean' } },
          required: ['clientid', 'node', 'topic', 'qos', 'connected']
        }),
        ...errorResponses
      }
    }
  }, async (request) => {
    const q = request.query as SubscriptionsQuery
    const share = q.share_group === undefined ? undefined : q.share_group === '$queue' ? '$queue/' : `$share/${q.share_group}/`
    const sources = q.clientid === undefined ? ctx.presence.list({ node: q.node }, 1, Number.MAX_SAFE_INTEGER, live).items : [ctx.presence.get(q.clientid)].filter(r => r !== undefined)
    const skip = (q.page - 1) * q.limit
    const data: Array<{ clientid: string; node: string; topic: string; qos: number; connected: boolean }> = []
    let count = 0
    for (const r of sources) {
      if (q.node !== undefined && r.node !== q.node) continue
      for (const [topic, qos] of r.subs) {
        if (q.topic !== undefined && topic !== q.topic) continue
        if (q.qos !== undefined && qos !== q.qos) continue
        if (share !== undefined && !topic.startsWith(share)) continue
        if (count >= skip && data.length < q.limit) data.push({ clientid: r.clientId, node: r.node, topic, qos, connected: PresenceView.isConnected(r, live) })
        count++
      }
    }
    return { data, meta: meta(q.page, q.limit, count) }
  })
}
