import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { GraphQLError } from 'graphql'
import { isDatabaseBusy, isDatabaseUnavailable } from '../db/index.js'
import { badInput, isAppError, type FieldError } from '../shared/errors.js'
import { formatGraphQLError } from '../shared/graphql-errors.js'
import { LimitError, RETRY_AFTER_S } from './limits.js'

interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code?: string
  errors?: FieldError[]
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable'
}

export const problemType = (status: number): string => `urn:beneficiary-registry:problem:${status}`

/** Fastify's own schema-validation errors, as field paths like `body.nationalIds.3`. */
function validationFields (err: FastifyError): FieldError[] {
  const where = err.validationContext ?? 'request'
  return (err.validation ?? []).map((v) => {
    const params = v.params as Record<string, unknown>
    const extra = (params.missingProperty ?? params.additionalProperty) as string | undefined
    const segments = [where, ...v.instancePath.split('/').filter(Boolean), ...(extra === undefined ? [] : [extra])]
    const message = params.additionalProperty !== undefined ? 'is not allowed' : v.message ?? 'is invalid'
    return { path: segments.join('.'), message }
  })
}

const kib = (bytes: number): string => bytes % (1024 * 1024) === 0 ? `${bytes / 1024 / 1024} MiB` : `${Math.floor(bytes / 1024)} KiB`

function problemOf (err: FastifyError, bodyLimit: number): Problem {
  if (isAppError(err)) {
    return {
      type: problemType(err.status),
      title: TITLES[err.status] ?? 'Error',
      status: err.status,
      detail: err.status < 500 ? err.message : 'Internal server error',
      code: err.code,
      ...(err.fields.length > 0 ? { errors: err.fields } : {})
    }
  }
  if (err.validation !== undefined) {
    const errors = validationFields(err)
    return {
      type: problemType(400),
      title: TITLES[400]!,
      status: 400,
      detail: errors.map(e => `${e.path}: ${e.message}`).join('; '),
      code: 'BAD_USER_INPUT',
      errors
    }
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    // The body is bad input like any other (the contract's code), with the status that says why.
    const errors = [{ path: 'body', message: `is larger than the limit of ${kib(bodyLimit)}` }]
    return { type: problemType(413), title: TITLES[413]!, status: 413, detail: `The request body is larger than the limit of ${kib(bodyLimit)}`, code: 'BAD_USER_INPUT', errors }
  }
  if ((err as unknown) instanceof GraphQLError) {
    // A GraphQL request error raised outside execution (e.g. bad variables met by the cost check).
    return { type: problemType(400), title: TITLES[400]!, status: 400, detail: err.message, code: 'BAD_USER_INPUT' }
  }
  if (err instanceof LimitError) {
    return { type: problemType(err.statusCode), title: TITLES[err.statusCode]!, status: err.statusCode, detail: err.message, code: err.code }
  }
  if (isDatabaseBusy(err)) {
    return { type: problemType(503), title: TITLES[503]!, status: 503, detail: 'The database did not answer in time; retry later', code: 'SERVICE_UNAVAILABLE' }
  }
  if (isDatabaseUnavailable(err)) {
    return { type: problemType(503), title: TITLES[503]!, status: 503, detail: 'The database is unavailable; retry later', code: 'SERVICE_UNAVAILABLE' }
  }
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
  return {
    type: problemType(status),
    title: TITLES[status] ?? 'Error',
    status,
    detail: status < 500 ? err.message : 'Internal server error',
    // Fastify's own refusals of a body it cannot parse (bad JSON, empty, wrong charset): the body is the bad field.
    ...(status === 400 || status === 422 ? { code: 'BAD_USER_INPUT', errors: [{ path: 'body', message: err.message }] } : {})
  }
}

/**
 * One rendering of every error that reaches HTTP: RFC 9457 problem+json for REST,
 * and a GraphQL-shaped body (`errors[].extensions.code`) for the GraphQL
 * transport, e.g. a request refused by authentication before GraphQL ran.
 */
export function sendError (req: FastifyRequest, reply: FastifyReply, err: FastifyError): FastifyReply {
  const problem = problemOf(err, req.routeOptions.bodyLimit)
  if (problem.code === 'SERVICE_UNAVAILABLE') req.log.warn({ err }, problem.detail)
  else if (problem.status >= 500) req.log.error({ err }, 'request failed')
  else req.log.info({ code: problem.code, status: problem.status }, problem.detail)
  if (problem.status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', RETRY_AFTER_S)
  if (req.routeOptions.url === '/graphql') {
    // Mercurius refuses a bad document or bad variables with one error holding the list; a
    // preExecution hook (the cost check) meets bad variables first when the document is compiled.
    const list = err instanceof GraphQLError ? [err] : (err as { errors?: GraphQLError[] }).errors
    if (Array.isArray(list)) {
      return reply.code(problem.status).type('application/json; charset=utf-8')
        .send({ data: null, errors: list.flatMap(e => formatGraphQLError(e, req.log, req.server.deps.config.env === 'production')) })
    }
    // GraphQL keeps to the contract's six codes: "retry later" is INTERNAL with the HTTP-level reason beside it.
    const retryLater = problem.code === 'TOO_MANY_REQUESTS' || problem.code === 'SERVICE_UNAVAILABLE'
    const extensions = retryLater
      ? { code: 'INTERNAL', reason: problem.code }
      : { code: problem.code ?? (problem.status >= 500 ? 'INTERNAL' : 'BAD_USER_INPUT'), ...(problem.errors ? { fields: problem.errors } : {}) }
    return reply.code(problem.status).type('application/json; charset=utf-8')
      .send({ data: null, errors: [{ message: problem.detail, extensions }] })
  }
  return reply.code(problem.status).type('application/problem+json; charset=utf-8').send(problem)
}

/**
 * Fastify's refusals before routing (`frameworkErrors`): a URL that is not valid
 * percent-encoded UTF-8, or a path parameter longer than the router takes. Rendered
 * as every other bad input (400 naming the URL); the URL itself is not echoed.
 */
export function frameworkError (err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'has a path segment longer than 100 characters' : 'is not valid percent-encoded UTF-8'
  const problem = problemOf(badInput([{ path: 'url', message }]) as unknown as FastifyError, req.server.initialConfig.bodyLimit ?? 0)
  req.log.info({ code: problem.code, status: problem.status }, problem.detail)
  void reply.code(problem.status).type('application/problem+json; charset=utf-8').send(problem)
}

export default fp(async (app) => {
  app.setErrorHandler((err: FastifyError, req, reply) => sendError(req, reply, err))
  app.setNotFoundHandler((req, reply) => sendError(req, reply, Object.assign(new Error('No such route'), { statusCode: 404 }) as FastifyError))
}, { name: 'http-errors' })
