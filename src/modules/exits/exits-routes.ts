import type { FastifyPluginAsync } from 'fastify'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { csvText, type Table } from '../../shared/spreadsheet.js'
import { servicesOf } from '../services.js'
import type { ExitNotice } from './exits-service.js'

/** Local time of the notice board (China Standard Time), e.g. 2019-11-08 09:30. */
const boardTime = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai', dateStyle: 'short', timeStyle: 'short' })

/** The notice as a spreadsheet to print: Chinese headers, board times. */
const NOTICE_TABLE: Table<ExitNotice> = {
  sheet: '脱贫公示',
  columns: [
    ['村', n => n.villageName],
    ['户主姓名', n => n.headName],
    ['家庭人口', n => n.householdSize],
    ['拟脱贫年度', n => n.year],
    ['公示开始', n => boardTime.format(new Date(n.noticeStartsAt))],
    ['公示截止', n => boardTime.format(new Date(n.noticeEndsAt))]
  ]
}

const routes: FastifyPluginAsync = async (app) => {
  app.get<{ Querystring: { region?: string, year?: number, format?: 'json' | 'csv' } }>('/exit-notices', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          region: { type: 'string', pattern: REGION_CODE_PATTERN },
          year: { type: 'integer' },
          format: { type: 'string', enum: ['json', 'csv'] }
        }
      }
    }
  }, async (req, reply) => {
    const { region, year, format } = req.query
    const items = await servicesOf(req).exits.notices(region, year, { region: 'querystring.region', year: 'querystring.year' })
    if (format === 'csv') {
      const name = `exit-notices-${region ?? req.principal!.regionCode}${year !== undefined ? `-${year}` : ''}.csv`
      return await reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).send(csvText(NOTICE_TABLE, items))
    }
    return { items }
  })
}
export default routes
