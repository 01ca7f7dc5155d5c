import { Readable } from 'node:stream'
import type { FastifyPluginAsync } from 'fastify'
import type { MemberView } from '../members/members-service.js'
import type { HelperView } from '../people/people-views.js'
import type { IncomeView, MeasureView } from '../record-views.js'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { prefetched, type Selection } from '../../shared/prefetch.js'
import { CSV_CHARSETS, TABLE_FORMATS, csvChunks, ndjsonChunks, tableFormat, varyOn, xlsxStream, XLSX_TYPE, type CsvCharset, type TableFormat } from '../../shared/spreadsheet.js'
import { servicesOf } from '../services.js'
import type { HouseholdView } from './households-service.js'
import { REGISTER_TABLE, registerRows, type HouseholdDocument, type RegisterRow } from './register-table.js'

/** A REST household document holds its active members, measures and incomes, read in the household's statement. */
const DOCUMENT: Selection = { nested: { members: { args: { includeRemoved: false } }, measures: { args: {} }, incomes: { args: {} }, helper: { args: {} } } }

const helperDocument = (h: HelperView | null): HouseholdDocument['helper'] => (h === null ? null : { id: h.id, name: h.name, unit: h.unit, phone: h.phone })

function document (h: HouseholdView): HouseholdDocument {
  const { createdAt: _c, updatedAt: _u, closedAt: _cl, ...household } = h
  return {
    ...household,
    helper: helperDocument(prefetched(h, 'helper', DOCUMENT.nested.helper!.args) as HelperView | null),
    members: (prefetched(h, 'members', DOCUMENT.nested.members!.args) as MemberView[]).map(({ createdAt: _mc, updatedAt: _mu, removedAt: _mr, householdId: _mh, regionCode: _mg, ...m }) => m),
    measures: (prefetched(h, 'measures', DOCUMENT.nested.measures!.args) as MeasureView[]).map(({ householdId: _mh, ...m }) => m),
    incomes: prefetched(h, 'incomes', DOCUMENT.nested.incomes!.args) as IncomeView[]
  }
}

/** The register's rows of each batch (one per active member). */
async function * registerBatches (batches: AsyncIterable<HouseholdView[]>): AsyncGenerator<RegisterRow[]> {
  for await (const batch of batches) yield batch.flatMap(h => registerRows(document(h)))
}

const routes: FastifyPluginAsync = async (app) => {
  // Streams the region's households in the format asked (format=, else Accept): NDJSON,
  // or the register as CSV or an Excel workbook, from the same batches with the same
  // masking and area rules. Each stream pulls the next batch from the database only when
  // the reply has taken the last one (backpressure), so at most about two batches are in
  // memory whatever the region's size.
  app.get<{ Querystring: { region?: string, format?: TableFormat, charset?: CsvCharset } }>('/households/export', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          region: { type: 'string', pattern: REGION_CODE_PATTERN },
          format: { type: 'string', enum: TABLE_FORMATS },
          charset: { type: 'string', enum: CSV_CHARSETS }
        }
      }
    }
  }, async (req, reply) => {
    const format = tableFormat(req.query.format, req.headers.accept)
    const { batches } = await servicesOf(req).households.export(req.query.region, DOCUMENT, 'querystring.region')
    const failed = (err: unknown): void => { req.log.error({ err }, 'export stream failed') }
    varyOn(reply, 'Accept')
    if (format === 'ndjson') {
      const stream = Readable.from(ndjsonChunks(batches, document), { objectMode: false })
      stream.on('error', failed)
      return await reply.type('application/x-ndjson; charset=utf-8').send(stream)
    }
    const name = `households-${req.query.region ?? req.principal!.regionCode}.${format}`
    reply.header('content-disposition', `attachment; filename="${name}"`)
    if (format === 'xlsx') return await reply.type(XLSX_TYPE).send(xlsxStream(registerBatches(batches), REGISTER_TABLE, failed))
    const charset = req.query.charset ?? 'utf-8'
    const stream = Readable.from(csvChunks(registerBatches(batches), REGISTER_TABLE, charset), { objectMode: false })
    stream.on('error', failed)
    return await reply.type(`text/csv; charset=${charset}`).send(stream)
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
