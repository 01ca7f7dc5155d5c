import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import type { DbOrTx } from '../../db/index.js'
import { povertyLines, regions } from '../../db/schema/index.js'

export type RegionRow = typeof regions.$inferSelect

// Regions are public reference data (the official division list): reads are not area-scoped.
// Writes are authorised in the service (reference.edit, target in area).

export async function findByCodes (db: DbOrTx, codes: readonly string[]): Promise<RegionRow[]> {
  if (codes.length === 0) return []
  return await db.select().from(regions).where(inArray(regions.code, [...codes]))
}

export async function childrenOf (db: DbOrTx, parentCodes: readonly string[]): Promise<RegionRow[]> {
  if (parentCodes.length === 0) return []
  return await db.select().from(regions).where(inArray(regions.parentCode, [...parentCodes])).orderBy(asc(regions.code))
}

export async function exists (db: DbOrTx, code: string): Promise<boolean> {
  const rows = await db.select({ code: regions.code }).from(regions).where(eq(regions.code, code)).limit(1)
  return rows.length > 0
}

export type RegionPatch = Partial<Pick<RegionRow, 'isPoor' | 'isDeepPoverty' | 'ruralPopulation' | 'exitYear'>>

/** Updates when `version` matches; returns the new row, or null when it did not. */
export async function updateVersioned (tx: DbOrTx, code: string, expectedVersion: number, patch: RegionPatch, now: Date): Promise<RegionRow | null> {
  const [row] = await tx.update(regions)
    .set({ ...patch, version: sql`${regions.version} + 1`, updatedAt: now })
    .where(and(eq(regions.code, code), eq(regions.version, expectedVersion)))
    .returning()
  return row ?? null
}

export async function listPovertyLines (db: DbOrTx): Promise<Array<typeof povertyLines.$inferSelect>> {
  return await db.select().from(povertyLines).orderBy(asc(povertyLines.year))
}

export async function povertyLine (db: DbOrTx, year: number): Promise<number | null> {
  const [row] = await db.select({ amount: povertyLines.amount }).from(povertyLines).where(eq(povertyLines.year, year))
  return row?.amount ?? null
}

/** Sets a year's line; returns the previous amount (null when the year was new). */
export async function upsertPovertyLine (tx: DbOrTx, year: number, amount: number): Promise<number | null> {
  const previous = await povertyLine(tx, year)
  await tx.insert(povertyLines).values({ year, amount }).onConflictDoUpdate({ target: povertyLines.year, set: { amount } })
  return previous
}
