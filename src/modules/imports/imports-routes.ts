import type { FastifyPluginAsync } from 'fastify'
import { Readable } from 'node:stream'
import { CSV_CHARSETS, TABLE_FORMATS, csvChunks, ndjsonChunks, preferredLanguage, tableFormat, varyOn, xlsxStream, XLSX_TYPE, type CsvCharset, type Table, type TableFormat } from '../../shared/spreadsheet.js'
import { servicesOf } from '../services.js'
import type { ImportErrorRow } from './imports-service.js'
import { KIND_NAMES } from './kinds.js'
import { localisedMessage } from './messages.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Wakes the background worker of import jobs when a job is queued. */
    wakeImports: () => void
  }
}

/** The error report as a spreadsheet: line (or spreadsheet row), field, reason. */
const ERROR_TABLE: Table<ImportErrorRow> = {
  sheet: '错误明细',
  columns: [['行号', e => e.line], ['字段', e => e.path], ['错误原因', e => e.message]]
}

const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const

const routes: FastifyPluginAsync = async (app) => {
  // The file is not parsed here: the route streams it to storage as it arrives. Any other
  // type, JSON and plain text included, is 415 (not a parse error of a body never read).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(
    ['application/x-ndjson', 'application/ndjson', 'text/csv', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
    (_req, payload, done) => { done(null, payload) }
  )

  app.post<{ Querystring: { kind?: string }, Headers: { 'idempotency-key'?: string } }>('/exchange/jobs', {
    schema: {
      querystring: { type: 'object', additionalProperties: false, properties: { kind: { type: 'string', enum: KIND_NAMES } }, required: ['kind'] }
    }
  }, async (req, reply) => {
    const { job, created } = await servicesOf(req).imports.submit(req.query.kind, req.headers['content-type'], req.headers['idempotency-key'], req.body as Readable)
    if (created) app.wakeImports()
    return await reply.code(202).header('location', `/api/v1/exchange/jobs/${job.id}`).send(job)
  })

  app.get<{ Params: { id: string } }>('/exchange/jobs/:id', { schema: { params: idParams } }, async (req) =>
    await servicesOf(req).imports.get(req.params.id))

  // The rejected rows in the format asked (format=, else Accept), their reasons in the
  // language asked (Accept-Language: zh for Chinese).
  app.get<{ Params: { id: string }, Querystring: { format?: TableFormat, charset?: CsvCharset } }>('/exchange/jobs/:id/errors', {
    schema: {
      params: idParams,
      querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: TABLE_FORMATS }, charset: { type: 'string', enum: CSV_CHARSETS } } }
    }
  }, async (req, reply) => {
    const format = tableFormat(req.query.format, req.headers.accept)
    const language = preferredLanguage(req.headers['accept-language'])
    const pages = await servicesOf(req).imports.errors(req.params.id) // 404 before the stream starts
    const localised = async function * (): AsyncGenerator<ImportErrorRow[]> {
      for await (const page of pages) yield page.map(e => ({ ...e, message: localisedMessage(e.message, language) }))
    }
    const failed = (err: unknown): void => { req.log.error({ err }, 'error report stream failed') }
    varyOn(reply, 'Accept', 'Accept-Language')
    reply.header('content-language', language)
    if (format === 'ndjson') {
      const stream = Readable.from(ndjsonChunks(localised()), { objectMode: false })
      stream.on('error', failed)
      return await reply.type('application/x-ndjson; charset=utf-8').send(stream)
    }
    reply.header('content-disposition', `attachment; filename="exchange-job-${req.params.id}-errors.${format}"`)
    if (format === 'xlsx') return await reply.type(XLSX_TYPE).send(xlsxStream(localised(), ERROR_TABLE, failed))
    const charset = req.query.charset ?? 'utf-8'
    const stream = Readable.from(csvChunks(localised(), ERROR_TABLE, charset), { objectMode: false })
    stream.on('error', failed)
    return await reply.type(`text/csv; charset=${charset}`).send(stream)
  })

  app.get<{ Params: { id: string } }>('/exchange/jobs/:id/report', { schema: { params: idParams } }, async (req) =>
    await servicesOf(req).imports.report(req.params.id))
}
export default routes
