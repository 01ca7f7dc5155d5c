import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { PeopleSentCoverage } from '../people/helpers-service.js'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { servicesOf } from '../services.js'
import { breakdownCsv } from './statistics-csv.js'
import type { RegionStatistics } from './statistics-service.js'

/** The REST body: the region named by code, name and level (GraphQL's Region has the rest), and the people-sent coverage of each region. */
function document (s: RegionStatistics, peopleSent: Map<string, PeopleSentCoverage>): unknown {
  const { region, breakdown, ...figures } = s
  return {
    region: { code: region.code, name: region.name, level: region.level, ruralPopulation: region.ruralPopulation },
    ...figures,
    peopleSent: peopleSent.get(region.code),
    breakdown: breakdown.map(b => document(b, peopleSent))
  }
}

/** The coverage of the region and its breakdown (the same for every year: it is as of today), in one statement. */
async function peopleSentOf (req: FastifyRequest, s: RegionStatistics): Promise<Map<string, PeopleSentCoverage>> {
  const codes = [s.region.code, ...s.breakdown.map(b => b.region.code)]
  const figures = await servicesOf(req).helpers.coverage(s.region.code, codes)
  return new Map(codes.map((c, i) => [c, figures[i]!]))
}

const params = {
  type: 'object',
  properties: { regionCode: { type: 'string', pattern: REGION_CODE_PATTERN } },
  required: ['regionCode']
} as const
const yearQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { year: { type: 'integer' } },
  required: ['year']
} as const
const queryPaths = { regionCode: 'params.regionCode', year: 'querystring.year' }

const routes: FastifyPluginAsync = async (app) => {
  app.get<{ Params: { regionCode: string }, Querystring: { year: number } }>('/statistics/:regionCode', {
    schema: { params, querystring: yearQuery }
  }, async (req) => {
    const stats = await servicesOf(req).statistics.statistics(req.params.regionCode, req.query.year, queryPaths)
    return document(stats, await peopleSentOf(req, stats))
  })

  app.get<{ Params: { regionCode: string }, Querystring: { years: string } }>('/statistics/:regionCode/trend', {
    schema: {
      params,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { years: { type: 'string', pattern: '^\\d{4}(,\\d{4})*$', maxLength: 100 } },
        required: ['years']
      }
    }
  }, async (req) => {
    const years = req.query.years.split(',').map(Number)
    const list = await servicesOf(req).statistics.trend(req.params.regionCode, years, { regionCode: 'params.regionCode', years: 'querystring.years' })
    const peopleSent = list.length === 0 ? new Map<string, PeopleSentCoverage>() : await peopleSentOf(req, list[0]!)
    return { items: list.map(s => document(s, peopleSent)) }
  })

  app.get<{ Params: { regionCode: string }, Querystring: { year?: number } }>('/statistics/:regionCode/funds', {
    schema: { params, querystring: { type: 'object', additionalProperties: false, properties: { year: { type: 'integer' } } } }
  }, async (req) => {
    const funds = await servicesOf(req).projects.fundStatistics(req.params.regionCode, req.query.year, queryPaths)
    const region = ({ code, name, level }: { code: string, name: string, level: string }): unknown => ({ code, name, level })
    return { ...funds, region: region(funds.region), breakdown: funds.breakdown.map(b => ({ ...b, region: region(b.region), breakdown: [] })) }
  })

  app.get<{ Params: { regionCode: string }, Querystring: { year: number } }>('/statistics/:regionCode/breakdown.csv', {
    schema: { params, querystring: yearQuery }
  }, async (req, reply) => {
    const stats = await servicesOf(req).statistics.statistics(req.params.regionCode, req.query.year, queryPaths)
    return await reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="statistics-${stats.region.code}-${stats.year}.csv"`)
      .send(breakdownCsv(stats))
  })
}
export default routes
