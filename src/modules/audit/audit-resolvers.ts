import type { IResolvers } from 'mercurius'
import type { AuditFilterInput } from './audit-service.js'

export const resolvers: IResolvers = {
  Query: {
    auditLog: async (_root, args: { filter?: AuditFilterInput, first?: number, after?: string }, ctx) =>
      await ctx.services.audit.log(args.filter, args.first, args.after),
    verifyAuditChain: async (_root, _args, ctx) => await ctx.services.audit.verifyChain()
  }
}
