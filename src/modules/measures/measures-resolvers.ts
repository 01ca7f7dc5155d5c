import type { IResolvers, MercuriusLoaders } from 'mercurius'
import type { MeasureView } from '../record-views.js'
import type { MeasureInput, MeasurePatch } from './measures-service.js'

export const resolvers: IResolvers = {
  Mutation: {
    addMeasure: async (_root, args: { householdId: string, input: MeasureInput }, ctx) => await ctx.services.measures.add(args.householdId, args.input),
    updateMeasure: async (_root, args: { id: string, input: MeasurePatch, expectedVersion?: number | null }, ctx) =>
      await ctx.services.measures.update(args.id, args.input, args.expectedVersion ?? null)
  }
}

export const loaders: MercuriusLoaders = {
  Measure: {
    household: async (queries: Array<{ obj: MeasureView }>, ctx) => await ctx.services.households.byIds(queries.map(q => q.obj.householdId)),
    member: async (queries: Array<{ obj: MeasureView }>, ctx) => {
      const ids = queries.map(q => q.obj.memberId)
      const found = await ctx.services.members.byIds(ids.filter((id): id is string => id !== null))
      const byId = new Map(found.filter(m => m !== null).map(m => [m.id, m]))
      return ids.map(id => (id === null ? null : byId.get(id) ?? null))
    }
  }
}
