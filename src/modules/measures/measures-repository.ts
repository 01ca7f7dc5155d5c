import { and, asc, eq, inArray, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../db/index.js'
import { jsonRows, jsonRowsDecoder } from '../../db/json-rows.js'
import { households, measures } from '../../db/schema/index.js'
import { AREA, inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'

export type MeasureRow = typeof measures.$inferSelect
export type MeasureInsert = typeof measures.$inferInsert
export type MeasureChanges = Partial<Pick<MeasureInsert, 'kind' | 'status' | 'startDate' | 'endDate' | 'amount' | 'fundingSource' | 'details'>>

export async function findByIds (db: DbOrTx, p: Principal, ids: readonly string[]): Promise<MeasureRow[]> {
  if (ids.length === 0) return []
  return await db.select().from(measures).where(and(inArray(measures.id, [...ids]), inArea(measures.regionCode, p)))
}

/** Oldest start first. */
const order = [asc(measures.startDate), asc(measures.id)]

/** Measures of the households in order. */
export async function byHouseholds (db: DbOrTx, p: Principal, householdIds: readonly string[]): Promise<MeasureRow[]> {
  if (householdIds.length === 0) return []
  return await db.select().from(measures)
    .where(and(inArray(measures.householdId, [...householdIds]), inArea(measures.regionCode, p)))
    .orderBy(...order)
}

/** The same measures of the household read by the outer statement, as its subquery (see jsonRows; only the columns `keys` when given). */
export const ofHousehold = (p: Principal | typeof AREA, keys?: readonly string[]): SQL<unknown[][]> =>
  jsonRows(measures, and(eq(measures.householdId, households.id), inArea(measures.regionCode, p)), order, keys)
export const fromJsonRows = jsonRowsDecoder(measures)

export async function insert (tx: DbOrTx, row: MeasureInsert): Promise<MeasureRow> {
  const [created] = await tx.insert(measures).values(row).returning()
  return created!
}

export async function update (tx: DbOrTx, p: Principal, id: string, expectedVersion: number, changes: MeasureChanges, now: Date): Promise<MeasureRow | null> {
  const [row] = await tx.update(measures)
    .set({ ...changes, version: sql`${measures.version} + 1`, updatedAt: now })
    .where(and(eq(measures.id, id), inArea(measures.regionCode, p), eq(measures.version, expectedVersion)))
    .returning()
  return row ?? null
}
