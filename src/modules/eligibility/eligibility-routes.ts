import type { FastifyPluginAsync } from 'fastify'
import { servicesOf } from '../services.js'
import { ELIGIBILITY_MAX_IDS } from './eligibility-service.js'

const routes: FastifyPluginAsync = async (app) => {
  app.post<{ Body: { nationalIds: string[] } }>('/eligibility', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['nationalIds'],
        properties: {
          nationalIds: { type: 'array', minItems: 1, maxItems: ELIGIBILITY_MAX_IDS, items: { type: 'string', maxLength: 32 } }
        }
      },
      response: {
        200: {
          type: 'object',
          properties: {
            results: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  nationalId: { type: 'string' },
                  registered: { type: 'boolean' },
                  householdStatus: { type: ['string', 'null'] },
                  attribute: { type: ['string', 'null'] }
                }
              }
            }
          }
        }
      }
    }
  }, async (req) => ({ results: await servicesOf(req).eligibility.check(req.body.nationalIds, 'body.nationalIds') }))
}
export default routes
