import type { IResolvers, MercuriusLoaders } from 'mercurius'
import type { PageArgs } from '../../shared/pagination.js'
import type { HouseholdView } from '../households/households-service.js'
import type { HelperFilter, HelperPatch, HelperRecordInput, VisitInput } from './helpers-service.js'
import type { AssignmentView, HelperView, TeamView, VisitView } from './people-views.js'
import type { TeamFilter, TeamInput, TeamMemberInput, TeamPatch } from './teams-service.js'

export const resolvers: IResolvers = {
  Query: {
    workTeam: async (_root, args: { id: string }, ctx) => await ctx.services.teams.get(args.id),
    workTeams: async (_root, { filter, ...page }: { filter?: TeamFilter } & PageArgs, ctx) => await ctx.services.teams.list(filter, page),
    helper: async (_root, args: { id: string }, ctx) => await ctx.services.helpers.get(args.id),
    helpers: async (_root, { filter, ...page }: { filter?: HelperFilter } & PageArgs, ctx) => await ctx.services.helpers.list(filter, page),
    unvisitedHouseholds: async (_root, { regionCode, days, ...page }: { regionCode?: string | null, days?: number | null } & PageArgs, ctx) =>
      await ctx.services.helpers.unvisited(regionCode, days, page)
  },
  Mutation: {
    createWorkTeam: async (_root, args: { input: TeamInput }, ctx) => await ctx.services.teams.create(args.input),
    updateWorkTeam: async (_root, args: { id: string, expectedVersion: number, input: TeamPatch }, ctx) => await ctx.services.teams.update(args.id, args.expectedVersion, args.input),
    endWorkTeam: async (_root, args: { id: string, expectedVersion: number, endedOn?: string | null }, ctx) => await ctx.services.teams.end(args.id, args.expectedVersion, args.endedOn),
    addWorkTeamMember: async (_root, args: { teamId: string, input: TeamMemberInput }, ctx) => await ctx.services.teams.addMember(args.teamId, args.input),
    removeWorkTeamMember: async (_root, args: { id: string, leftOn?: string | null }, ctx) => await ctx.services.teams.removeMember(args.id, args.leftOn),
    createHelper: async (_root, args: { input: HelperRecordInput }, ctx) => await ctx.services.helpers.create(args.input),
    updateHelper: async (_root, args: { id: string, expectedVersion: number, input: HelperPatch }, ctx) => await ctx.services.helpers.update(args.id, args.expectedVersion, args.input),
    assignHelper: async (_root, args: { householdId: string, helperId: string, startedOn?: string | null }, ctx) => await ctx.services.helpers.assign(args.householdId, args.helperId, args.startedOn),
    endHelperAssignment: async (_root, args: { id: string, endedOn?: string | null }, ctx) => await ctx.services.helpers.endAssignment(args.id, args.endedOn),
    recordVisit: async (_root, args: { input: VisitInput }, ctx) => await ctx.services.helpers.recordVisit(args.input)
  }
}

/** The longest prefix all the codes share. */
export function commonPrefix (codes: readonly string[]): string {
  let prefix = codes[0] ?? ''
  for (const c of codes) while (!c.startsWith(prefix)) prefix = prefix.slice(0, -1)
  return prefix
}

type Q<T> = Array<{ obj: T, params: Record<string, unknown> }>
/** Every nested field is batched: one scoped query per field per request. */
export const loaders: MercuriusLoaders = {
  WorkTeam: {
    region: async (queries: Q<TeamView>, ctx) => await ctx.services.regions.byCodes(queries.map(q => q.obj.regionCode)),
    members: async (queries: Q<TeamView>, ctx) => {
      const result: unknown[] = new Array(queries.length)
      for (const include of [false, true]) {
        const idx = queries.map((q, i) => (Boolean(q.params.includeLeft) === include ? i : -1)).filter(i => i >= 0)
        if (idx.length === 0) continue
        const lists = await ctx.services.teams.membersOf(idx.map(i => queries[i]!.obj.id), include)
        idx.forEach((i, k) => { result[i] = lists[k] })
      }
      return result
    },
    firstSecretary: async (queries: Q<TeamView>, ctx) => {
      const lists = await ctx.services.teams.membersOf(queries.map(q => q.obj.id), false)
      return lists.map(list => list.find(m => m.role === 'FIRST_SECRETARY') ?? null)
    }
  },
  Helper: {
    region: async (queries: Q<HelperView>, ctx) => await ctx.services.regions.byCodes(queries.map(q => q.obj.regionCode)),
    homeRegion: async (queries: Q<HelperView>, ctx) => await ctx.services.regions.byCodes(queries.map(q => q.obj.homeRegionCode ?? '')),
    assignments: async (queries: Q<HelperView>, ctx) => await ctx.services.helpers.assignmentsOfHelpers(queries.map(q => q.obj.id)),
    visits: async (queries: Q<HelperView>, ctx) => await ctx.services.helpers.visitsOfHelpers(queries.map(q => q.obj.id))
  },
  HelperAssignment: {
    helper: async (queries: Q<AssignmentView>, ctx) => await ctx.services.helpers.byIds(queries.map(q => q.obj.helperId)),
    household: async (queries: Q<AssignmentView>, ctx) => await ctx.services.households.byIds(queries.map(q => q.obj.householdId))
  },
  Visit: {
    helper: async (queries: Q<VisitView>, ctx) => await ctx.services.helpers.byIds(queries.map(q => q.obj.helperId)),
    household: async (queries: Q<VisitView>, ctx) => await ctx.services.households.byIds(queries.map(q => q.obj.householdId))
  },
  RegionStatistics: {
    // One statement for every region asked in the request (a region and its breakdown): within their common prefix.
    peopleSent: async (queries: Q<{ region: { code: string } }>, ctx) => {
      const codes = queries.map(q => q.obj.region.code)
      return await ctx.services.helpers.coverage(commonPrefix(codes), codes)
    }
  },
  Household: {
    helper: async (queries: Q<HouseholdView>, ctx) => await ctx.services.helpers.currentOf(queries.map(q => q.obj.id)),
    helperAssignments: async (queries: Q<HouseholdView>, ctx) => await ctx.services.helpers.assignmentsOfHouseholds(queries.map(q => q.obj.id)),
    visits: async (queries: Q<HouseholdView>, ctx) => await ctx.services.helpers.visitsOfHouseholds(queries.map(q => q.obj.id))
  }
}
