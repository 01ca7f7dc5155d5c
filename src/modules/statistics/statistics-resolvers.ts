import type { IResolvers } from 'mercurius'
import type { PlanTargetInput } from './statistics-service.js'

export const resolvers: IResolvers = {
  Query: {
    statistics: async (_root, args: { regionCode: string, year: number }, ctx) =>
      await ctx.services.statistics.statistics(args.regionCode, args.year),
    statisticsTrend: async (_root, args: { regionCode: string, years: number[] }, ctx) =>
      await ctx.services.statistics.trend(args.regionCode, args.years),
    planTargets: async (_root, args: { regionCode: string, years?: number[] | null }, ctx) =>
      await ctx.services.statistics.targets(args.regionCode, args.years)
  },
  Mutation: {
    setPlanTarget: async (_root, args: { regionCode: string, year: number, expectedVersion?: number | null, input: PlanTargetInput }, ctx) =>
      await ctx.services.statistics.setTarget(args.regionCode, args.year, args.expectedVersion, args.input)
  },
  PlanTarget: {
    updatedAt: (obj: { updatedAt: Date }) => obj.updatedAt.toISOString()
  }
}
