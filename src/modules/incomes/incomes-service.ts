import type { Deps } from '../../shared/context.js'
import { groupByHousehold } from '../../shared/ids.js'
import { badInput, conflict, type FieldError } from '../../shared/errors.js'
import { authorize } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { recordAudit } from '../audit/audit-service.js'
import { HouseholdsService } from '../households/households-service.js'
import * as members from '../members/members-repository.js'
import { incomeView, type IncomeView } from '../record-views.js'
import * as repo from './incomes-repository.js'

export interface IncomeInput {
  year: number
  wage: number
  business: number
  property: number
  transfer: number
  expenses: number
  transferItems?: unknown
  householdSize?: number | null
}

const round2 = (n: number): number => Math.round(n * 100) / 100
const isMoney = (n: number): boolean => Number.isFinite(n) && n >= 0 && n <= 100_000_000 && Math.abs(round2(n) - n) < 1e-9

/** (wage + business + property + transfer − expenses) ÷ persons, to the fen. */
export function perCapitaNet (i: Pick<IncomeInput, 'wage' | 'business' | 'property' | 'transfer' | 'expenses'>, persons: number): number {
  return round2((i.wage + i.business + i.property + i.transfer - i.expenses) / persons)
}

export class IncomesService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  async byHouseholds (householdIds: readonly string[]): Promise<IncomeView[][]> {
    authorize(this.principal, 'record.read')
    const rows = await repo.byHouseholds(this.deps.db, this.principal, householdIds)
    return groupByHousehold(householdIds, rows, incomeView)
  }

  /** One record per household and year: recording again replaces it (audited with before and after). */
  async record (householdId: string, input: IncomeInput): Promise<IncomeView> {
    authorize(this.principal, 'record.write')
    const household = await new HouseholdsService(this.deps, this.principal).find(householdId)
    authorize(this.principal, 'record.write', household.regionCode)
    if (household.status === 'CLOSED') throw conflict('The household is closed')
    const now = this.deps.clock()
    const fields: FieldError[] = []
    if (!Number.isInteger(input.year) || input.year < 2013 || input.year > now.getUTCFullYear()) fields.push({ path: 'input.year', message: `must be a year from 2013 to ${now.getUTCFullYear()}` })
    for (const key of ['wage', 'business', 'property', 'transfer', 'expenses'] as const) {
      if (!isMoney(input[key])) fields.push({ path: `input.${key}`, message: 'must be 0 or more yuan, at most 2 decimals' })
    }
    let items: Record<string, number> | null = null
    if (input.transferItems != null) {
      const t = input.transferItems
      if (typeof t !== 'object' || Array.isArray(t) || Object.keys(t).length > 20 ||
        !Object.entries(t as Record<string, unknown>).every(([k, v]) => /^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(k) && typeof v === 'number' && isMoney(v))) {
        fields.push({ path: 'input.transferItems', message: 'must be an object of up to 20 named amounts in yuan, e.g. { "pension": 1200 }' })
      } else {
        items = Object.fromEntries(Object.entries(t as Record<string, number>))
        const sum = round2(Object.values(items).reduce((a, b) => a + b, 0))
        if (isMoney(input.transfer) && sum !== round2(input.transfer)) fields.push({ path: 'input.transferItems', message: 'must add up to transfer' })
      }
    }
    let size = input.householdSize ?? null
    if (size !== null && (!Number.isInteger(size) || size < 1 || size > 30)) fields.push({ path: 'input.householdSize', message: 'must be 1–30 persons' })
    if (fields.length > 0) throw badInput(fields)
    size ??= await members.countLiving(this.deps.db, household.id)
    if (size === 0) throw badInput([{ path: 'input.householdSize', message: 'is required: the household has no living member' }])

    return await this.deps.db.transaction(async (tx) => {
      const before = (await repo.byHouseholds(tx, this.principal, [household.id])).find(r => r.year === input.year)
      const row = await repo.upsert(tx, {
        householdId: household.id,
        year: input.year,
        regionCode: household.regionCode,
        wage: input.wage,
        business: input.business,
        property: input.property,
        transfer: input.transfer,
        transferItems: items,
        expenses: input.expenses,
        householdSize: size,
        perCapitaNet: perCapitaNet(input, size),
        version: (before?.version ?? 0) + 1,
        createdAt: now,
        updatedAt: now
      })
      await recordAudit(tx, this.principal, now, {
        action: before === undefined ? 'income.create' : 'income.replace',
        entity: 'Income',
        entityId: `${household.id}:${input.year}`,
        regionCode: household.regionCode,
        before: before === undefined ? null : incomeView(before),
        after: incomeView(row)
      })
      return incomeView(row)
    })
  }
}
