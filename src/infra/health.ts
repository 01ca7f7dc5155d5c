import type { FastifyPluginAsync } from 'fastify'
import { databaseAnswers } from './db.js'

const health: FastifyPluginAsync = async (app) => {
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }))
  app.get('/readyz', { logLevel: 'warn' }, async (_req, reply) => {
    if (await databaseAnswers(app.db)) return { status: 'ready' }
    return reply.code(503).send({ status: 'database unavailable' })
  })
}
export default health
