import type { IResolvers } from 'mercurius'
import type { PageArgs } from '../../shared/pagination.js'
import type { Disposition, WorkItemFilter } from './work-items-service.js'

export const resolvers: IResolvers = {
  Query: {
    workItems: async (_root, { filter, ...page }: { filter?: WorkItemFilter } & PageArgs, ctx) =>
      await ctx.services.workItems.list(filter, page)
  },
  Mutation: {
    resolveWorkItem: async (_root, args: { id: string, disposition: Disposition, note?: string, expectedVersion?: number }, ctx) =>
      await ctx.services.workItems.resolve(args.id, args.disposition, args.note, args.expectedVersion)
  }
}
