import type { IResolvers } from 'mercurius'
import type { Disposition, WorkItemFilter } from './work-items-service.js'

export const resolvers: IResolvers = {
  Query: {
    workItems: async (_root, args: { filter?: WorkItemFilter, first?: number, after?: string }, ctx) =>
      await ctx.services.workItems.list(args.filter, args.first, args.after)
  },
  Mutation: {
    resolveWorkItem: async (_root, args: { id: string, disposition: Disposition, note?: string, expectedVersion?: number }, ctx) =>
      await ctx.services.workItems.resolve(args.id, args.disposition, args.note, args.expectedVersion)
  }
}
