import { and, desc, eq, inArray, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../db/index.js'
import { jsonRows, jsonRowsDecoder } from '../../db/json-rows.js'
import { households, incomes } from '../../db/schema/index.js'
import { AREA, inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'

export type IncomeRow = typeof incomes.$inferSelect
export type IncomeInsert = typeof incomes.$inferInsert

/** Income records of the households, latest year first. */
export async function byHouseholds (db: DbOrTx, p: Principal, householdIds: readonly string[]): Promise<IncomeRow[]> {
  if (householdIds.length === 0) return []
  return await db.select().from(incomes)
    .where(and(inArray(incomes.householdId, [...householdIds]), inArea(incomes.regionCode, p)))
    .orderBy(desc(incomes.year))
}

/** The same records of the household read by the outer statement, as its subquery (see jsonRows; only the columns `keys` when given). */
export const ofHousehold = (p: Principal | typeof AREA, keys?: readonly string[]): SQL<unknown[][]> =>
  jsonRows(incomes, and(eq(incomes.householdId, households.id), inArea(incomes.regionCode, p)), [desc(incomes.year)], keys)
export const fromJsonRows = jsonRowsDecoder(incomes)

/** Inserts or replaces the record of that household and year; returns it. */
export async function upsert (tx: DbOrTx, row: IncomeInsert): Promise<IncomeRow> {
  const { householdId: _h, year: _y, regionCode: _r, createdAt: _c, ...changes } = row
  const [saved] = await tx.insert(incomes).values(row)
    .onConflictDoUpdate({ target: [incomes.householdId, incomes.year], set: changes })
    .returning()
  return saved!
}
