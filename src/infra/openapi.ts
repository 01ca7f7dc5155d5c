import { readFileSync } from 'node:fs'
import type { FastifyPluginAsync } from 'fastify'
import { paths } from '../paths.js'

/** Serves the committed OpenAPI description of every REST route. */
const openapi: FastifyPluginAsync = async (app) => {
  const document = readFileSync(paths.openapi, 'utf8')
  app.get('/openapi.yaml', async (_req, reply) => reply.type('application/yaml; charset=utf-8').send(document))
}
export default openapi
