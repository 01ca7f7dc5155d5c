import type { IResolvers, MercuriusLoaders } from 'mercurius'
import { badInput } from '../../shared/errors.js'
import { labelsFor } from '../../shared/labels.js'
import type { Region, RegionPatchInput } from './regions-service.js'

export const resolvers: IResolvers = {
  Query: {
    region: async (_root, args: { code: string }, ctx) => await ctx.services.regions.get(args.code),
    povertyLines: async (_root, _args, ctx) => await ctx.services.regions.povertyLines(),
    labels: (_root, args: { locale?: string | null }) => {
      if (args.locale != null && args.locale !== 'zh' && args.locale !== 'en') throw badInput([{ path: 'locale', message: 'must be zh or en' }])
      return labelsFor(args.locale === 'en' ? 'en' : 'zh')
    }
  },
  Mutation: {
    updateRegion: async (_root, args: { code: string, expectedVersion: number, input: RegionPatchInput }, ctx) =>
      await ctx.services.regions.update(args.code, args.expectedVersion, args.input),
    setPovertyLine: async (_root, args: { year: number, amount: number }, ctx) => await ctx.services.regions.setPovertyLine(args.year, args.amount)
  }
}

export const loaders: MercuriusLoaders = {
  Region: {
    parent: async (queries: Array<{ obj: Region }>, ctx) => {
      const codes = queries.map(q => q.obj.parentCode)
      const found = await ctx.services.regions.byCodes(codes.filter((c): c is string => c !== null))
      const byCode = new Map(found.filter(r => r !== null).map(r => [r.code, r]))
      return codes.map(c => (c === null ? null : byCode.get(c) ?? null))
    },
    children: async (queries: Array<{ obj: Region }>, ctx) =>
      await ctx.services.regions.childrenOf(queries.map(q => q.obj.code))
  }
}
