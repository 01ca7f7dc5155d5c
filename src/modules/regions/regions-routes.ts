import type { FastifyPluginAsync } from 'fastify'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { servicesOf } from '../services.js'

const regionView = {
  type: 'object',
  properties: {
    code: { type: 'string' },
    name: { type: 'string' },
    level: { type: 'string' },
    parentCode: { type: ['string', 'null'] },
    isPoor: { type: 'boolean' },
    isDeepPoverty: { type: 'boolean' },
    ruralPopulation: { type: ['integer', 'null'] },
    exitYear: { type: ['integer', 'null'] },
    version: { type: 'integer' }
  }
} as const

const routes: FastifyPluginAsync = async (app) => {
  app.get<{ Params: { code: string } }>('/regions/:code', {
    schema: {
      params: { type: 'object', properties: { code: { type: 'string', pattern: REGION_CODE_PATTERN } }, required: ['code'] },
      response: {
        200: {
          ...regionView,
          properties: { ...regionView.properties, children: { type: 'array', items: regionView } }
        }
      }
    }
  }, async (req) => {
    const regions = servicesOf(req).regions
    const region = await regions.get(req.params.code)
    const [children = []] = await regions.childrenOf([region.code])
    return { ...region, children }
  })
}
export default routes
