import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from '../observability/logger.js'

/** An answer other than success: HTTP status, a code word for scripts and a message for people. */
export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message)
    this.name = 'ApiError'
  }
}

/** 400 naming the field at fault. */
export function badRequest (field: string, message: string): ApiError {
  return new ApiError(400, 'BAD_REQUEST', `${field}: ${message}`, field)
}

/** The body of every error answer (also in the OpenAPI document). */
export interface ErrorBody { code: string; message: string; field?: string }

interface ValidationIssue { instancePath: string; message?: string; params: Record<string, unknown> }

/**
 * The field a JSON-schema failure is about, as a path (`qos`, `[2].topic`), from ajv's issue: the
 * missing or unknown property, or the instance path.
 */
export function fieldOf (issue: ValidationIssue): string {
  const extra = issue.params.missingProperty ?? issue.params.additionalProperty
  const path = issue.instancePath.split('/').slice(1).map(p => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('')
  const full = typeof extra === 'string' ? `${path}.${extra}` : path
  return full.replace(/^\./, '')
}

/** Every error as JSON `{code, message, field?}`; validation failures are 400 naming the field. */
export function errorHandler (log: Logger) {
  return (err: FastifyError | ApiError, request: FastifyRequest, reply: FastifyReply): void => {
    if (err instanceof ApiError) {
      void reply.code(err.status).send(body(err.code, err.message, err.field))
      return
    }
    const issues = (err as FastifyError & { validation?: ValidationIssue[]; validationContext?: string }).validation
    if (issues !== undefined && issues.length > 0) {
      const issue = issues[0] as ValidationIssue
      const field = fieldOf(issue) || ((err as { validationContext?: string }).validationContext ?? 'body')
      const allowed = issue.params.allowedValues
      const what = issue.params.additionalProperty !== undefined
        ? 'is not a known field'
        : issue.params.missingProperty !== undefined
          ? 'is required'
          : Array.isArray(allowed) ? `must be one of ${allowed.join(', ')}` : issue.message ?? 'is not valid'
      void reply.code(400).send(body('BAD_REQUEST', `${field}: ${what}`, field))
      return
    }
    const status = err.statusCode ?? 500
    if (status >= 500) log.error({ err, method: request.method, url: request.url }, 'API request failed')
    void reply.code(status).send(body(status >= 500 ? 'INTERNAL_ERROR' : err.code ?? 'BAD_REQUEST', status >= 500 ? 'the request failed; see the node\'s log' : err.message))
  }
}

function body (code: string, message: string, field?: string): ErrorBody {
  return field === undefined ? { code, message } : { code, message, field }
}
