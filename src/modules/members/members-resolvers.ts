import type { IResolvers, MercuriusLoaders } from 'mercurius'
import type { MemberInput, MemberPatch, MemberView } from './members-service.js'

export const resolvers: IResolvers = {
  Query: {
    memberByNationalId: async (_root, args: { nationalId: string }, ctx) => await ctx.services.members.byNationalId(args.nationalId)
  },
  Mutation: {
    addMember: async (_root, args: { householdId: string, input: MemberInput }, ctx) => await ctx.services.members.add(args.householdId, args.input),
    updateMember: async (_root, args: { id: string, input: MemberPatch, expectedVersion?: number | null }, ctx) =>
      await ctx.services.members.update(args.id, args.input, args.expectedVersion ?? null),
    removeMember: async (_root, args: { id: string, reason: string }, ctx) => await ctx.services.members.remove(args.id, args.reason)
  }
}

export const loaders: MercuriusLoaders = {
  Member: {
    household: async (queries: Array<{ obj: MemberView }>, ctx) => await ctx.services.households.byIds(queries.map(q => q.obj.householdId))
  }
}
