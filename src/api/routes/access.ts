import { isIP } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { normalizeIp } from '../../auth/authz/acl-rule.js'
import { BAN_KINDS, banKey, encodeBanRecord, type BanKind, type BanRecord } from '../../auth/bans/banned-record.js'
import { PasswordTooLongError } from '../../auth/hash/password-hash.js'
import { encodeUserRecord, isValidUsername, summarize, type UserRecord } from '../../auth/users/user-record.js'
import { apiKeyOf } from '../api-auth.js'
import type { ApiContext } from '../api-context.js'
import { ApiError, badRequest } from '../api-errors.js'
import { errorResponses, errorSchema } from '../schemas.js'

const userJson = {
  type: 'object',
  properties: { username: { type: 'string' }, superuser: { type: 'boolean' }, algorithm: { type: 'string' }, created_at: { type: 'number' }, updated_at: { type: 'number' } },
  required: ['username', 'superuser', 'algorithm', 'created_at', 'updated_at']
} as const

const banJson = {
  type: 'object',
  properties: { as: { type: 'string', enum: [...BAN_KINDS] }, who: { type: 'string' }, by: { type: 'string' }, reason: { type: 'string' }, at: { type: 'number' }, until: { type: ['number', 'null'] } },
  required: ['as', 'who', 'by', 'reason', 'at', 'until']
} as const

function userOut (r: UserRecord) {
  const s = summarize(r)
  return { username: s.username, superuser: s.superuser, algorithm: s.algorithm, created_at: s.createdAt, updated_at: s.updatedAt }
}

function banOut (b: BanRecord) {
  return { as: b.kind, who: b.value, by: b.by, reason: b.reason, at: b.at, until: b.until }
}

/**
 * The users of `built_in_database` and the bans, as `wharf users` and `wharf banned` manage them:
 * written to their Kafka topics (every node applies them within a log round trip) and applied to
 * this node's views at once, so that a GET right after sees the change.
 */
export function accessRoutes (app: FastifyInstance, ctx: ApiContext): void {
  const hash = async (password: string): Promise<Pick<UserRecord, 'hash' | 'scram'>> => {
    try {
      return await ctx.passwordCredentials(Buffer.from(password, 'utf8'))
    } catch (err) {
      if (err instanceof PasswordTooLongError) throw badRequest('password', err.message)
      throw err
    }
  }
  const putUser = async (r: UserRecord): Promise<void> => {
    const value = encodeUserRecord(r)
    await ctx.writeUser(r.username, value)
    ctx.users.apply(r.username, value)
  }

  app.get('/users', {
    schema: { summary: 'the built-in users (never a hash)', tags: ['access'], response: { 200: { type: 'object', properties: { data: { type: 'array', items: userJson } }, required: ['data'] }, ...errorResponses } }
  }, async () => ({ data: ctx.users.list().map(userOut) }))

  app.post('/users', {
    schema: {
      summary: 'add a user (the password is hashed with authentication.password_hash_algorithm and the pepper)',
      tags: ['access'],
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { username: { type: 'string', minLength: 1 }, password: { type: 'string', minLength: 1 }, superuser: { type: 'boolean', default: false } },
        required: ['username', 'password']
      },
      response: { 201: userJson, 409: errorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const b = request.body as { username: string; password: string; superuser: boolean }
    if (!isValidUsername(b.username)) throw badRequest('username', 'a user name is 1 to 65535 bytes without NUL')
    if (ctx.users.get(b.username) !== undefined) throw new ApiError(409, 'ALREADY_EXISTS', `user ${b.username} exists (PUT /users/{username} changes it)`)
    const now = Date.now()
    const record: UserRecord = { v: 1, username: b.username, superuser: b.superuser, ...await hash(b.password), createdAt: now, updatedAt: now }
    await putUser(record)
    return reply.code(201).send(userOut(record))
  })

  const userParams = { type: 'object', properties: { username: { type: 'string' } }, required: ['username'] } as const

  app.put('/users/:username', {
    schema: {
      summary: 'change a user\'s password and/or superuser flag',
      tags: ['access'],
      params: userParams,
      body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { password: { type: 'string', minLength: 1 }, superuser: { type: 'boolean' } } },
      response: { 200: userJson, 404: errorSchema, ...errorResponses }
    }
  }, async (request) => {
    const { username } = request.params as { username: string }
    const b = request.body as { password?: string; superuser?: boolean }
    const old = ctx.users.get(username)
    if (old === undefined) throw new ApiError(404, 'USER_NOT_FOUND', `no user ${username}`)
    const record: UserRecord = { ...old, superuser: b.superuser ?? old.superuser, ...(b.password === undefined ? {} : { scram: undefined, ...await hash(b.password) }), updatedAt: Date.now() }
    await putUser(record)
    return userOut(record)
  })

  app.delete('/users/:username', {
    schema: { summary: 'delete a user (new logins refused on every node)', tags: ['access'], params: userParams, response: { 204: { type: 'null' }, 404: errorSchema, ...errorResponses } }
  }, async (request, reply) => {
    const { username } = request.params as { username: string }
    if (ctx.users.get(username) === undefined) throw new ApiError(404, 'USER_NOT_FOUND', `no user ${username}`)
    await ctx.writeUser(username, null)
    ctx.users.apply(username, null)
    return reply.code(204).send()
  })

  app.get('/banned', {
    schema: { summary: 'the bans in force', tags: ['access'], response: { 200: { type: 'object', properties: { data: { type: 'array', items: banJson } }, required: ['data'] }, ...errorResponses } }
  }, async () => ({ data: ctx.banned.list().map(banOut) }))

  app.post('/banned', {
    schema: {
      summary: 'ban a client id, user name or address on every node',
      tags: ['access'],
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          as: { type: 'string', enum: [...BAN_KINDS] },
          who: { type: 'string', minLength: 1 },
          reason: { type: 'string', default: 'banned through the API' },
          until: { type: ['number', 'null'], description: 'epoch ms; null or absent = until deleted' }
        },
        required: ['as', 'who']
      },
      response: { 201: banJson, ...errorResponses }
    }
  }, async (request, reply) => {
    const b = request.body as { as: BanKind; who: string; reason: string; until?: number | null }
    if (b.as === 'peerhost' && isIP(normalizeIp(b.who)) === 0) throw badRequest('who', 'a peerhost ban takes an IP address')
    const now = Date.now()
    if (b.until !== undefined && b.until !== null && b.until <= now) throw badRequest('until', 'must be in the future (epoch ms)')
    const record: BanRecord = { v: 1, kind: b.as, value: b.who, by: `api:${apiKeyOf(request)}`, reason: b.reason, at: now, until: b.until ?? null }
    await ctx.writeBan(banKey(b.as, b.who), encodeBanRecord(record))
    ctx.banned.add(record)
    return reply.code(201).send(banOut(record))
  })

  app.delete('/banned/:as/:who', {
    schema: {
      summary: 'lift a ban',
      tags: ['access'],
      params: { type: 'object', properties: { as: { type: 'string', enum: [...BAN_KINDS] }, who: { type: 'string' } }, required: ['as', 'who'] },
      response: { 204: { type: 'null' }, 404: errorSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const { as, who } = request.params as { as: BanKind; who: string }
    const key = banKey(as, who)
    if (!ctx.banned.list().some(b => banKey(b.kind, b.value) === key)) throw new ApiError(404, 'BAN_NOT_FOUND', `no ban ${key} in force`)
    await ctx.writeBan(key, null)
    ctx.banned.apply(key, null)
    return reply.code(204).send()
  })
}
