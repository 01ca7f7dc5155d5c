import type { IResolvers } from 'mercurius'
import type { IncomeInput } from './incomes-service.js'

export const resolvers: IResolvers = {
  Mutation: {
    recordIncome: async (_root, args: { householdId: string, input: IncomeInput }, ctx) => await ctx.services.incomes.record(args.householdId, args.input)
  }
}
