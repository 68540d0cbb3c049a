/*
 * JSON schemas the API's routes share: fastify validates requests with them (a failure is 400
 * naming the field), serializes responses with them, and @fastify/swagger turns them into the
 * OpenAPI document at /api/v1/openapi.json.
 */

export const errorSchema = {
  type: 'object',
  description: 'every error: a code word for scripts, a message for people, the field at fault for 400',
  properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
  required: ['code', 'message']
} as const

/** The error answers every protected route may give. */
export const errorResponses = {
  400: { ...errorSchema, description: 'bad input; `field` names it' },
  401: { ...errorSchema, description: 'no valid API key (HTTP basic authentication name:secret)' }
} as const

export const pageQuery = {
  page: { type: 'integer', minimum: 1, default: 1, description: '1-based' },
  limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100 }
} as const

export const pageMeta = {
  type: 'object',
  properties: {
    page: { type: 'integer' },
    limit: { type: 'integer' },
    count: { type: 'integer', description: 'items matching, over all pages' },
    hasnext: { type: 'boolean' }
  },
  required: ['page', 'limit', 'count', 'hasnext']
} as const

/** The 200 response of a paged listing: `{ data: [item...], meta }`. */
export function pagedList (item: object): object {
  return { type: 'object', properties: { data: { type: 'array', items: item }, meta: pageMeta }, required: ['data', 'meta'] }
}

/** The 200 response of a whole listing: `{ data: [item...] }`. */
export function fullList (item: object): object {
  return { type: 'object', properties: { data: { type: 'array', items: item } }, required: ['data'] }
}

/** `{page, limit, count, hasnext}` of a listing. */
export function meta (page: number, limit: number, count: number): { page: number; limit: number; count: number; hasnext: boolean } {
  return { page, limit, count, hasnext: page * limit < count }
}

const nullableNumber = { type: ['number', 'null'] } as const
const nullableString = { type: ['string', 'null'] } as const

export const subscriptionItem = {
  type: 'object',
  properties: { topic: { type: 'string' }, qos: { type: 'integer' } },
  required: ['topic', 'qos']
} as const

export const clientSchema = {
  type: 'object',
  properties: {
    clientid: { type: 'string' },
    node: { type: 'string', description: 'the node the client is (or was last) connected to' },
    connected: { type: 'boolean', description: 'connected now (its node is alive)' },
    username: nullableString,
    ip_address: { type: 'string' },
    listener: { type: 'string' },
    proto_ver: { type: 'integer', description: '3 = MQTT 3.1, 4 = MQTT 3.1.1' },
    clean_start: { type: 'boolean' },
    keepalive: { type: 'integer' },
    expiry_interval: { type: 'integer', description: 'seconds a persistent session outlives the disconnect; 0 = none or forever' },
    connected_at: { type: 'number', description: 'epoch ms' },
    disconnected_at: nullableNumber,
    disconnect_reason: nullableString,
    subscriptions_cnt: { type: 'integer' }
  },
  required: ['clientid', 'node', 'connected', 'username', 'ip_address', 'listener', 'proto_ver', 'clean_start', 'keepalive', 'expiry_interval', 'connected_at', 'disconnected_at', 'disconnect_reason', 'subscriptions_cnt']
} as const

export const publishBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    topic: { type: 'string', minLength: 1, maxLength: 65535, description: 'an MQTT topic name: no wildcards, not a $ topic' },
    payload: { type: 'string', description: 'text (payload_encoding plain) or base64' },
    payload_encoding: { type: 'string', enum: ['plain', 'base64'], default: 'plain' },
    qos: { type: 'integer', enum: [0, 1, 2], default: 0 },
    retain: { type: 'boolean', default: false }
  },
  required: ['topic', 'payload']
} as const
