import type { IResolvers, MercuriusLoaders } from 'mercurius'
import type { PageArgs } from '../../shared/pagination.js'
import { selectionIn } from '../../shared/prefetch.js'
import type { HouseholdFilter, HouseholdInput, HouseholdPatch, HouseholdView } from './households-service.js'

/** The nested fields of Household read in the household's own statement when asked (the others through loaders). */
const IN_STATEMENT = ['members', 'measures', 'incomes', 'helper']

export const resolvers: IResolvers = {
  Query: {
    household: async (_root, args: { id: string }, ctx, info) => await ctx.services.households.get(args.id, selectionIn(info, [], IN_STATEMENT)),
    households: async (_root, { filter, ...page }: { filter?: HouseholdFilter } & PageArgs, ctx, info) =>
      await ctx.services.households.list(filter, page, selectionIn(info, ['edges', 'node'], IN_STATEMENT))
  },
  Mutation: {
    createHousehold: async (_root, args: { input: HouseholdInput }, ctx) => await ctx.services.households.create(args.input),
    updateHousehold: async (_root, args: { id: string, expectedVersion: number, input: HouseholdPatch }, ctx) =>
      await ctx.services.households.update(args.id, args.expectedVersion, args.input),
    closeHousehold: async (_root, args: { id: string, reason: string }, ctx) => await ctx.services.households.close(args.id, args.reason)
  }
}

type Q = Array<{ obj: HouseholdView, params: Record<string, unknown> }>

/** Every nested field of Household is batched: one scoped query per field per request, unless read with the household. */
export const loaders: MercuriusLoaders = {
  Household: {
    region: async (queries: Q, ctx) => await ctx.services.regions.byCodes(queries.map(q => q.obj.regionCode)),
    members: async (queries: Q, ctx) => {
      // Usually one value of includeRemoved per request; group so each value is one query.
      const result: unknown[] = new Array(queries.length)
      for (const include of [false, true]) {
        const idx = queries.map((q, i) => (Boolean(q.params.includeRemoved) === include ? i : -1)).filter(i => i >= 0)
        if (idx.length === 0) continue
        const lists = await ctx.services.members.byHouseholds(idx.map(i => queries[i]!.obj.id), include)
        idx.forEach((i, k) => { result[i] = lists[k] })
      }
      return result
    },
    headName: async (queries: Q, ctx) => {
      const lists = await ctx.services.members.byHouseholds(queries.map(q => q.obj.id), false)
      return lists.map(list => list.find(m => m.relation === 'HEAD')?.name ?? null)
    },
    measures: async (queries: Q, ctx) => await ctx.services.measures.byHouseholds(queries.map(q => q.obj.id)),
    incomes: async (queries: Q, ctx) => await ctx.services.incomes.byHouseholds(queries.map(q => q.obj.id)),
    statusHistory: async (queries: Q, ctx) => {
      const lists = await ctx.services.households.statusHistories(queries.map(q => q.obj.id))
      return lists.map(list => list.map(c => ({ ...c, at: c.at.toISOString() })))
    }
  }
}
