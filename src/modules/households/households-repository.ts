import { and, asc, count, desc, eq, gt, inArray, like, lt, sql, type SQL } from 'drizzle-orm'
import { columnsOf } from '../../db/json-rows.js'
import type { Db, DbOrTx } from '../../db/index.js'
import { exitReviews, householdStatusChanges, households, members, regions } from '../../db/schema/index.js'
import { escapeLike } from '../../shared/ids.js'
import type { IdRange } from '../../shared/pagination.js'
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

/**
 * What a household read selects: the household's columns (their keys; all when absent —
 * a row then holds only those) and the related reads of the same statement, under the
 * caller's area or the statement's `AREA` parameter. `shape` names the combination: reads
 * of the same shape share one statement.
 */
export interface Read<R extends Related> {
  shape: string
  columns?: readonly string[]
  related: (area: Principal | typeof AREA) => R
}

type Statement = { execute: (values: Record<string, unknown>) => Promise<unknown[]> }
/** Statements built per database and shape (see `statement`). */
const statements = new WeakMap<Db, Map<string, Statement>>()
let statementCount = 0
/** Shapes kept per database; a read of yet another shape is built for its request alone. */
const MAX_SHAPES = 64

/**
 * The statement of `key` on `db`, built by `build` (with `sql.placeholder`s for the
 * values of a request) once and kept — or, once MAX_SHAPES are kept, built for this
 * request alone. A `named` statement is prepared: PostgreSQL parses and plans it once per
 * connection. An unnamed one is planned by PostgreSQL for each request's values.
 */
function statement (db: Db, key: string, named: boolean, build: () => { prepare: (name: string) => Statement }): Statement {
  let byKey = statements.get(db)
  if (byKey === undefined) statements.set(db, byKey = new Map())
  let found = byKey.get(key)
  if (found === undefined) {
    if (byKey.size >= MAX_SHAPES) return build().prepare('')
    byKey.set(key, found = build().prepare(named ? `household_read_${++statementCount}` : ''))
  }
  return found
}

/**
 * One household by id in the caller's area, with the read's columns and related reads:
 * a named prepared statement per shape (a primary-key lookup, whatever the area).
 */
export async function findById<R extends Related> (db: Db, p: Principal, id: string, read: Read<R>): Promise<HouseholdRowWith<R> | undefined> {
  const [row] = await statement(db, `id ${read.shape}`, true, () =>
    db.select({ ...columnsOf(households, read.columns), ...read.related(AREA) }).from(households)
      .where(and(eq(households.id, sql.placeholder('id')), inArea(households.regionCode, AREA)))
  ).execute({ id, area: areaPattern(p) })
  return row as HouseholdRowWith<R> | undefined
}

export async function findByIds (db: DbOrTx, p: Principal, ids: readonly string[]): Promise<HouseholdRow[]> {
  if (ids.length === 0) return []
  return await db.select().from(households).where(and(inArray(households.id, [...ids]), inArea(households.regionCode, p)))
}

/** The values of a query's filters and the caller's area, by the name of their placeholder in `where`; only the filters given. */
function filterValues (p: Principal, q: HouseholdQuery): Record<string, unknown> {
  const values: Record<string, unknown> = { area: areaPattern(p), region: `${q.regionCode}%` }
  for (const key of ['status', 'attribute', 'mainCause'] as const) if (q[key] != null) values[key] = q[key]
  if (q.nameContains != null && q.nameContains !== '') values.nameContains = `%${escapeLike(q.nameContains)}%`
  return values
}

/** The conditions of the filters in `values` (see filterValues), each value a placeholder; `afterId`, `beforeId` the keyset bounds. */
function where (values: Record<string, unknown>): SQL | undefined {
  const given = (key: string): boolean => key in values
  return and(
    inArea(households.regionCode, AREA),
    like(households.regionCode, sql.placeholder('region')),
    given('status') ? eq(households.status, sql.placeholder('status')) : undefined,
    given('attribute') ? eq(households.attribute, sql.placeholder('attribute')) : undefined,
    given('mainCause') ? eq(households.mainCause, sql.placeholder('mainCause')) : undefined,
    given('nameContains')
      ? sql`EXISTS (SELECT 1 FROM ${members} m WHERE m.household_id = ${households.id} AND m.active AND m.name LIKE ${sql.placeholder('nameContains')})`
      : undefined,
    given('afterId') ? gt(households.id, sql.placeholder('afterId')) : undefined,
    given('beforeId') ? lt(households.id, sql.placeholder('beforeId')) : undefined
  )
}

/**
 * A page ordered by id within the keyset bounds of `range` (descending ids when it goes
 * backward): an unnamed statement per shape, direction and set of filters given, planned
 * by PostgreSQL for each request's values (a generic plan would walk the primary key for
 * a village, where the plan for its values uses the `(region_code, id)` index).
 *
 * A township or a village is read village by village: the first `limit` ids of each of
 * its villages from the `(region_code, id)` index, in order, then the first `limit` of
 * those — a cost bounded by its villages, not by its households. Read as one range of
 * that index, a township's households would all be read and sorted for every page: the
 * page grew with the registry (docs/benchmarks.md, "Scale"). A county or a city keeps the
 * plain statement: PostgreSQL walks the primary key and skips other regions' households,
 * about `limit` × (all households ÷ the region's) rows, whatever the registry's size.
 */
export async function list<R extends Related> (db: Db, p: Principal, q: HouseholdQuery, range: IdRange, limit: number, read: Read<R>): Promise<Array<HouseholdRowWith<R>>> {
  const values = {
    ...filterValues(p, q),
    ...(range.afterId !== null ? { afterId: range.afterId } : {}),
    ...(range.beforeId !== null ? { beforeId: range.beforeId } : {}),
    limit
  }
  const byVillage = q.regionCode.length >= 9
  const order = range.backward ? desc(households.id) : asc(households.id)
  return await statement(db, `list ${Object.keys(values).join()} ${range.backward ? 'desc' : 'asc'}${byVillage ? ' by village' : ''} ${read.shape}`, false, () => {
    const page = db.select({ ...columnsOf(households, read.columns), ...read.related(AREA) }).from(households)
    if (!byVillage) return page.where(where(values)).orderBy(order).limit(sql.placeholder('limit'))
    // Inside the lateral subquery "households" is that subquery's own (the nearest FROM).
    const dir = range.backward ? sql`DESC` : sql`ASC`
    const ids = sql`SELECT x.id FROM ${regions} v CROSS JOIN LATERAL (
        SELECT ${households.id} AS id FROM ${households} WHERE ${households.regionCode} = v.code AND ${where(values)}
        ORDER BY ${households.id} ${dir} LIMIT ${sql.placeholder('limit')}) x
      WHERE v.level = 'VILLAGE' AND v.code LIKE ${sql.placeholder('region')} ORDER BY x.id ${dir} LIMIT ${sql.placeholder('limit')}`
    return page.where(and(inArea(households.regionCode, AREA), sql`${households.id} IN (${ids})`)).orderBy(order).limit(sql.placeholder('limit'))
  }).execute(values) as Array<HouseholdRowWith<R>>
}

export async function countMatching (db: Db, p: Principal, q: HouseholdQuery): Promise<number> {
  const values = filterValues(p, q)
  const [row] = await statement(db, `count ${Object.keys(values).join()}`, false, () =>
    db.select({ n: count() }).from(households).where(where(values))
  ).execute(values) as Array<{ n: number }>
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

/**
 * Unscoped on purpose: household numbers are unique across all areas. The region of the
 * household holding the number, or null when it is free (for the service to decide what
 * the caller may be told, never to show it).
 */
export async function householdNoRegion (db: DbOrTx, householdNo: string): Promise<string | null> {
  const rows = await db.select({ regionCode: households.regionCode }).from(households).where(eq(households.householdNo, householdNo)).limit(1)
  return rows[0]?.regionCode ?? null
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
