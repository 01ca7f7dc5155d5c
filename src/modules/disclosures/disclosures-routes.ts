import { Readable } from 'node:stream'
import type { FastifyPluginAsync } from 'fastify'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { servicesOf } from '../services.js'
import { csvStream, DISCLOSURE_FORMATS, htmlChunks, jsonChunks, type DisclosureFormat } from './disclosures-render.js'
import { DISCLOSURE_YEARS } from './disclosures-service.js'

const query = {
  type: 'object',
  additionalProperties: false,
  properties: {
    region: { type: 'string', pattern: REGION_CODE_PATTERN },
    year: { type: 'integer', minimum: DISCLOSURE_YEARS.min, maximum: DISCLOSURE_YEARS.max },
    format: { type: 'string', enum: DISCLOSURE_FORMATS }
  },
  required: ['region', 'year']
} as const

const routes: FastifyPluginAsync = async (app) => {
  // 公告公示: checked (area, level, region known) before the first byte; then streamed.
  app.get<{ Querystring: { region: string, year: number, format?: DisclosureFormat } }>('/disclosures/funds', { schema: { querystring: query } }, async (req, reply) => {
    const disclosure = await servicesOf(req).disclosures.funds(req.query.region, req.query.year)
    const now = req.server.deps.clock()
    const failed = (err: unknown): void => { req.log.error({ err }, 'disclosure stream failed') }
    const name = `disclosure-funds-${disclosure.region.code}-${disclosure.year}`
    let stream: Readable
    switch (req.query.format ?? 'json') {
      case 'json':
        reply.type('application/json; charset=utf-8')
        stream = Readable.from(jsonChunks(disclosure, now), { objectMode: false })
        break
      case 'csv':
        reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`)
        stream = Readable.from(csvStream(disclosure), { objectMode: false })
        break
      case 'html':
        reply.type('text/html; charset=utf-8').header('content-disposition', `inline; filename="${name}.html"`)
        stream = Readable.from(htmlChunks(disclosure, now), { objectMode: false })
        break
    }
    stream.on('error', failed)
    return await reply.send(stream)
  })
}
export default routes
