import type { FastifyPluginAsync } from 'fastify'
import { AppError, isAppError } from '../../shared/errors.js'
import { REGION_CODE_PATTERN } from '../../shared/region-code.js'
import { WORK_TEAM_ROLES } from '../../shared/labels.js'
import { servicesOf } from '../services.js'
import type { HouseholdView } from '../households/households-service.js'
import type { TeamInput, TeamMemberInput, TeamPatch } from './teams-service.js'

/**
 * The service's paths name GraphQL's arguments (`input.sendingUnit`, `endedOn`); a REST
 * body names them from `body` (`body.sendingUnit`, `body.endedOn`).
 */
async function fromBody<T> (run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (err) {
    if (!isAppError(err) || err.code !== 'BAD_USER_INPUT') throw err
    const fields = err.fields.map(f => ({ ...f, path: f.path.startsWith('input') ? `body${f.path.slice(5)}` : `body.${f.path}` }))
    throw new AppError('BAD_USER_INPUT', fields.map(f => `${f.path}: ${f.message}`).join('; '), fields)
  }
}

const UUID_PARAM = { type: 'string', maxLength: 64 } as const
const DAY = { type: 'string', maxLength: 10 } as const
const TEXT = (max: number) => ({ type: ['string', 'null'], maxLength: max }) as const
const memberBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'role'],
  properties: { name: { type: 'string', maxLength: 200 }, unit: TEXT(400), phone: TEXT(40), role: { type: 'string', enum: WORK_TEAM_ROLES }, joinedOn: { type: ['string', 'null'], maxLength: 10 } }
} as const

const teamDocument = async (req: Parameters<typeof servicesOf>[0], id: string): Promise<Record<string, unknown>> => {
  const teams = servicesOf(req).teams
  const team = await teams.get(id)
  const [members = []] = await teams.membersOf([team.id], true)
  return { ...team, members: members.map(({ teamId: _t, ...m }) => m) }
}

/** The overdue list's items: what a township officer needs to plan the visits. */
function unvisitedItem (h: HouseholdView & { lastVisitedOn: string | null }, helper: { id: string, name: string, unit: string | null, phone: string | null } | null): Record<string, unknown> {
  return { id: h.id, householdNo: h.householdNo, regionCode: h.regionCode, status: h.status, lastVisitedOn: h.lastVisitedOn, helper: helper === null ? null : { id: helper.id, name: helper.name, unit: helper.unit, phone: helper.phone } }
}

const routes: FastifyPluginAsync = async (app) => {
  app.get<{ Querystring: { region?: string, serving?: boolean, limit?: number, cursor?: string } }>('/work-teams', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          region: { type: 'string', pattern: REGION_CODE_PATTERN },
          serving: { type: 'boolean' },
          limit: { type: 'integer', minimum: 1, maximum: 200 },
          cursor: { type: 'string', maxLength: 200 }
        }
      }
    }
  }, async (req) => {
    const { region, serving, limit, cursor } = req.query
    const services = servicesOf(req)
    const page = await services.teams.list({ regionCode: region, serving }, { first: limit, after: cursor }, { region: 'querystring.region', first: 'querystring.limit', after: 'querystring.cursor' })
    const teams = page.edges.map(e => e.node)
    const members = await services.teams.membersOf(teams.map(t => t.id), true)
    return {
      items: teams.map((t, i) => ({ ...t, members: members[i]!.map(({ teamId: _t, ...m }) => m) })),
      nextCursor: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null
    }
  })

  app.post<{ Body: TeamInput }>('/work-teams', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['regionCode', 'sendingUnit', 'startedOn'],
        properties: {
          regionCode: { type: 'string', maxLength: 12 },
          sendingUnit: { type: 'string', maxLength: 400 },
          startedOn: DAY,
          members: { type: 'array', maxItems: 100, items: memberBody }
        }
      }
    }
  }, async (req, reply) => {
    const team = await fromBody(async () => await servicesOf(req).teams.create(req.body))
    return await reply.code(201).send(await teamDocument(req, team.id))
  })

  app.get<{ Params: { id: string } }>('/work-teams/:id', {
    schema: { params: { type: 'object', properties: { id: UUID_PARAM }, required: ['id'] } }
  }, async (req) => await teamDocument(req, req.params.id))

  app.patch<{ Params: { id: string }, Body: TeamPatch & { expectedVersion: number } }>('/work-teams/:id', {
    schema: {
      params: { type: 'object', properties: { id: UUID_PARAM }, required: ['id'] },
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['expectedVersion'],
        properties: { expectedVersion: { type: 'integer' }, sendingUnit: { type: 'string', maxLength: 400 }, startedOn: DAY }
      }
    }
  }, async (req) => {
    const { expectedVersion, ...patch } = req.body
    await fromBody(async () => await servicesOf(req).teams.update(req.params.id, expectedVersion, patch))
    return await teamDocument(req, req.params.id)
  })

  app.post<{ Params: { id: string }, Body: { expectedVersion: number, endedOn?: string | null } }>('/work-teams/:id/end', {
    schema: {
      params: { type: 'object', properties: { id: UUID_PARAM }, required: ['id'] },
      body: { type: 'object', additionalProperties: false, required: ['expectedVersion'], properties: { expectedVersion: { type: 'integer' }, endedOn: { type: ['string', 'null'], maxLength: 10 } } }
    }
  }, async (req) => {
    await fromBody(async () => await servicesOf(req).teams.end(req.params.id, req.body.expectedVersion, req.body.endedOn))
    return await teamDocument(req, req.params.id)
  })

  app.post<{ Params: { id: string }, Body: TeamMemberInput }>('/work-teams/:id/members', {
    schema: { params: { type: 'object', properties: { id: UUID_PARAM }, required: ['id'] }, body: memberBody }
  }, async (req, reply) => {
    const { teamId: _t, ...member } = await fromBody(async () => await servicesOf(req).teams.addMember(req.params.id, req.body))
    return await reply.code(201).send(member)
  })

  app.delete<{ Params: { id: string, memberId: string }, Querystring: { leftOn?: string } }>('/work-teams/:id/members/:memberId', {
    schema: {
      params: { type: 'object', properties: { id: UUID_PARAM, memberId: UUID_PARAM }, required: ['id', 'memberId'] },
      querystring: { type: 'object', additionalProperties: false, properties: { leftOn: DAY } }
    }
  }, async (req) => {
    const { teamId: _t, ...member } = await fromBody(async () => await servicesOf(req).teams.removeMember(req.params.memberId, req.query.leftOn, req.params.id))
    return member
  })

  app.get<{ Querystring: { region?: string, days?: number, limit?: number, cursor?: string } }>('/households/unvisited', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          region: { type: 'string', pattern: REGION_CODE_PATTERN },
          days: { type: 'integer' },
          limit: { type: 'integer', minimum: 1, maximum: 200 },
          cursor: { type: 'string', maxLength: 200 }
        }
      }
    }
  }, async (req) => {
    const { region, days, limit, cursor } = req.query
    const services = servicesOf(req)
    const page = await services.helpers.unvisited(region, days, { first: limit, after: cursor }, { region: 'querystring.region', days: 'querystring.days', first: 'querystring.limit', after: 'querystring.cursor' })
    const nodes = page.edges.map(e => e.node)
    const helpers = await services.helpers.currentOf(nodes.map(h => h.id))
    return {
      items: nodes.map((h, i) => unvisitedItem(h, helpers[i] ?? null)),
      nextCursor: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null
    }
  })
}
export default routes
