import { and, asc, eq, inArray, is, isNull, sql, type SQL } from 'drizzle-orm'
import { PgTransaction } from 'drizzle-orm/pg-core'
import { entryOfUpdatedRow, entryParams } from '../audit/audit-repository.js'
import type { Db, DbOrTx } from '../../db/index.js'
import { jsonRows, jsonRowsDecoder } from '../../db/json-rows.js'
import { households, members } from '../../db/schema/index.js'
import { AREA, areaPattern, inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'

export type MemberRow = typeof members.$inferSelect
export type MemberInsert = typeof members.$inferInsert
export type MemberChanges = Partial<Omit<MemberInsert, 'id' | 'householdId' | 'regionCode' | 'nationalIdSealed' | 'nationalIdHash' | 'sex' | 'birthDate' | 'version' | 'createdAt'>>

export async function findByIds (db: DbOrTx, p: Principal, ids: readonly string[]): Promise<MemberRow[]> {
  if (ids.length === 0) return []
  return await db.select().from(members).where(and(inArray(members.id, [...ids]), inArea(members.regionCode, p)))
}

/**
 * One member by id in the caller's area: a named prepared statement per database (the
 * read before every member write; PostgreSQL parses and plans it once per connection, and
 * drizzle builds it once).
 */
export async function findById (db: Db, p: Principal, id: string): Promise<MemberRow | null> {
  let statement = byId.get(db)
  if (statement === undefined) byId.set(db, statement = prepareById(db))
  const [row] = await statement.execute({ id, area: areaPattern(p) })
  return row ?? null
}
/** The same, inside a transaction, locking the row until it ends (a write that must not lose a race). */
export async function findLocked (tx: DbOrTx, p: Principal, id: string): Promise<MemberRow | null> {
  const [row] = await tx.select().from(members).where(and(eq(members.id, id), inArea(members.regionCode, p))).for('update')
  return row ?? null
}
const prepareById = (db: Db) => db.select().from(members).where(and(eq(members.id, sql.placeholder('id')), inArea(members.regionCode, AREA))).prepare('member_by_id')
const byId = new WeakMap<Db, ReturnType<typeof prepareById>>()

const visible = (p: Principal | typeof AREA, includeRemoved: boolean): SQL | undefined => and(inArea(members.regionCode, p), includeRemoved ? undefined : eq(members.active, true))
/** The head first, then by age (eldest first). */
const order = [sql`${members.relation} <> 'HEAD'`, asc(members.birthDate), asc(members.id)]

/** Members of the households in order; only active ones unless `includeRemoved`. */
export async function byHouseholds (db: DbOrTx, p: Principal, householdIds: readonly string[], includeRemoved: boolean): Promise<MemberRow[]> {
  if (householdIds.length === 0) return []
  return await db.select().from(members)
    .where(and(inArray(members.householdId, [...householdIds]), visible(p, includeRemoved)))
    .orderBy(...order)
}

/** The same members of the household read by the outer statement, as its subquery (see jsonRows; only the columns `keys` when given). */
export const ofHousehold = (p: Principal | typeof AREA, includeRemoved: boolean, keys?: readonly string[]): SQL<unknown[][]> =>
  jsonRows(members, and(eq(members.householdId, households.id), visible(p, includeRemoved)), order, keys)
export const fromJsonRows = jsonRowsDecoder(members)

export async function findActiveByHash (db: DbOrTx, p: Principal, hash: string): Promise<MemberRow | null> {
  const [row] = await db.select().from(members)
    .where(and(eq(members.nationalIdHash, hash), eq(members.active, true), inArea(members.regionCode, p))).limit(1)
  return row ?? null
}

/**
 * Unscoped on purpose: a person may be an active member of one household only,
 * whichever area holds it. Answers which of the hashes are taken and the region of
 * each (for the service to decide what the caller may be told, never to show it).
 */
export async function activeHashesTaken (db: DbOrTx, hashes: readonly string[]): Promise<Map<string, string>> {
  if (hashes.length === 0) return new Map()
  const rows = await db.select({ hash: members.nationalIdHash, regionCode: members.regionCode }).from(members)
    .where(and(inArray(members.nationalIdHash, [...hashes]), eq(members.active, true)))
  return new Map(rows.map(r => [r.hash, r.regionCode]))
}

/** Living (not deceased) active members of a household. */
export async function countLiving (db: DbOrTx, householdId: string): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(members)
    .where(and(eq(members.householdId, householdId), eq(members.active, true), isNull(members.deceasedAt)))
  return row?.n ?? 0
}

export async function insert (tx: DbOrTx, rows: MemberInsert[]): Promise<MemberRow[]> {
  return rows.length === 0 ? [] : await tx.insert(members).values(rows).returning()
}

/** What `updateAudited` writes to the audit trail beside the change. */
export interface AuditedChange { actor: { sub: string, role: string }, action: string, before: unknown, after: unknown }

/**
 * Updates one member in the caller's area at `version` (the version the caller read, so
 * that the entry's `before` and `after` are exactly the row's) and writes the change's
 * audit entry, in one statement (a data-modifying CTE: atomic on its own, no transaction).
 * A member write is then two statements — the read, this — where a transaction took five
 * (BEGIN, UPDATE, the entry's INSERT, COMMIT). Prepared once per set of changed columns
 * (PostgreSQL parses and plans it once per connection; drizzle builds it once). Null when
 * no row matched: gone from the area, or changed since `version`.
 */
export async function updateAudited (db: DbOrTx, p: Principal, id: string, version: number, changes: MemberChanges, now: Date, change: AuditedChange): Promise<MemberRow | null> {
  const keys = Object.keys(changes).sort() as Array<keyof MemberChanges>
  const params = { ...changes, id, version, now, area: areaPattern(p), ...entryParams(change.actor, now, change.action, change.before, change.after) }
  // In a transaction (the locked retry, rare): built for this write alone.
  if (is(db, PgTransaction)) return (await prepareUpdate(db, keys, '').execute(params))[0] ?? null
  let statements = updates.get(db)
  if (statements === undefined) updates.set(db, statements = new Map())
  const shape = keys.join()
  let statement = statements.get(shape)
  if (statement === undefined) {
    // Patches name few of a member's columns, so few shapes; past 256 a shape's statement
    // is built for its request alone, unnamed (a name given twice to two texts would be
    // refused by a connection that prepared the first).
    const kept = statements.size < 256
    statement = prepareUpdate(db, keys, kept ? `member_update_${statements.size}` : '')
    if (kept) statements.set(shape, statement)
  }
  const [row] = await statement.execute(params)
  return row ?? null
}

function prepareUpdate (db: DbOrTx, keys: ReadonlyArray<keyof MemberChanges>, name: string) {
  const set = Object.fromEntries(keys.map(k => [k, sql.placeholder(k)])) as unknown as MemberChanges
  const updated = db.$with('u').as(db.update(members)
    .set({ ...set, version: sql`${members.version} + 1`, updatedAt: sql.placeholder('now') as unknown as Date })
    .where(and(eq(members.id, sql.placeholder('id')), inArea(members.regionCode, AREA), eq(members.version, sql.placeholder('version'))))
    .returning())
  const entry = db.$with('a', {}).as(entryOfUpdatedRow('Member'))
  return db.with(updated, entry).select().from(updated).prepare(name)
}
const updates = new WeakMap<Db, Map<string, ReturnType<typeof prepareUpdate>>>()

/** A closed household's members stay on record but are no longer active anywhere. */
export async function deactivateHousehold (tx: DbOrTx, p: Principal, householdId: string, now: Date): Promise<void> {
  await tx.update(members)
    .set({ active: false, version: sql`${members.version} + 1`, updatedAt: now })
    .where(and(eq(members.householdId, householdId), eq(members.active, true), inArea(members.regionCode, p)))
}
