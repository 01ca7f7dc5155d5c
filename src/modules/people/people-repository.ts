import { and, asc, desc, eq, inArray, isNull, like, or, sql, type SQL } from 'drizzle-orm'
import { queryRows, type DbOrTx } from '../../db/index.js'
import { jsonRows, jsonRowsDecoder } from '../../db/json-rows.js'
import { idBounds, idOrder } from '../../db/keyset.js'
import { helperAssignments, helpers, households, visits, workTeamMembers, workTeams } from '../../db/schema/index.js'
import { escapeLike } from '../../shared/ids.js'
import type { IdRange } from '../../shared/pagination.js'
import { AREA, inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'

export type TeamRow = typeof workTeams.$inferSelect
export type TeamInsert = typeof workTeams.$inferInsert
export type TeamMemberRow = typeof workTeamMembers.$inferSelect
export type TeamMemberInsert = typeof workTeamMembers.$inferInsert
export type HelperRow = typeof helpers.$inferSelect
export type HelperInsert = typeof helpers.$inferInsert
export type AssignmentRow = typeof helperAssignments.$inferSelect
export type AssignmentInsert = typeof helperAssignments.$inferInsert
export type VisitRow = typeof visits.$inferSelect
export type VisitInsert = typeof visits.$inferInsert

// Every function takes the principal and ANDs its area into the query.

// ── Work teams ───────────────────────────────────────────────────────────────

export interface TeamQuery { regionCode: string, serving?: boolean | null }

const teamWhere = (p: Principal, q: TeamQuery): SQL | undefined => and(
  inArea(workTeams.regionCode, p),
  like(workTeams.regionCode, `${q.regionCode}%`),
  q.serving === true ? isNull(workTeams.endedOn) : q.serving === false ? sql`${workTeams.endedOn} IS NOT NULL` : undefined
)

export async function listTeams (db: DbOrTx, p: Principal, q: TeamQuery, range: IdRange, limit: number): Promise<TeamRow[]> {
  return await db.select().from(workTeams).where(and(teamWhere(p, q), idBounds(workTeams.id, range))).orderBy(idOrder(workTeams.id, range)).limit(limit)
}

export async function countTeams (db: DbOrTx, p: Principal, q: TeamQuery): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(workTeams).where(teamWhere(p, q))
  return row?.n ?? 0
}

export async function findTeams (db: DbOrTx, p: Principal, ids: readonly string[]): Promise<TeamRow[]> {
  if (ids.length === 0) return []
  return await db.select().from(workTeams).where(and(inArray(workTeams.id, [...ids]), inArea(workTeams.regionCode, p)))
}

/** The team in area, locked for the rest of the transaction. */
export async function lockTeam (tx: DbOrTx, p: Principal, id: string): Promise<TeamRow | null> {
  const [row] = await tx.select().from(workTeams).where(and(eq(workTeams.id, id), inArea(workTeams.regionCode, p))).for('update')
  return row ?? null
}

export async function insertTeam (tx: DbOrTx, row: TeamInsert): Promise<TeamRow> {
  const [created] = await tx.insert(workTeams).values(row).returning()
  return created!
}

export async function updateTeam (tx: DbOrTx, p: Principal, id: string, expectedVersion: number, changes: Partial<Pick<TeamRow, 'sendingUnit' | 'startedOn' | 'endedOn'>>, now: Date): Promise<TeamRow | null> {
  const [row] = await tx.update(workTeams).set({ ...changes, version: sql`${workTeams.version} + 1`, updatedAt: now })
    .where(and(eq(workTeams.id, id), inArea(workTeams.regionCode, p), eq(workTeams.version, expectedVersion))).returning()
  return row ?? null
}

/** Members of the teams (only those still serving unless `includeLeft`): first secretary, leader, members, then by joining date. */
export async function membersOfTeams (db: DbOrTx, p: Principal, teamIds: readonly string[], includeLeft: boolean): Promise<TeamMemberRow[]> {
  if (teamIds.length === 0) return []
  return await db.select().from(workTeamMembers)
    .where(and(inArray(workTeamMembers.teamId, [...teamIds]), inArea(workTeamMembers.regionCode, p), includeLeft ? undefined : isNull(workTeamMembers.leftOn)))
    .orderBy(sql`CASE ${workTeamMembers.role} WHEN 'FIRST_SECRETARY' THEN 0 WHEN 'TEAM_LEADER' THEN 1 ELSE 2 END`, asc(workTeamMembers.joinedOn), asc(workTeamMembers.id))
}

export async function findTeamMember (db: DbOrTx, p: Principal, id: string): Promise<TeamMemberRow | null> {
  const [row] = await db.select().from(workTeamMembers).where(and(eq(workTeamMembers.id, id), inArea(workTeamMembers.regionCode, p)))
  return row ?? null
}

export async function insertTeamMembers (tx: DbOrTx, rows: TeamMemberInsert[]): Promise<TeamMemberRow[]> {
  return rows.length === 0 ? [] : await tx.insert(workTeamMembers).values(rows).returning()
}

/** Sets `leftOn` of a member still serving; the new row, or null (not found, or left already). */
export async function leaveTeam (tx: DbOrTx, p: Principal, id: string, leftOn: string, now: Date): Promise<TeamMemberRow | null> {
  const [row] = await tx.update(workTeamMembers).set({ leftOn, version: sql`${workTeamMembers.version} + 1`, updatedAt: now })
    .where(and(eq(workTeamMembers.id, id), inArea(workTeamMembers.regionCode, p), isNull(workTeamMembers.leftOn))).returning()
  return row ?? null
}

/** Every member of the team still serving leaves on `leftOn` (the team ends). */
export async function leaveTeamAll (tx: DbOrTx, p: Principal, teamId: string, leftOn: string, now: Date): Promise<TeamMemberRow[]> {
  return await tx.update(workTeamMembers).set({ leftOn, version: sql`${workTeamMembers.version} + 1`, updatedAt: now })
    .where(and(eq(workTeamMembers.teamId, teamId), inArea(workTeamMembers.regionCode, p), isNull(workTeamMembers.leftOn))).returning()
}

// ── Helpers ──────────────────────────────────────────────────────────────────

/**
 * A helper is visible to a user when its record is kept in the user's area, when it is
 * kept at a region above the user's (a county's or township's helpers, whom the officers
 * below assign), or when it is assigned to a household in the user's area.
 */
export function helperVisible (p: Principal | typeof AREA, userRegion: string | SQL): SQL {
  return or(
    inArea(helpers.regionCode, p),
    sql`${userRegion} LIKE ${helpers.regionCode} || '%'`,
    sql`EXISTS (SELECT 1 FROM ${helperAssignments} a WHERE a.helper_id = ${helpers.id} AND ${inArea(sql`a.region_code`, p)})`
  )!
}

export interface HelperQuery { regionCode: string, nameContains?: string | null }

/** The helpers listed for a region: those kept in it or above it (down to the county), visible to the user. */
const helperWhere = (p: Principal, q: HelperQuery): SQL | undefined => and(
  helperVisible(p, p.regionCode),
  or(like(helpers.regionCode, `${q.regionCode}%`), sql`${q.regionCode} LIKE ${helpers.regionCode} || '%'`),
  q.nameContains != null && q.nameContains !== '' ? like(helpers.name, `%${escapeLike(q.nameContains)}%`) : undefined
)

export async function listHelpers (db: DbOrTx, p: Principal, q: HelperQuery, range: IdRange, limit: number): Promise<HelperRow[]> {
  return await db.select().from(helpers).where(and(helperWhere(p, q), idBounds(helpers.id, range))).orderBy(idOrder(helpers.id, range)).limit(limit)
}

export async function countHelpers (db: DbOrTx, p: Principal, q: HelperQuery): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(helpers).where(helperWhere(p, q))
  return row?.n ?? 0
}

export async function findHelpers (db: DbOrTx, p: Principal, ids: readonly string[]): Promise<HelperRow[]> {
  if (ids.length === 0) return []
  return await db.select().from(helpers).where(and(inArray(helpers.id, [...ids]), helperVisible(p, p.regionCode)))
}

/**
 * The oldest helper visible to the user, kept in `county`, with exactly this name, unit
 * and phone (how HelperInput reuses a record).
 */
export async function findSameHelper (db: DbOrTx, p: Principal, county: string, h: { name: string, unit: string | null, phone: string | null }): Promise<HelperRow | null> {
  const [row] = await db.select().from(helpers).where(and(
    helperVisible(p, p.regionCode), like(helpers.regionCode, `${county}%`), eq(helpers.name, h.name),
    h.unit === null ? isNull(helpers.unit) : eq(helpers.unit, h.unit),
    h.phone === null ? isNull(helpers.phone) : eq(helpers.phone, h.phone)
  )).orderBy(asc(helpers.createdAt), asc(helpers.id)).limit(1)
  return row ?? null
}

export async function insertHelper (tx: DbOrTx, row: HelperInsert): Promise<HelperRow> {
  const [created] = await tx.insert(helpers).values(row).returning()
  return created!
}

/** Changes a helper kept in the user's area (not one merely visible). */
export async function updateHelper (tx: DbOrTx, p: Principal, id: string, expectedVersion: number, changes: Partial<Pick<HelperRow, 'name' | 'unit' | 'phone' | 'homeRegionCode'>>, now: Date): Promise<HelperRow | null> {
  const [row] = await tx.update(helpers).set({ ...changes, version: sql`${helpers.version} + 1`, updatedAt: now })
    .where(and(eq(helpers.id, id), inArea(helpers.regionCode, p), eq(helpers.version, expectedVersion))).returning()
  return row ?? null
}

/** The current helper of the household read by the outer statement, as its subquery (see jsonRows): one row or none. */
export const currentHelperOfHousehold = (): SQL<unknown[][]> =>
  jsonRows(helpers, sql`${helpers.id} = (SELECT a.helper_id FROM ${helperAssignments} a WHERE a.household_id = ${households.id} AND a.ended_on IS NULL)`, [asc(helpers.id)])
export const helpersFromJsonRows = jsonRowsDecoder(helpers)

// ── Assignments ──────────────────────────────────────────────────────────────

export async function assignmentsOfHouseholds (db: DbOrTx, p: Principal, householdIds: readonly string[]): Promise<AssignmentRow[]> {
  if (householdIds.length === 0) return []
  return await db.select().from(helperAssignments)
    .where(and(inArray(helperAssignments.householdId, [...householdIds]), inArea(helperAssignments.regionCode, p)))
    .orderBy(desc(helperAssignments.startedOn), desc(helperAssignments.createdAt))
}

/** The assignments of the helpers to households in the user's area, newest first. */
export async function assignmentsOfHelpers (db: DbOrTx, p: Principal, helperIds: readonly string[]): Promise<AssignmentRow[]> {
  if (helperIds.length === 0) return []
  return await db.select().from(helperAssignments)
    .where(and(inArray(helperAssignments.helperId, [...helperIds]), inArea(helperAssignments.regionCode, p)))
    .orderBy(desc(helperAssignments.startedOn), desc(helperAssignments.createdAt))
}

export async function findAssignment (db: DbOrTx, p: Principal, id: string): Promise<AssignmentRow | null> {
  const [row] = await db.select().from(helperAssignments).where(and(eq(helperAssignments.id, id), inArea(helperAssignments.regionCode, p)))
  return row ?? null
}

/** The household's current assignment (no end date), if any. */
export async function currentAssignment (db: DbOrTx, p: Principal, householdId: string): Promise<AssignmentRow | null> {
  const [row] = await db.select().from(helperAssignments)
    .where(and(eq(helperAssignments.householdId, householdId), inArea(helperAssignments.regionCode, p), isNull(helperAssignments.endedOn)))
  return row ?? null
}

export async function insertAssignment (tx: DbOrTx, row: AssignmentInsert): Promise<AssignmentRow> {
  const [created] = await tx.insert(helperAssignments).values(row).returning()
  return created!
}

/** Ends an assignment still current; the new row, or null. */
export async function endAssignment (tx: DbOrTx, p: Principal, id: string, endedOn: string, now: Date): Promise<AssignmentRow | null> {
  const [row] = await tx.update(helperAssignments).set({ endedOn, version: sql`${helperAssignments.version} + 1`, updatedAt: now })
    .where(and(eq(helperAssignments.id, id), inArea(helperAssignments.regionCode, p), isNull(helperAssignments.endedOn))).returning()
  return row ?? null
}

/** Whether the helper was assigned to the household on `day` (its assignment began on or before it and had not ended before it). */
export async function wasAssigned (db: DbOrTx, p: Principal, helperId: string, householdId: string, day: string): Promise<boolean> {
  const rows = await db.select({ id: helperAssignments.id }).from(helperAssignments).where(and(
    eq(helperAssignments.helperId, helperId), eq(helperAssignments.householdId, householdId), inArea(helperAssignments.regionCode, p),
    sql`${helperAssignments.startedOn} <= ${day}`, or(isNull(helperAssignments.endedOn), sql`${helperAssignments.endedOn} >= ${day}`)
  )).limit(1)
  return rows.length > 0
}

// ── Visits ───────────────────────────────────────────────────────────────────

const visitOrder = [desc(visits.visitedOn), desc(visits.createdAt), desc(visits.id)]

export async function visitsOfHouseholds (db: DbOrTx, p: Principal, householdIds: readonly string[]): Promise<VisitRow[]> {
  if (householdIds.length === 0) return []
  return await db.select().from(visits).where(and(inArray(visits.householdId, [...householdIds]), inArea(visits.regionCode, p))).orderBy(...visitOrder)
}

/** The helpers' visits to households in the user's area, newest first. */
export async function visitsOfHelpers (db: DbOrTx, p: Principal, helperIds: readonly string[]): Promise<VisitRow[]> {
  if (helperIds.length === 0) return []
  return await db.select().from(visits).where(and(inArray(visits.helperId, [...helperIds]), inArea(visits.regionCode, p))).orderBy(...visitOrder)
}

export async function insertVisit (tx: DbOrTx, row: VisitInsert): Promise<VisitRow> {
  const [created] = await tx.insert(visits).values(row).returning()
  return created!
}

// ── Households not visited ───────────────────────────────────────────────────

export interface UnvisitedQuery { regionCode: string, since: string }

/** POOR and RETURNED households of the region with no visit after `since`. */
const unvisitedWhere = (p: Principal, q: UnvisitedQuery): SQL | undefined => and(
  inArea(households.regionCode, p),
  like(households.regionCode, `${q.regionCode}%`),
  inArray(households.status, ['POOR', 'RETURNED']),
  sql`NOT EXISTS (SELECT 1 FROM ${visits} v WHERE v.household_id = ${households.id} AND v.visited_on > ${q.since})`
)

export type UnvisitedRow = typeof households.$inferSelect & { lastVisitedOn: string | null }

export async function listUnvisited (db: DbOrTx, p: Principal, q: UnvisitedQuery, range: IdRange, limit: number): Promise<UnvisitedRow[]> {
  const rows = await db.select({
    household: households,
    lastVisitedOn: sql<string | null>`(SELECT max(v.visited_on)::text FROM ${visits} v WHERE v.household_id = "households"."id")`
  }).from(households).where(and(unvisitedWhere(p, q), idBounds(households.id, range))).orderBy(idOrder(households.id, range)).limit(limit)
  return rows.map(r => ({ ...r.household, lastVisitedOn: r.lastVisitedOn }))
}

export async function countUnvisited (db: DbOrTx, p: Principal, q: UnvisitedQuery): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(households).where(unvisitedWhere(p, q))
  return row?.n ?? 0
}

// ── Coverage (statistics) ────────────────────────────────────────────────────

export interface CoverageRow { code: string, poorVillages: number, poorVillagesWithTeam: number, poorHouseholds: number, poorHouseholdsWithHelper: number, notVisited: number }

/**
 * The people-sent coverage of each region, in one statement: villages flagged poor and
 * those with a serving team; POOR/RETURNED households, those with a current helper, and
 * those with no visit after `since`. Only records in the user's area count.
 */
export async function coverage (db: DbOrTx, p: Principal, within: string, codes: readonly string[], since: string): Promise<CoverageRow[]> {
  if (codes.length === 0) return []
  const area = `${p.regionCode}%`
  const region = `${within}%`
  const list = sql.join(codes.map(c => sql`(${c}::text)`), sql`, `)
  const rows = await queryRows<Record<string, unknown>>(db, sql`
    WITH asked(code) AS (VALUES ${list}),
    v AS (
      SELECT r.code, EXISTS (SELECT 1 FROM work_teams t WHERE t.region_code = r.code AND t.ended_on IS NULL) AS has_team
      FROM regions r WHERE r.level = 'VILLAGE' AND r.is_poor AND r.code LIKE ${area} AND r.code LIKE ${region}
    ),
    h AS (
      SELECT hh.region_code,
        EXISTS (SELECT 1 FROM helper_assignments a WHERE a.household_id = hh.id AND a.ended_on IS NULL) AS has_helper,
        NOT EXISTS (SELECT 1 FROM visits x WHERE x.household_id = hh.id AND x.visited_on > ${since}) AS not_visited
      FROM households hh WHERE hh.status IN ('POOR', 'RETURNED') AND hh.region_code LIKE ${area} AND hh.region_code LIKE ${region}
    )
    SELECT asked.code,
      (SELECT count(*) FROM v WHERE v.code LIKE asked.code || '%')::int AS poor_villages,
      (SELECT count(*) FROM v WHERE v.code LIKE asked.code || '%' AND v.has_team)::int AS poor_villages_with_team,
      (SELECT count(*) FROM h WHERE h.region_code LIKE asked.code || '%')::int AS poor_households,
      (SELECT count(*) FROM h WHERE h.region_code LIKE asked.code || '%' AND h.has_helper)::int AS poor_households_with_helper,
      (SELECT count(*) FROM h WHERE h.region_code LIKE asked.code || '%' AND h.not_visited)::int AS not_visited
    FROM asked`)
  return rows.map(r => ({
    code: String(r.code),
    poorVillages: Number(r.poor_villages),
    poorVillagesWithTeam: Number(r.poor_villages_with_team),
    poorHouseholds: Number(r.poor_households),
    poorHouseholdsWithHelper: Number(r.poor_households_with_helper),
    notVisited: Number(r.not_visited)
  }))
}
