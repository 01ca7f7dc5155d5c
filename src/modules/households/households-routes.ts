import { Readable } from 'node:stream'
import type { FastifyPluginAsync } from 'fastify'
import type { MemberView } from '../members/members-service.js'
import type { IncomeView, MeasureView } from '../record-views.js'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { prefetched, type Selection } from '../../shared/prefetch.js'
import { servicesOf } from '../services.js'
import type { HouseholdView } from './households-service.js'

/** A REST household document holds its active members, measures and incomes, read in the household's statement. */
const DOCUMENT: Selection = { nested: { members: { args: { includeRemoved: false } }, measures: { args: {} }, incomes: { args: {} } } }

function document (h: HouseholdView): unknown {
  const { createdAt: _c, updatedAt: _u, closedAt: _cl, ...household } = h
  return {
    ...household,
    members: (prefetched(h, 'members', DOCUMENT.nested.members!.args) as MemberView[]).map(({ createdAt: _mc, updatedAt: _mu, removedAt: _mr, householdId: _mh, regionCode: _mg, ...m }) => m),
    measures: (prefetched(h, 'measures', DOCUMENT.nested.measures!.args) as MeasureView[]).map(({ householdId: _mh, ...m }) => m),
    incomes: prefetched(h, 'incomes', DOCUMENT.nested.incomes!.args) as IncomeView[]
  }
}

/** NDJSON text of the batches, one household document per line, one chunk per batch. */
async function * ndjson (batches: AsyncIterable<HouseholdView[]>): AsyncGenerator<string> {
  for await (const batch of batches) yield batch.map(h => JSON.stringify(document(h)) + '\n').join('')
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
    const { batches } = await servicesOf(req).households.export(req.query.region, DOCUMENT, 'querystring.region')
    const stream = Readable.from(ndjson(batches), { objectMode: false })
    stream.on('error', (err) => { req.log.error({ err }, 'export stream failed') })
    return await reply.type('application/x-ndjson; charset=utf-8').send(stream)
  })

  app.get<{ Params: { id: string } }>('/households/:id', {
    schema: { params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } }
  }, async (req) => {
    return document(await servicesOf(req).households.get(req.params.id, DOCUMENT))
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
    const { region, status, limit, cursor } = req.query
    const page = await servicesOf(req).households.list({ regionCode: region, status }, { first: limit, after: cursor }, DOCUMENT, { region: 'querystring.region', first: 'querystring.limit', after: 'querystring.cursor' })
    return {
      items: page.edges.map(e => document(e.node)),
      nextCursor: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null
    }
  })
}
export default routes
