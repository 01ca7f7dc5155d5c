import { Readable } from 'node:stream'
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

/** NDJSON text of the batches, one household document per line, one chunk per batch. */
async function * ndjson (services: Services, batches: AsyncIterable<HouseholdView[]>): AsyncGenerator<string> {
  for await (const batch of batches) {
    const docs = await documents(services, batch)
    yield docs.map(d => JSON.stringify(d) + '\n').join('')
  }
}

const routes: FastifyPluginAsync = async (app) => {
  // Streams the region's households as NDJSON. The stream pulls the next batch from the
  // database only when the reply has taken the last one (backpressure through pipe), so
  // at most about two batches are in memory whatever the region's size.
  app.get<{ Querystring: { region?: string } }>('/households/export', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { region: { type: 'string', pattern: REGION_CODE_PATTERN } }
      }
    }
  }, async (req, reply) => {
    const services = servicesOf(req)
    const { batches } = await services.households.export(req.query.region, 'querystring.region')
    const stream = Readable.from(ndjson(services, batches), { objectMode: false })
    stream.on('error', (err) => { req.log.error({ err }, 'export stream failed') })
    return await reply.type('application/x-ndjson; charset=utf-8').send(stream)
  })

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
