import type { Duplex } from 'node:stream'
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
  406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error',
  503: 'Service Unavailable'
}

export const problemType = (status: number): string => `urn:beneficiary-registry:problem:${status}`

/** The protection space named in `WWW-Authenticate` (RFC 6750). */
const REALM = 'beneficiary-registry'

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
 * Most of a refused body that is still read, and dropped, after its 413. Fastify answers
 * a body over the limit at once and closes the connection, and closing a socket with
 * unread bytes resets it: a client still sending (one that reads only once it has sent,
 * like curl) then loses the answer to the reset. So the connection is kept and the rest
 * of the body drained; past this many bytes it is cut all the same.
 */
export const DRAIN_AFTER_413_BYTES = 64 * 1024 * 1024

function drainAfter413 (req: FastifyRequest, reply: FastifyReply): void {
  // Without `connection: close` Node reads the rest of the body and drops it once the
  // answer is sent, then closes (IncomingMessage._dump): no unread bytes, no reset.
  reply.removeHeader('connection')
  reply.raw.once('finish', () => {
    const socket = req.raw.socket
    const start = socket.bytesRead
    // Node's parser reads the socket's handle directly (no 'data' events): its byte count is watched.
    const watch = setInterval(() => {
      if (req.raw.complete || socket.destroyed) clearInterval(watch)
      else if (socket.bytesRead - start > DRAIN_AFTER_413_BYTES) {
        clearInterval(watch)
        socket.destroy()
      }
    }, 20)
    watch.unref()
  })
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
  if (problem.status === 413) drainAfter413(req, reply)
  if (problem.status === 401) {
    // RFC 6750 §3: the scheme a client must use; `invalid_token` when it sent one that was refused.
    reply.header('www-authenticate', req.headers.authorization === undefined ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`)
  }
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

/**
 * Node's refusals of a request it cannot even parse (`clientErrorHandler`): headers over
 * Node's limit (16 KiB: 431), a request not received within REQUEST_TIMEOUT_MS (408),
 * anything that is not HTTP (400). Written to the socket as problem+json like every other
 * answer. The connection is then closed gracefully: what the client still sends is read
 * and dropped for a moment, so that closing does not reset the answer away.
 */
export function clientError (this: { log: FastifyRequest['log'] }, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  const problem: Problem = status === 431
    ? { type: problemType(431), title: TITLES[431]!, status, detail: 'The request headers are larger than the limit of 16 KiB', code: 'BAD_USER_INPUT', errors: [{ path: 'headers', message: 'are larger than the limit of 16 KiB' }] }
    : status === 408
      ? { type: problemType(408), title: TITLES[408]!, status, detail: 'The request was not received in time' }
      : { type: problemType(400), title: TITLES[400]!, status, detail: 'The request is not valid HTTP', code: 'BAD_USER_INPUT', errors: [{ path: 'request', message: 'is not valid HTTP' }] }
  this.log.info({ status, reason: err.code }, problem.detail)
  if (!socket.writable) { socket.destroy(); return }
  const body = JSON.stringify(problem)
  socket.end(`HTTP/1.1 ${status} ${TITLES[status]!}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`)
  socket.on('data', () => {})
  socket.once('end', () => socket.destroy())
  setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS).unref()
}

/** How long a connection refused by `clientError` may still send before it is cut. */
const CLIENT_ERROR_LINGER_MS = 2_000

export default fp(async (app) => {
  app.setErrorHandler((err: FastifyError, req, reply) => sendError(req, reply, err))
  app.setNotFoundHandler((req, reply) => sendError(req, reply, Object.assign(new Error('No such route'), { statusCode: 404 }) as FastifyError))
}, { name: 'http-errors' })
