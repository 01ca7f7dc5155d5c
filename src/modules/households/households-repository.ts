import { and, asc, count, eq, getTableColumns, gt, inArray, like, sql, type SQL } from 'drizzle-orm'
import type { Db, DbOrTx } from '../../db/index.js'
import { exitReviews, householdStatusChanges, households, members } from '../../db/schema/index.js'
import { escapeLike } from '../../shared/ids.js'
import { AREA, areaPattern, inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'

export type HouseholdRow = typeof households.$inferSelect
export type HouseholdInsert = typeof households.$inferInsert
export type StatusChangeRow = typeof householdStatusChanges.$inferSelect
export type StatusChangeInsert = typeof householdStatusChanges.$inferInsert
export type HouseholdChanges = Partial<Omit<HouseholdInsert, 'id' | 'regionCode' | 'householdNo' | 'version' | 'createdAt'>>

export interface HouseholdQuery {
  regionCode: string
  status?: string | null
  attribute?: string | null
  mainCause?: string | null
  nameContains?: string | null
}

// Every function takes the principal and ANDs its area into the query.

/**
 * Subqueries read in the same statement as the households (see db/json-rows.ts): each
 * row then also holds, under the subquery's name, its related rows.
 */
export type Related = Record<string, SQL<unknown[][]>>
export type HouseholdRowWith<R extends Related> = HouseholdRow & { [K in keyof R]: unknown[][] }

/** Prepared statements of `findById`, per database and shape of the related reads (their names are unique per process). */
const byIdStatements = new WeakMap<Db, Map<string, { execute: (values: { id: string, area: string }) => Promise<unknown[]> }>>()
let statementCount = 0
/** Shapes prepared per database; a request of yet another shape is built and run unprepared. */
const MAX_PREPARED_SHAPES = 64

/**
 * One household by id in the caller's area, with the related reads `related` — built
 * and prepared once per database and `shape` (PostgreSQL parses and plans it once per
 * connection: a primary-key lookup, whatever the area).
 */
export async function findById<R extends Related> (db: Db, p: Principal, id: string, shape: string, related: (area: Principal | typeof AREA) => R): Promise<HouseholdRowWith<R> | undefined> {
  let statements = byIdStatements.get(db)
  if (statements === undefined) byIdStatements.set(db, statements = new Map())
  let statement = statements.get(shape)
  if (statement === undefined && statements.size >= MAX_PREPARED_SHAPES) {
    const [row] = await db.select({ ...getTableColumns(households), ...related(p) }).from(households)
      .where(and(eq(households.id, id), inArea(households.regionCode, p)))
    return row as HouseholdRowWith<R> | undefined
  }
  if (statement === undefined) {
    statement = db.select({ ...getTableColumns(households), ...related(AREA) }).from(households)
      .where(and(eq(households.id, sql.placeholder('id')), inArea(households.regionCode, AREA)))
      .prepare(`household_by_id_${++statementCount}`)
    statements.set(shape, statement)
  }
  const [row] = await statement.execute({ id, area: areaPattern(p) })
  return row as HouseholdRowWith<R> | undefined
}

export async function findByIds (db: DbOrTx, p: Principal, ids: readonly string[]): Promise<HouseholdRow[]> {
  if (ids.length === 0) return []
  return await db.select().from(households).where(and(inArray(households.id, [...ids]), inArea(households.regionCode, p)))
}

function where (p: Principal, q: HouseholdQuery): SQL | undefined {
  return and(
    inArea(households.regionCode, p),
    like(households.regionCode, `${q.regionCode}%`),
    q.status != null ? eq(households.status, q.status) : undefined,
    q.attribute != null ? eq(households.attribute, q.attribute) : undefined,
    q.mainCause != null ? eq(households.mainCause, q.mainCause) : undefined,
    q.nameContains != null && q.nameContains !== ''
      ? sql`EXISTS (SELECT 1 FROM ${members} m WHERE m.household_id = ${households.id} AND m.active AND m.name LIKE ${'%' + escapeLike(q.nameContains) + '%'})`
      : undefined
  )
}

/** A page ordered by id, after the keyset position `afterId`. */
export async function list<R extends Related = Record<never, never>> (db: DbOrTx, p: Principal, q: HouseholdQuery, afterId: string | null, limit: number, related?: R): Promise<Array<HouseholdRowWith<R>>> {
  return await db.select({ ...getTableColumns(households), ...related }).from(households)
    .where(and(where(p, q), afterId !== null ? gt(households.id, afterId) : undefined))
    .orderBy(asc(households.id)).limit(limit) as Array<HouseholdRowWith<R>>
}

export async function countMatching (db: DbOrTx, p: Principal, q: HouseholdQuery): Promise<number> {
  const [row] = await db.select({ n: count() }).from(households).where(where(p, q))
  return row?.n ?? 0
}

export async function insert (tx: DbOrTx, row: HouseholdInsert): Promise<HouseholdRow> {
  const [created] = await tx.insert(households).values(row).returning()
  return created!
}

/** Applies `changes` when the version matches (or `expectedVersion` is null); the new row, or null. */
export async function update (tx: DbOrTx, p: Principal, id: string, expectedVersion: number | null, changes: HouseholdChanges, now: Date): Promise<HouseholdRow | null> {
  const [row] = await tx.update(households)
    .set({ ...changes, version: sql`${households.version} + 1`, updatedAt: now })
    .where(and(eq(households.id, id), inArea(households.regionCode, p), expectedVersion !== null ? eq(households.version, expectedVersion) : undefined))
    .returning()
  return row ?? null
}

/** Unscoped on purpose: household numbers are unique across all areas. */
export async function householdNoTaken (db: DbOrTx, householdNo: string): Promise<boolean> {
  const rows = await db.select({ id: households.id }).from(households).where(eq(households.householdNo, householdNo)).limit(1)
  return rows.length > 0
}

/** The next generated number of a village: its 12-digit code and a 4-digit sequence. */
export async function nextHouseholdNo (db: DbOrTx, villageCode: string): Promise<string> {
  const [row] = await db.select({ last: sql<string | null>`max(${households.householdNo})` }).from(households)
    .where(sql`${households.householdNo} ~ ${'^' + villageCode + '[0-9]{4}$'}`)
  const last = row?.last ?? null
  return villageCode + String((last === null ? 0 : Number(last.slice(12))) + 1).padStart(4, '0')
}

/** Locks the household's row for the rest of the transaction (a decision that rests on its data). */
export async function lockForUpdate (tx: DbOrTx, p: Principal, id: string): Promise<HouseholdRow | null> {
  const [row] = await tx.select().from(households).where(and(eq(households.id, id), inArea(households.regionCode, p))).for('update')
  return row ?? null
}

export async function insertStatusChange (tx: DbOrTx, row: StatusChangeInsert): Promise<void> {
  await tx.insert(householdStatusChanges).values(row)
}

/** The status changes of the households, oldest first. */
export async function statusChangesByHouseholds (db: DbOrTx, p: Principal, householdIds: readonly string[]): Promise<StatusChangeRow[]> {
  if (householdIds.length === 0) return []
  return await db.select().from(householdStatusChanges)
    .where(and(inArray(householdStatusChanges.householdId, [...householdIds]), inArea(householdStatusChanges.regionCode, p)))
    .orderBy(asc(householdStatusChanges.seq))
}

/** Whether an exit review of the household is still open (PROPOSED or VERIFIED). */
export async function hasOpenExitReview (db: DbOrTx, householdId: string): Promise<boolean> {
  const rows = await db.select({ id: exitReviews.id }).from(exitReviews)
    .where(and(eq(exitReviews.householdId, householdId), inArray(exitReviews.status, ['PROPOSED', 'VERIFIED']))).limit(1)
  return rows.length > 0
}
