import type { FastifyInstance } from 'fastify'
import type { MqttMessage, Qos } from '../../protocol/message.js'
import { compileTopicFilter, isValidTopicFilter, isValidTopicName } from '../../protocol/topic-filter.js'
import { settlesWithin } from '../../util/async.js'
import { apiKeyOf } from '../api-auth.js'
import type { ApiContext } from '../api-context.js'
import { ApiError, badRequest } from '../api-errors.js'
import { errorResponses, errorSchema, meta, pagedList, pageQuery, publishBody } from '../schemas.js'

/** How long a publish waits for Kafka's acknowledgement before answering 503. */
const PUBLISH_WAIT_MS = 10000

interface PublishRequest { topic: string; payload: string; payload_encoding: 'plain' | 'base64'; qos: Qos; retain: boolean }

/** The message of one publish request; `at` prefixes the field names of a bulk item (`[3].`). */
export function toMessage (p: PublishRequest, node: string, by: string, at = ''): MqttMessage {
  if (!isValidTopicName(p.topic)) throw badRequest(`${at}topic`, 'an MQTT topic name: no + or #, no NUL')
  if (p.topic.startsWith('$')) throw badRequest(`${at}topic`, 'topics starting with $ are reserved ($SYS/...)')
  let payload: Buffer
  if (p.payload_encoding === 'base64') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(p.payload) || p.payload.length % 4 !== 0) throw badRequest(`${at}payload`, 'not base64 (payload_encoding is base64)')
    payload = Buffer.from(p.payload, 'base64')
  } else {
    payload = Buffer.from(p.payload, 'utf8')
  }
  return { topic: p.topic, payload, qos: p.qos, retain: p.retain, clientId: by, node }
}

async function publishAll (ctx: ApiContext, messages: MqttMessage[]): Promise<void> {
  const written = Promise.all(messages.map(m => ctx.publish(m)))
  if (!await settlesWithin(written, PUBLISH_WAIT_MS)) {
    throw new ApiError(503, 'KAFKA_UNAVAILABLE', `Kafka did not acknowledge within ${PUBLISH_WAIT_MS / 1000} s; the message may still be written`)
  }
  await written
}

const acknowledged = {
  type: 'object',
  properties: { topic: { type: 'string' }, qos: { type: 'integer' }, retain: { type: 'boolean' }, bytes: { type: 'integer', description: 'payload bytes' } },
  required: ['topic', 'qos', 'retain', 'bytes']
} as const

/** POST /publish, POST /publish/bulk, GET /topics (the retained topics). */
export function messageRoutes (app: FastifyInstance, ctx: ApiContext): void {
  const ackOf = (m: MqttMessage) => ({ topic: m.topic, qos: m.qos, retain: m.retain, bytes: m.payload.length })

  app.post('/publish', {
    schema: {
      summary: 'publish a message as a device would: into Kafka through the mapping, then to every subscriber of the cluster',
      description: 'Answers once Kafka acknowledged the record (and the retained record). The record\'s mqtt.client_id header is `api:<key name>`.',
      tags: ['messages'],
      body: publishBody,
      response: { 200: acknowledged, 503: errorSchema, ...errorResponses }
    }
  }, async (request) => {
    const m = toMessage(request.body as PublishRequest, ctx.node, `api:${apiKeyOf(request)}`)
    await publishAll(ctx, [m])
    return ackOf(m)
  })

  app.post('/publish/bulk', {
    schema: {
      summary: 'publish up to 1000 messages in order; all or nothing is validated before any is written',
      tags: ['messages'],
      body: { type: 'array', minItems: 1, maxItems: 1000, items: publishBody },
      response: { 200: { type: 'array', items: acknowledged }, 503: errorSchema, ...errorResponses }
    }
  }, async (request) => {
    const by = `api:${apiKeyOf(request)}`
    const messages = (request.body as PublishRequest[]).map((p, i) => toMessage(p, ctx.node, by, `[${i}].`))
    await publishAll(ctx, messages)
    return messages.map(ackOf)
  })

  app.get('/topics', {
    schema: {
      summary: 'retained topics (the retained view every node keeps), sorted',
      tags: ['messages'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { match: { type: 'string', description: 'a topic filter (+, #) the topics must match; default #' }, ...pageQuery }
      },
      response: {
        200: pagedList({
              type: 'object',
              properties: { topic: { type: 'string' }, qos: { type: 'integer' }, payload_bytes: { type: 'integer' }, payload: { type: 'string', description: 'the first 256 bytes, as text' } },
              required: ['topic', 'qos', 'payload_bytes', 'payload']
            }),
      ...errorResponses
    }
  }
}, async (request) => {
  const q = request.query as { match?: string; page: number; limit: number }
  const filter = q.match ?? '#'
  if (!isValidTopicFilter(filter)) throw badRequest('match', 'an MQTT topic filter')
  const matches = compileTopicFilter(filter)
  const all = ctx.retained.match([filter.startsWith('$') ? filter : '#']).filter(m => matches(m.topic)).sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))
  const page = all.slice((q.page - 1) * q.limit, q.page * q.limit)
  return {
    data: page.map(m => ({ topic: m.topic, qos: m.qos, payload_bytes: m.payload.length, payload: m.payload.subarray(0, 256).toString('utf8') })),
    meta: meta(q.page, q.limit, all.length)
  }
})
}
