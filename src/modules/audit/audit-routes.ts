import type { FastifyPluginAsync } from 'fastify'
import { servicesOf } from '../services.js'
import { CHANGES_MAX_LIMIT } from './audit-service.js'

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
}
export default routes
