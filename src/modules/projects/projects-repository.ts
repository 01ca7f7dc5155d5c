import { and, asc, eq, inArray, like, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../db/index.js'
import { idBounds, idOrder } from '../../db/keyset.js'
import { fundAllocations, fundPayments, households as householdsTable, projectBeneficiaries, projects } from '../../db/schema/index.js'
import { escapeLike } from '../../shared/ids.js'
import type { IdRange } from '../../shared/pagination.js'
import { inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'

export type ProjectRow = typeof projects.$inferSelect
export type ProjectInsert = typeof projects.$inferInsert
export type ProjectChanges = Partial<Pick<ProjectInsert, 'status' | 'actualStart' | 'actualEnd' | 'approvedAt' | 'approvedBy'>>
export type AllocationRow = typeof fundAllocations.$inferSelect
export type AllocationInsert = typeof fundAllocations.$inferInsert
export type PaymentRow = typeof fundPayments.$inferSelect
export type PaymentInsert = typeof fundPayments.$inferInsert
export type BeneficiaryRow = typeof projectBeneficiaries.$inferSelect
export type BeneficiaryInsert = typeof projectBeneficiaries.$inferInsert

export interface ProjectQuery {
  regionCode: string
  status?: string | null
  category?: string | null
}

// Every function takes the principal (or a project already found in its area) and ANDs its area into the query.

export async function findByIds (db: DbOrTx, p: Principal, ids: readonly string[]): Promise<ProjectRow[]> {
  if (ids.length === 0) return []
  return await db.select().from(projects).where(and(inArray(projects.id, [...ids]), inArea(projects.regionCode, p)))
}

/**
 * The project in the caller's area, its row locked until the transaction ends: payments,
 * allocations and status changes of one project run one after another, so each sees the
 * sums and the status the previous one left.
 */
export async function lock (tx: DbOrTx, p: Principal, id: string): Promise<ProjectRow | null> {
  const [row] = await tx.select().from(projects).where(and(eq(projects.id, id), inArea(projects.regionCode, p))).for('update')
  return row ?? null
}

function where (p: Principal, q: ProjectQuery): SQL | undefined {
  return and(
    inArea(projects.regionCode, p),
    like(projects.regionCode, `${q.regionCode}%`),
    q.status != null ? eq(projects.status, q.status) : undefined,
    q.category != null ? eq(projects.category, q.category) : undefined
  )
}

/** A page of projects ordered by id within the keyset bounds of `range` (descending when backward). */
export async function list (db: DbOrTx, p: Principal, q: ProjectQuery, range: IdRange, limit: number): Promise<ProjectRow[]> {
  return await db.select().from(projects)
    .where(and(where(p, q), idBounds(projects.id, range)))
    .orderBy(idOrder(projects.id, range)).limit(limit)
}

export async function countMatching (db: DbOrTx, p: Principal, q: ProjectQuery): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(projects).where(where(p, q))
  return row?.n ?? 0
}

/** The highest sequence number among the codes `<prefix>NNNN` (0 when none). */
export async function lastSequence (tx: DbOrTx, prefix: string): Promise<number> {
  const [row] = await tx.select({ n: sql<number>`coalesce(max(substring(${projects.code} from ${prefix.length + 1}::int)::int), 0)::int` })
    .from(projects)
    .where(sql`${projects.code} LIKE ${escapeLike(prefix) + '%'} AND substring(${projects.code} from ${prefix.length + 1}::int) ~ '^[0-9]{4,9}$'`)
  return row?.n ?? 0
}

export async function codeExists (tx: DbOrTx, code: string): Promise<boolean> {
  const [row] = await tx.select({ id: projects.id }).from(projects).where(eq(projects.code, code))
  return row !== undefined
}

export async function insert (tx: DbOrTx, row: ProjectInsert): Promise<ProjectRow> {
  const [created] = await tx.insert(projects).values(row).returning()
  return created!
}

/** Changes the project if it is still at `expectedVersion` (null when it is not, or not in area). */
export async function update (tx: DbOrTx, p: Principal, id: string, expectedVersion: number, changes: ProjectChanges, now: Date): Promise<ProjectRow | null> {
  const [row] = await tx.update(projects)
    .set({ ...changes, version: sql`${projects.version} + 1`, updatedAt: now })
    .where(and(eq(projects.id, id), inArea(projects.regionCode, p), eq(projects.version, expectedVersion)))
    .returning()
  return row ?? null
}

/** Adds to the project's allocated or paid sum (the row is locked by the caller). */
export async function addToSum (tx: DbOrTx, id: string, column: 'allocated' | 'paid', amount: number, now: Date): Promise<ProjectRow> {
  const target = projects[column]
  const [row] = await tx.update(projects)
    .set({ [column]: sql`${target} + ${amount}::numeric`, updatedAt: now })
    .where(eq(projects.id, id))
    .returning()
  return row!
}

// Beneficiaries.

/** The households' ids, regions and statuses, in the caller's area. */
export async function households (db: DbOrTx, p: Principal, ids: readonly string[]): Promise<Array<{ id: string, regionCode: string, status: string }>> {
  if (ids.length === 0) return []
  return await db.select({ id: householdsTable.id, regionCode: householdsTable.regionCode, status: householdsTable.status }).from(householdsTable)
    .where(and(inArray(householdsTable.id, [...ids]), inArea(householdsTable.regionCode, p)))
}

export async function beneficiariesOf (db: DbOrTx, p: Principal, projectIds: readonly string[]): Promise<BeneficiaryRow[]> {
  if (projectIds.length === 0) return []
  return await db.select().from(projectBeneficiaries)
    .where(and(inArray(projectBeneficiaries.projectId, [...projectIds]), inArea(projectBeneficiaries.regionCode, p)))
    .orderBy(asc(projectBeneficiaries.createdAt), asc(projectBeneficiaries.householdId))
}

export async function findBeneficiary (tx: DbOrTx, projectId: string, householdId: string): Promise<BeneficiaryRow | null> {
  const [row] = await tx.select().from(projectBeneficiaries)
    .where(and(eq(projectBeneficiaries.projectId, projectId), eq(projectBeneficiaries.householdId, householdId)))
  return row ?? null
}

/** Links the households; those already linked keep their link (and take `measureId` when given). Returns the links made or changed. */
export async function link (tx: DbOrTx, rows: BeneficiaryInsert[]): Promise<BeneficiaryRow[]> {
  if (rows.length === 0) return []
  return await tx.insert(projectBeneficiaries).values(rows)
    .onConflictDoUpdate({
      target: [projectBeneficiaries.projectId, projectBeneficiaries.householdId],
      set: { measureId: sql`coalesce(excluded.measure_id, ${projectBeneficiaries.measureId})` },
      setWhere: sql`excluded.measure_id IS NOT NULL AND excluded.measure_id IS DISTINCT FROM ${projectBeneficiaries.measureId}`
    })
    .returning()
}

// Allocations.

export async function allocationsOf (db: DbOrTx, p: Principal, projectIds: readonly string[]): Promise<AllocationRow[]> {
  if (projectIds.length === 0) return []
  return await db.select().from(fundAllocations)
    .where(and(inArray(fundAllocations.projectId, [...projectIds]), inArea(fundAllocations.regionCode, p)))
    .orderBy(asc(fundAllocations.date), asc(fundAllocations.createdAt), asc(fundAllocations.id))
}

export async function insertAllocation (tx: DbOrTx, row: AllocationInsert): Promise<AllocationRow> {
  const [created] = await tx.insert(fundAllocations).values(row).returning()
  return created!
}

// Payments.

export async function paymentsOf (db: DbOrTx, p: Principal, projectIds: readonly string[]): Promise<PaymentRow[]> {
  if (projectIds.length === 0) return []
  return await db.select().from(fundPayments)
    .where(and(inArray(fundPayments.projectId, [...projectIds]), inArea(fundPayments.regionCode, p)))
    .orderBy(asc(fundPayments.date), asc(fundPayments.createdAt), asc(fundPayments.id))
}

export async function findPaymentByReference (tx: DbOrTx, projectId: string, reference: string): Promise<PaymentRow | null> {
  const [row] = await tx.select().from(fundPayments).where(and(eq(fundPayments.projectId, projectId), eq(fundPayments.reference, reference)))
  return row ?? null
}

export async function insertPayment (tx: DbOrTx, row: PaymentInsert): Promise<PaymentRow> {
  const [created] = await tx.insert(fundPayments).values(row).returning()
  return created!
}

// Fund figures (docs/projects-funds.md, "Statistics").

export interface FundFigureRow {
  code: string
  year: number
  total: number
  planned: number
  approved: number
  in_progress: number
  completed: number
  cancelled: number
  budget: string | number
  allocated: string | number
  paid: string | number
  beneficiary_households: number
  paid_households: number
}

export interface SourceFigureRow { code: string, year: number, source: string, amount: string | number }

/**
 * The projects of each region in `codes` (its own and those below it) and each year in
 * `years` (0: every year; else the year of the planned start), within the caller's area.
 * Sums come from the projects' own allocated and paid columns; the by-source split from the
 * allocations themselves.
 */
export async function fundFigures (db: DbOrTx, p: Principal, codes: readonly string[], years: readonly number[]): Promise<{ totals: FundFigureRow[], sources: SourceFigureRow[] }> {
  const scope = sql`SELECT s.code, y.year, pr.id, pr.status, pr.budget, pr.allocated, pr.paid FROM unnest(string_to_array(${codes.join(',')}, ',')) AS s(code)
    CROSS JOIN unnest(string_to_array(${years.join(',')}, ',')::int[]) AS y(year)
    JOIN projects pr ON pr.region_code LIKE s.code || '%' AND ${inArea(sql`pr.region_code`, p)}
      AND (y.year = 0 OR extract(year FROM pr.planned_start)::int = y.year)`
  const totals = await db.execute(sql`WITH p AS (${scope})
    SELECT p.code, p.year, count(*)::int AS total,
      count(*) FILTER (WHERE p.status = 'PLANNED')::int AS planned,
      count(*) FILTER (WHERE p.status = 'APPROVED')::int AS approved,
      count(*) FILTER (WHERE p.status = 'IN_PROGRESS')::int AS in_progress,
      count(*) FILTER (WHERE p.status = 'COMPLETED')::int AS completed,
      count(*) FILTER (WHERE p.status = 'CANCELLED')::int AS cancelled,
      sum(p.budget)::text AS budget, sum(p.allocated)::text AS allocated, sum(p.paid)::text AS paid,
      (SELECT count(DISTINCT b.household_id)::int FROM project_beneficiaries b JOIN p q ON q.id = b.project_id WHERE q.code = p.code AND q.year = p.year) AS beneficiary_households,
      (SELECT count(DISTINCT f.household_id)::int FROM fund_payments f JOIN p q ON q.id = f.project_id WHERE q.code = p.code AND q.year = p.year) AS paid_households
    FROM p GROUP BY p.code, p.year`) as unknown as { rows: FundFigureRow[] }
  const sources = await db.execute(sql`WITH p AS (${scope})
    SELECT p.code, p.year, a.source, sum(a.amount)::text AS amount
    FROM p JOIN fund_allocations a ON a.project_id = p.id
    GROUP BY p.code, p.year, a.source`) as unknown as { rows: SourceFigureRow[] }
  return { totals: totals.rows, sources: sources.rows }
}
