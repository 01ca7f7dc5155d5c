import type { IResolvers } from 'mercurius'
import type { Principal } from '../../shared/principal.js'

export const resolvers: IResolvers = {
  Query: {
    me: (_root, _args, ctx) => ctx.principal
  },
  Me: {
    region: async (me: Principal, _args, ctx) => await ctx.services.regions.get(me.regionCode)
  }
}
