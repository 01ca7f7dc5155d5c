import type { FastifyPluginAsync } from 'fastify'
import { Readable } from 'node:stream'
import { servicesOf } from '../services.js'
import { KIND_NAMES } from './kinds.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Wakes the background worker of import jobs when a job is queued. */
    wakeImports: () => void
  }
}

const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const

const routes: FastifyPluginAsync = async (app) => {
  // The file is not parsed here: the route streams it to storage as it arrives. Any other
  // type, JSON and plain text included, is 415 (not a parse error of a body never read).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(
    ['application/x-ndjson', 'application/ndjson', 'text/csv', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
    (_req, payload, done) => { done(null, payload) }
  )

  app.post<{ Querystring: { kind?: string }, Headers: { 'idempotency-key'?: string } }>('/exchange/jobs', {
    schema: {
      querystring: { type: 'object', additionalProperties: false, properties: { kind: { type: 'string', enum: KIND_NAMES } }, required: ['kind'] }
    }
  }, async (req, reply) => {
    const { job, created } = await servicesOf(req).imports.submit(req.query.kind, req.headers['content-type'], req.headers['idempotency-key'], req.body as Readable)
    if (created) app.wakeImports()
    return await reply.code(202).header('location', `/api/v1/exchange/jobs/${job.id}`).send(job)
  })

  app.get<{ Params: { id: string } }>('/exchange/jobs/:id', { schema: { params: idParams } }, async (req) =>
    await servicesOf(req).imports.get(req.params.id))

  app.get<{ Params: { id: string } }>('/exchange/jobs/:id/errors', { schema: { params: idParams } }, async (req, reply) => {
    const services = servicesOf(req)
    await services.imports.find(req.params.id) // 404 before the stream starts
    return await reply.type('application/x-ndjson').send(Readable.from(services.imports.errors(req.params.id)))
  })

  app.get<{ Params: { id: string } }>('/exchange/jobs/:id/report', { schema: { params: idParams } }, async (req) =>
    await servicesOf(req).imports.report(req.params.id))
}
export default routes
