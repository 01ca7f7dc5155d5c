import type { IResolvers } from 'mercurius'
import type { PageArgs } from '../../shared/pagination.js'
import type { AuditFilterInput } from './audit-service.js'

export const resolvers: IResolvers = {
  Query: {
    auditLog: async (_root, args: { filter?: AuditFilterInput } & PageArgs, ctx) => await ctx.services.audit.log(args.filter, args),
    verifyAuditChain: async (_root, _args, ctx) => await ctx.services.audit.verifyChain(),
    auditTreeHead: async (_root, _args, ctx) => await ctx.services.audit.treeHead(),
    auditInclusionProof: async (_root, args: { seq: number, treeSize?: number | null }, ctx) =>
      await ctx.services.audit.inclusionProof(args.seq, args.treeSize),
    auditConsistencyProof: async (_root, args: { first: number, second: number }, ctx) =>
      await ctx.services.audit.consistencyProof(args.first, args.second)
  }
}
