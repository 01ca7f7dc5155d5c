import { and, asc, desc, eq, gt, inArray, like, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../db/index.js'
import { idBounds, idOrder } from '../../db/keyset.js'
import { exitReviewSteps, exitReviews, households, members, regions } from '../../db/schema/index.js'
import { inArea } from '../../shared/policy.js'
import type { IdRange } from '../../shared/pagination.js'
import type { Principal } from '../../shared/principal.js'

export type ReviewRow = typeof exitReviews.$inferSelect
export type ReviewInsert = typeof exitReviews.$inferInsert
export type ReviewChanges = Partial<Pick<ReviewInsert, 'status' | 'criteria' | 'noticeEndsAt' | 'comment'>>
export type StepRow = typeof exitReviewSteps.$inferSelect
export type StepInsert = typeof exitReviewSteps.$inferInsert

export const OPEN_STATUSES = ['PROPOSED', 'VERIFIED'] as const

export interface ReviewQuery {
  regionCode: string
  status?: string | null
  year?: number | null
}

// Every function takes the principal and ANDs its area into the query.

export async function findByIds (db: DbOrTx, p: Principal, ids: readonly string[]): Promise<ReviewRow[]> {
  if (ids.length === 0) return []
  return await db.select().from(exitReviews).where(and(inArray(exitReviews.id, [...ids]), inArea(exitReviews.regionCode, p)))
}

/** The reviews of the households, newest first. */
export async function byHouseholds (db: DbOrTx, p: Principal, householdIds: readonly string[]): Promise<ReviewRow[]> {
  if (householdIds.length === 0) return []
  return await db.select().from(exitReviews)
    .where(and(inArray(exitReviews.householdId, [...householdIds]), inArea(exitReviews.regionCode, p)))
    .orderBy(desc(exitReviews.createdAt), desc(exitReviews.id))
}

function where (p: Principal, q: ReviewQuery): SQL | undefined {
  return and(
    inArea(exitReviews.regionCode, p),
    like(exitReviews.regionCode, `${q.regionCode}%`),
    q.status != null ? eq(exitReviews.status, q.status) : undefined,
    q.year != null ? eq(exitReviews.year, q.year) : undefined
  )
}

/** A page of reviews ordered by id within the keyset bounds of `range` (descending when backward). */
export async function list (db: DbOrTx, p: Principal, q: ReviewQuery, range: IdRange, limit: number): Promise<ReviewRow[]> {
  return await db.select().from(exitReviews)
    .where(and(where(p, q), idBounds(exitReviews.id, range)))
    .orderBy(idOrder(exitReviews.id, range)).limit(limit)
}

export async function countMatching (db: DbOrTx, p: Principal, q: ReviewQuery): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(exitReviews).where(where(p, q))
  return row?.n ?? 0
}

export async function insert (tx: DbOrTx, row: ReviewInsert): Promise<ReviewRow> {
  const [created] = await tx.insert(exitReviews).values(row).returning()
  return created!
}

/** Applies `changes` when the review is still at `expectedVersion`; the new row, or null. */
export async function update (tx: DbOrTx, p: Principal, id: string, expectedVersion: number, changes: ReviewChanges, now: Date): Promise<ReviewRow | null> {
  const [row] = await tx.update(exitReviews)
    .set({ ...changes, version: sql`${exitReviews.version} + 1`, updatedAt: now })
    .where(and(eq(exitReviews.id, id), inArea(exitReviews.regionCode, p), eq(exitReviews.version, expectedVersion)))
    .returning()
  return row ?? null
}

export async function insertStep (tx: DbOrTx, row: StepInsert): Promise<void> {
  await tx.insert(exitReviewSteps).values(row)
}

/** The steps of the reviews, oldest first. */
export async function stepsByReviews (db: DbOrTx, p: Principal, reviewIds: readonly string[]): Promise<StepRow[]> {
  if (reviewIds.length === 0) return []
  return await db.select().from(exitReviewSteps)
    .where(and(inArray(exitReviewSteps.reviewId, [...reviewIds]), inArea(exitReviewSteps.regionCode, p)))
    .orderBy(asc(exitReviewSteps.seq))
}

export interface NoticeRow {
  reviewId: string
  villageCode: string
  villageName: string
  headName: string | null
  householdSize: number
  year: number
  noticeStartsAt: Date
  noticeEndsAt: Date
}

/**
 * Households under public notice (verified, notice not yet ended) in `regionCode`:
 * only what a posted notice shows. One statement, ordered by village and head's name.
 */
export async function notices (db: DbOrTx, p: Principal, regionCode: string, year: number | null, now: Date): Promise<NoticeRow[]> {
  const rows = await db.select({
    reviewId: exitReviews.id,
    villageCode: exitReviews.regionCode,
    villageName: regions.name,
    headName: sql<string | null>`(SELECT m.name FROM ${members} m WHERE m.household_id = ${households.id} AND m.active AND m.relation = 'HEAD' LIMIT 1)`,
    householdSize: sql<number>`(SELECT count(*)::int FROM ${members} m WHERE m.household_id = ${households.id} AND m.active AND m.deceased_at IS NULL)`,
    year: exitReviews.year,
    noticeStartsAt: sql<Date>`(SELECT max(s.at) FROM ${exitReviewSteps} s WHERE s.review_id = ${exitReviews.id} AND s.action = 'VERIFY')`.mapWith(exitReviews.noticeEndsAt),
    noticeEndsAt: exitReviews.noticeEndsAt
  }).from(exitReviews)
    .innerJoin(households, eq(households.id, exitReviews.householdId))
    .innerJoin(regions, eq(regions.code, exitReviews.regionCode))
    .where(and(
      inArea(exitReviews.regionCode, p),
      like(exitReviews.regionCode, `${regionCode}%`),
      eq(exitReviews.status, 'VERIFIED'),
      gt(exitReviews.noticeEndsAt, now),
      year !== null ? eq(exitReviews.year, year) : undefined
    ))
    .orderBy(asc(exitReviews.regionCode), asc(exitReviews.id))
  return rows as NoticeRow[]
}

/** Living persons of POOR or RETURNED households in the region: the numerator of the poverty incidence. */
export async function poorPersons (db: DbOrTx, p: Principal, regionCode: string): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(members)
    .innerJoin(households, eq(households.id, members.householdId))
    .where(and(
      inArea(members.regionCode, p),
      like(members.regionCode, `${regionCode}%`),
      eq(members.active, true),
      sql`${members.deceasedAt} IS NULL`,
      inArray(households.status, ['POOR', 'RETURNED'])
    ))
  return row?.n ?? 0
}
