import type { FastifyPluginAsync } from 'fastify'
import { databaseAnswers } from './db.js'

/** The probes take no parameters: anything in the query string is a 400 naming it. */
const probe = { logLevel: 'warn', schema: { querystring: { type: 'object', additionalProperties: false } } } as const

const health: FastifyPluginAsync = async (app) => {
  app.get('/healthz', probe, async () => ({ status: 'ok' }))
  app.get('/readyz', probe, async (_req, reply) => {
    // Ready while the database answers, whether Redis does or not (the limits then count per process).
    // The replicas do not decide it either: reads go to the primary while none is usable.
    if (await databaseAnswers(app.db)) return { status: 'ready', rateLimits: app.rateLimitCounting(), replicas: app.replicas?.status() ?? [] }
    return reply.code(503).send({ status: 'database unavailable' })
  })
}
export default health
