import type { FastifyPluginAsync } from 'fastify'
import { stringify } from 'csv-stringify/sync'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { servicesOf } from '../services.js'
import type { ExitNotice } from './exits-service.js'

/** Local time of the notice board (China Standard Time), e.g. 2019-11-08 09:30. */
const boardTime = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai', dateStyle: 'short', timeStyle: 'short' })

/** The notice as a spreadsheet: Chinese headers, a BOM so that Excel reads UTF-8. */
function noticeCsv (notices: ExitNotice[]): string {
  return '\uFEFF' + stringify([
    ['村', '户主姓名', '家庭人口', '拟脱贫年度', '公示开始', '公示截止'],
    ...notices.map(n => [n.villageName, n.headName ?? '', n.householdSize, n.year, boardTime.format(new Date(n.noticeStartsAt)), boardTime.format(new Date(n.noticeEndsAt))])
  ], { record_delimiter: '\r\n' })
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
      return await reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).send(noticeCsv(items))
    }
    return { items }
  })
}
export default routes
