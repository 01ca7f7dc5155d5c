import type { FastifyPluginAsync } from 'fastify'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { servicesOf } from '../services.js'
import { FUND_SOURCES, MAX_LINK, MEASURE_CATEGORIES, PROJECT_STATUSES, type AllocationInput, type PaymentInput, type ProjectInput, type ProjectView } from './projects-service.js'

const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const
const date = { type: 'string', maxLength: 10 } as const
const money = { type: 'number' } as const
const text = (max: number) => ({ type: 'string', maxLength: max }) as const

/** The REST project: its own fields (the nested lists in GET /projects/{id}). */
const document = ({ createdAt: _c, ...p }: ProjectView): Record<string, unknown> => p

const routes: FastifyPluginAsync = async (app) => {
  app.get<{ Querystring: { region?: string, status?: string, category?: string, limit?: number, cursor?: string } }>('/projects', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          region: { type: 'string', pattern: REGION_CODE_PATTERN },
          status: { type: 'string', enum: PROJECT_STATUSES },
          category: { type: 'string', enum: MEASURE_CATEGORIES },
          limit: { type: 'integer', minimum: 1, maximum: 200 },
          cursor: { type: 'string', maxLength: 200 }
        }
      }
    }
  }, async (req) => {
    const { region, status, category, limit, cursor } = req.query
    const page = await servicesOf(req).projects.list({ regionCode: region, status, category }, { first: limit, after: cursor }, { region: 'querystring.region', first: 'querystring.limit', after: 'querystring.cursor' })
    return { items: page.edges.map(e => document(e.node)), nextCursor: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null }
  })

  app.get<{ Params: { id: string } }>('/projects/:id', { schema: { params: idParams } }, async (req) => {
    return await servicesOf(req).projects.document(req.params.id)
  })

  app.post<{ Body: ProjectInput }>('/projects', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          regionCode: { type: 'string', pattern: REGION_CODE_PATTERN },
          name: text(200),
          category: { type: 'string', enum: MEASURE_CATEGORIES },
          plannedStart: date,
          plannedEnd: { type: ['string', 'null'], maxLength: 10 },
          budget: money,
          code: { type: ['string', 'null'], maxLength: 40 }
        },
        required: ['regionCode', 'name', 'category', 'plannedStart', 'budget']
      }
    }
  }, async (req, reply) => {
    return await reply.code(201).send(document(await servicesOf(req).projects.create(req.body)))
  })

  app.post<{ Params: { id: string } }>('/projects/:id/approve', { schema: { params: idParams } }, async (req) => {
    return document(await servicesOf(req).projects.approve(req.params.id))
  })

  app.post<{ Params: { id: string }, Body: { status: string, expectedVersion: number } }>('/projects/:id/status', {
    schema: {
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { status: { type: 'string', enum: PROJECT_STATUSES }, expectedVersion: { type: 'integer', minimum: 1 } },
        required: ['status', 'expectedVersion']
      }
    }
  }, async (req) => {
    return document(await servicesOf(req).projects.setStatus(req.params.id, req.body.status, req.body.expectedVersion))
  })

  app.post<{ Params: { id: string }, Body: { householdIds: string[] } }>('/projects/:id/beneficiaries', {
    schema: {
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { householdIds: { type: 'array', minItems: 1, maxItems: MAX_LINK, items: { type: 'string', maxLength: 64 } } },
        required: ['householdIds']
      }
    }
  }, async (req) => {
    return document(await servicesOf(req).projects.link(req.params.id, req.body.householdIds))
  })

  app.post<{ Params: { id: string }, Body: AllocationInput }>('/projects/:id/allocations', {
    schema: {
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { source: { type: 'string', enum: FUND_SOURCES }, amount: money, documentNo: text(100), date },
        required: ['source', 'amount', 'documentNo', 'date']
      }
    }
  }, async (req, reply) => {
    const { projectId: _p, ...allocation } = await servicesOf(req).projects.allocate(req.params.id, req.body)
    return await reply.code(201).send(allocation)
  })

  app.post<{ Params: { id: string }, Body: PaymentInput }>('/projects/:id/payments', {
    schema: {
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          householdId: { type: 'string', maxLength: 64 },
          memberId: { type: ['string', 'null'], maxLength: 64 },
          amount: money,
          date,
          account: { type: ['string', 'null'], maxLength: 40 },
          reference: { type: ['string', 'null'], maxLength: 100 }
        },
        required: ['householdId', 'amount', 'date']
      }
    }
  }, async (req, reply) => {
    const { projectId: _p, ...payment } = await servicesOf(req).projects.pay(req.params.id, req.body)
    return await reply.code(201).send(payment)
  })
}
export default routes
