import type { IResolvers, MercuriusLoaders } from 'mercurius'
import type { PageArgs } from '../../shared/pagination.js'
import type { HouseholdView } from '../households/households-service.js'
import type { ExitReviewFilter, ExitReviewView } from './exits-service.js'

export const resolvers: IResolvers = {
  Query: {
    exitCriteria: async (_root, args: { householdId: string, year: number }, ctx) => await ctx.services.exits.criteria(args.householdId, args.year),
    exitReview: async (_root, args: { id: string }, ctx) => await ctx.services.exits.get(args.id),
    exitReviews: async (_root, { filter, ...page }: { filter?: ExitReviewFilter } & PageArgs, ctx) =>
      await ctx.services.exits.list(filter, page),
    exitNotices: async (_root, args: { regionCode?: string, year?: number }, ctx) => await ctx.services.exits.notices(args.regionCode, args.year),
    exitWarnings: async (_root, { regionCode, ...page }: { regionCode?: string } & PageArgs, ctx) =>
      await ctx.services.exits.warnings(regionCode, page)
  },
  Mutation: {
    proposeExit: async (_root, args: { householdId: string, year: number }, ctx) => await ctx.services.exits.propose(args.householdId, args.year),
    verifyExit: async (_root, args: { reviewId: string, comment?: string }, ctx) => await ctx.services.exits.verify(args.reviewId, args.comment),
    objectExit: async (_root, args: { reviewId: string, text: string }, ctx) => await ctx.services.exits.object(args.reviewId, args.text),
    approveExit: async (_root, args: { reviewId: string, comment?: string }, ctx) => await ctx.services.exits.approve(args.reviewId, args.comment),
    rejectExit: async (_root, args: { reviewId: string, reason: string }, ctx) => await ctx.services.exits.reject(args.reviewId, args.reason),
    markReturned: async (_root, args: { householdId: string, year: number, reason: string }, ctx) =>
      await ctx.services.exits.markReturned(args.householdId, args.year, args.reason),
    exitVillage: async (_root, args: { code: string, year: number }, ctx) => await ctx.services.exits.exitRegion(args.code, args.year, 'VILLAGE'),
    exitCounty: async (_root, args: { code: string, year: number }, ctx) => await ctx.services.exits.exitRegion(args.code, args.year, 'COUNTY')
  }
}

/** Nested fields batched: one scoped query per field per request. */
export const loaders: MercuriusLoaders = {
  Household: {
    exitReviews: async (queries: Array<{ obj: HouseholdView }>, ctx) => await ctx.services.exits.byHouseholds(queries.map(q => q.obj.id))
  },
  ExitReview: {
    household: async (queries: Array<{ obj: ExitReviewView }>, ctx) => await ctx.services.households.byIds(queries.map(q => q.obj.householdId)),
    history: async (queries: Array<{ obj: ExitReviewView }>, ctx) => await ctx.services.exits.steps(queries.map(q => q.obj.id))
  }
}
