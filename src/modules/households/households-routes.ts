import type { FastifyPluginAsync } from 'fastify'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { servicesOf, type Services } from '../services.js'
import type { HouseholdView } from './households-service.js'

/** Households with their members, measures and incomes: one batched query per relation. */
async function documents (services: Services, list: HouseholdView[]): Promise<unknown[]> {
  const ids = list.map(h => h.id)
  const [members, measures, incomes] = await Promise.all([
    services.members.byHouseholds(ids, false),
    services.measures.byHouseholds(ids),
    services.incomes.byHouseholds(ids)
  ])
  return list.map((h, i) => {
    const { createdAt: _c, updatedAt: _u, closedAt: _cl, ...household } = h
    return {
      ...household,
      members: members[i]!.map(({ createdAt: _mc, updatedAt: _mu, removedAt: _mr, householdId: _mh, regionCode: _mg, ...m }) => m),
      measures: measures[i]!.map(({ householdId: _mh, ...m }) => m),
      incomes: incomes[i]
    }
  })
}

const routes: FastifyPluginAsync = async (app) => {
  app.get<{ Params: { id: string } }>('/households/:id', {
    schema: { params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } }
  }, async (req) => {
    const services = servicesOf(req)
    const [doc] = await documents(services, [await services.households.get(req.params.id)])
    return doc
  })

  app.get<{ Querystring: { region?: string, status?: string, limit?: number, cursor?: string } }>('/households', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          region: { type: 'string', pattern: REGION_CODE_PATTERN },
          status: { type: 'string', enum: ['POOR', 'EXITED', 'RETURNED', 'CLOSED'] },
          limit: { type: 'integer', minimum: 1, maximum: 200 },
          cursor: { type: 'string', maxLength: 200 }
        }
      }
    }
  }, async (req) => {
    const services = servicesOf(req)
    const { region, status, limit, cursor } = req.query
    const page = await services.households.list({ regionCode: region, status }, limit, cursor, { region: 'querystring.region', first: 'querystring.limit', after: 'querystring.cursor' })
    return {
      items: await documents(services, page.edges.map(e => e.node)),
      nextCursor: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null
    }
  })
}
export default routes
