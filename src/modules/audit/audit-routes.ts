import { Readable } from 'node:stream'
import type { FastifyPluginAsync } from 'fastify'
import { servicesOf } from '../services.js'
import { CHANGES_MAX_LIMIT } from './audit-service.js'

/** A position or tree size in a query string (at most 2^53 − 1, JavaScript's exact integers). */
const POSITION = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const
const REST_PATHS = { seq: 'querystring.seq', treeSize: 'querystring.treeSize', first: 'querystring.first', second: 'querystring.second', from: 'querystring.from', to: 'querystring.to' }

const routes: FastifyPluginAsync = async (app) => {
  app.get<{ Querystring: { after?: string, limit?: number } }>('/changes', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          after: { type: 'string', pattern: '^\\d{0,18}$' },
          limit: { type: 'integer', minimum: 1, maximum: CHANGES_MAX_LIMIT }
        }
      },
      response: {
        200: {
          type: 'object',
          properties: {
            items: {
              type: 'array',
              items: {
                type: 'object',
                properties: { seq: { type: 'string' }, at: { type: 'string' }, entity: { type: 'string' }, id: { type: 'string' }, op: { type: 'string' } }
              }
            },
            next: { type: ['string', 'null'] }
          }
        }
      }
    }
  }, async (req) => {
    const { after, limit } = req.query
    return await servicesOf(req).audit.changes(after, limit, { after: 'querystring.after', limit: 'querystring.limit' })
  })

  app.get('/audit/tree-head', async (req) => await servicesOf(req).audit.treeHead())

  app.get<{ Querystring: { seq: number, treeSize?: number } }>('/audit/proofs/inclusion', {
    schema: { querystring: { type: 'object', additionalProperties: false, required: ['seq'], properties: { seq: POSITION, treeSize: POSITION } } }
  }, async (req) => await servicesOf(req).audit.inclusionProof(req.query.seq, req.query.treeSize, REST_PATHS))

  app.get<{ Querystring: { first: number, second: number } }>('/audit/proofs/consistency', {
    schema: { querystring: { type: 'object', additionalProperties: false, required: ['first', 'second'], properties: { first: POSITION, second: POSITION } } }
  }, async (req) => {
    const { first, second } = req.query
    return { first, second, proof: await servicesOf(req).audit.consistencyProof(first, second, REST_PATHS) }
  })

  // The log's positions from..to as NDJSON, read a slice at a time as the client takes them.
  app.get<{ Querystring: { from?: number, to?: number } }>('/audit/log', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { from: POSITION, to: POSITION } } }
  }, async (req, reply) => {
    const lines = await servicesOf(req).audit.exportLog(req.query.from, req.query.to, REST_PATHS)
    const stream = Readable.from(lines, { objectMode: false })
    stream.on('error', (err) => { req.log.error({ err }, 'audit log export failed') })
    return await reply.type('application/x-ndjson; charset=utf-8').send(stream)
  })
}
export default routes

/** The public keys of the audit log's signed tree heads (no token): `GET /.well-known/audit-keys.json`. */
export const auditKeys: FastifyPluginAsync = async (app) => {
  const body = JSON.stringify({ keys: app.deps.config.audit.publicKeys })
  app.get('/.well-known/audit-keys.json', async (_req, reply) => reply.type('application/jwk-set+json').header('cache-control', 'public, max-age=300').send(body))
}
