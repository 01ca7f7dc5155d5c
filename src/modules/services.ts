import type { FastifyRequest } from 'fastify'
import type { Deps } from '../shared/context.js'
import { unauthenticated } from '../shared/errors.js'
import type { Principal } from '../shared/principal.js'
import { AuditService } from './audit/audit-service.js'
import { DisclosuresService } from './disclosures/disclosures-service.js'
import { EligibilityService } from './eligibility/eligibility-service.js'
import { ExitsService } from './exits/exits-service.js'
import { ImportsService } from './imports/imports-service.js'
import { WorkItemsService } from './imports/work-items-service.js'
import { HouseholdsService } from './households/households-service.js'
import { IncomesService } from './incomes/incomes-service.js'
import { MeasuresService } from './measures/measures-service.js'
import { MembersService } from './members/members-service.js'
import { ProjectsService } from './projects/projects-service.js'
import { HelpersService } from './people/helpers-service.js'
import { TeamsService } from './people/teams-service.js'
import { RegionsService } from './regions/regions-service.js'
import { StatisticsService } from './statistics/statistics-service.js'

/** The services of one request, bound to its principal. Resolvers and routes call only these. */
export function createServices (deps: Deps, principal: Principal) {
  return {
    regions: new RegionsService(deps, principal),
    audit: new AuditService(deps, principal),
    households: new HouseholdsService(deps, principal),
    members: new MembersService(deps, principal),
    incomes: new IncomesService(deps, principal),
    measures: new MeasuresService(deps, principal),
    exits: new ExitsService(deps, principal),
    imports: new ImportsService(deps, principal),
    workItems: new WorkItemsService(deps, principal),
    projects: new ProjectsService(deps, principal),
    teams: new TeamsService(deps, principal),
    helpers: new HelpersService(deps, principal),
    statistics: new StatisticsService(deps, principal),
    eligibility: new EligibilityService(deps, principal),
    disclosures: new DisclosuresService(deps, principal)
  }
}
/** A request's services, and the database they read from. */
export type Services = ReturnType<typeof createServices> & { db: Deps['db'] }

declare module 'fastify' {
  interface FastifyInstance {
    /** What services are built from (the request's logger is added per request). */
    deps: Omit<Deps, 'log'>
  }
}

const perRequest = new WeakMap<FastifyRequest, Services>()

/** The request's services, reading where the request reads (`req.readDb`: a replica, for a request that changes nothing). */
export function servicesOf (req: FastifyRequest): Services {
  let services = perRequest.get(req)
  const db = req.readDb ?? req.server.deps.primary
  if (services === undefined || services.db !== db) {
    if (req.principal === null) throw unauthenticated()
    services = { ...createServices({ ...req.server.deps, db, log: req.log }, req.principal), db }
    perRequest.set(req, services)
  }
  return services
}
