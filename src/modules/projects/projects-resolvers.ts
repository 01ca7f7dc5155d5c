import type { IResolvers, MercuriusLoaders } from 'mercurius'
import type { PageArgs } from '../../shared/pagination.js'
import type { MeasureView } from '../record-views.js'
import type { PaymentView } from './payments.js'
import type { AllocationInput, BeneficiaryLinkView, PaymentInput, ProjectFilter, ProjectInput, ProjectView } from './projects-service.js'

export const resolvers: IResolvers = {
  Query: {
    project: async (_root, args: { id: string }, ctx) => await ctx.services.projects.get(args.id),
    projects: async (_root, { filter, ...page }: { filter?: ProjectFilter } & PageArgs, ctx) => await ctx.services.projects.list(filter, page),
    fundStatistics: async (_root, args: { regionCode: string, year?: number | null }, ctx) => await ctx.services.projects.fundStatistics(args.regionCode, args.year)
  },
  Mutation: {
    createProject: async (_root, args: { input: ProjectInput }, ctx) => await ctx.services.projects.create(args.input),
    approveProject: async (_root, args: { id: string }, ctx) => await ctx.services.projects.approve(args.id),
    setProjectStatus: async (_root, args: { id: string, status: string, expectedVersion: number }, ctx) =>
      await ctx.services.projects.setStatus(args.id, args.status, args.expectedVersion),
    linkBeneficiaries: async (_root, args: { projectId: string, householdIds: string[] }, ctx) => await ctx.services.projects.link(args.projectId, args.householdIds),
    allocateFunds: async (_root, args: { projectId: string, input: AllocationInput }, ctx) => await ctx.services.projects.allocate(args.projectId, args.input),
    recordPayment: async (_root, args: { projectId: string, input: PaymentInput }, ctx) => await ctx.services.projects.pay(args.projectId, args.input)
  }
}

type P = Array<{ obj: ProjectView }>
const byId = <T extends { id: string }>(ids: Array<string | null>, found: Array<T | null>): Array<T | null> => {
  const map = new Map(found.filter((x): x is T => x !== null).map(x => [x.id, x]))
  return ids.map(id => (id === null ? null : map.get(id) ?? null))
}

/** Every nested field is batched: one scoped statement per field per request. */
export const loaders: MercuriusLoaders = {
  Project: {
    region: async (queries: P, ctx) => await ctx.services.regions.byCodes(queries.map(q => q.obj.regionCode)),
    beneficiaries: async (queries: P, ctx) => {
      const links = await ctx.services.projects.beneficiaryLinks(queries.map(q => q.obj.id))
      const households = await ctx.services.households.byIds([...new Set(links.flat().map(l => l.householdId))])
      const map = new Map(households.filter(h => h !== null).map(h => [h.id, h]))
      return links.map(list => list.map(l => map.get(l.householdId)).filter(h => h !== undefined))
    },
    beneficiaryLinks: async (queries: P, ctx) => await ctx.services.projects.beneficiaryLinks(queries.map(q => q.obj.id)),
    allocations: async (queries: P, ctx) => await ctx.services.projects.allocations(queries.map(q => q.obj.id)),
    payments: async (queries: P, ctx) => await ctx.services.projects.payments(queries.map(q => q.obj.id))
  },
  BeneficiaryLink: {
    household: async (queries: Array<{ obj: BeneficiaryLinkView }>, ctx) => await ctx.services.households.byIds(queries.map(q => q.obj.householdId)),
    measure: async (queries: Array<{ obj: BeneficiaryLinkView }>, ctx) => {
      const ids = queries.map(q => q.obj.measureId)
      return byId(ids, await ctx.services.measures.byIds(ids.filter((id): id is string => id !== null)))
    }
  },
  Payment: {
    household: async (queries: Array<{ obj: PaymentView }>, ctx) => await ctx.services.households.byIds(queries.map(q => q.obj.householdId)),
    member: async (queries: Array<{ obj: PaymentView }>, ctx) => {
      const ids = queries.map(q => q.obj.memberId)
      return byId(ids, await ctx.services.members.byIds(ids.filter((id): id is string => id !== null)))
    }
  },
  Measure: {
    project: async (queries: Array<{ obj: MeasureView }>, ctx) => {
      const ids = queries.map(q => q.obj.projectId)
      return byId(ids, await ctx.services.projects.byIds(ids.filter((id): id is string => id !== null)))
    }
  }
}
