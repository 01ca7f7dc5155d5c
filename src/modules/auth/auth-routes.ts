import type { FastifyPluginAsync } from 'fastify'
import { servicesOf } from '../services.js'

const routes: FastifyPluginAsync = async (app) => {
  app.get('/me', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            sub: { type: 'string' },
            role: { type: 'string' },
            regionCode: { type: 'string' },
            regionName: { type: 'string' },
            level: { type: 'string' },
            dept: { type: ['string', 'null'] }
          }
        }
      }
    }
  }, async (req) => {
    const principal = req.principal!
    const region = await servicesOf(req).regions.get(principal.regionCode)
    return { ...principal, regionName: region.name }
  })
}
export default routes
