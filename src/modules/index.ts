import type { FastifyPluginAsync } from 'fastify'
import type { IResolvers, MercuriusLoaders } from 'mercurius'
import * as audit from './audit/audit-resolvers.js'
import auditRoutes from './audit/audit-routes.js'
import * as auth from './auth/auth-resolvers.js'
import authRoutes from './auth/auth-routes.js'
import * as exits from './exits/exits-resolvers.js'
import exitsRoutes from './exits/exits-routes.js'
import * as imports from './imports/imports-resolvers.js'
import importsRoutes from './imports/imports-routes.js'
import * as households from './households/households-resolvers.js'
import eligibilityRoutes from './eligibility/eligibility-routes.js'
import householdsRoutes from './households/households-routes.js'
import * as incomes from './incomes/incomes-resolvers.js'
import * as measures from './measures/measures-resolvers.js'
import * as members from './members/members-resolvers.js'
import * as people from './people/people-resolvers.js'
import peopleRoutes from './people/people-routes.js'
import * as regions from './regions/regions-resolvers.js'
import regionsRoutes from './regions/regions-routes.js'
import * as statistics from './statistics/statistics-resolvers.js'
import statisticsRoutes from './statistics/statistics-routes.js'

/** The explicit module registry: GraphQL resolvers and loaders, and REST routes under /api/v1. */
export const graphqlModules: Array<{ resolvers: IResolvers, loaders?: MercuriusLoaders }> = [auth, regions, audit, households, members, incomes, measures, exits, imports, people, statistics]

export const restRoutes: FastifyPluginAsync[] = [authRoutes, regionsRoutes, householdsRoutes, exitsRoutes, importsRoutes, statisticsRoutes, eligibilityRoutes, auditRoutes, peopleRoutes]
