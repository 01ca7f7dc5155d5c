import { and, asc, eq, inArray, sql, type SQL } from 'drizzle-orm'
import { queryRows, type DbOrTx } from '../../db/index.js'
import { planTargets } from '../../db/schema/index.js'
import { inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { fitValuesSql } from './cause-measure-fit.js'

/**
 * The statistics SQL (contract §7 and docs/statistics.md). Every figure is an
 * additive count or sum, aggregated in PostgreSQL with
 * `GROUP BY GROUPING SETS ((year, child), (year))`: one row per child region and
 * year, and the region's own total per year computed in the same pass. `child` is
 * the prefix of the region code one level down (the region itself for a village).
 * Nothing but these aggregated rows leaves the database. Every query ANDs the
 * caller's area besides the region asked for.
 */

/** One aggregated row; `child` null is the region's total. */
export interface FigureRow {
  year: number
  child: string | null
  [figure: string]: number | string | null
}

export interface Scope {
  /** The region asked for. */
  code: string
  /** Length of the child codes (the region's own length for a village). */
  childLength: number
  years: readonly number[]
}

const years = (s: Scope): SQL => sql.raw(`ARRAY[${s.years.map(y => String(Math.trunc(y))).join(',')}]::int[]`)
const child = (column: string, s: Scope): SQL => sql.raw(`substr(${column}, 1, ${Math.trunc(s.childLength)})`)
const where = (column: string, s: Scope, p: Principal): SQL => sql`${sql.raw(column)} LIKE ${s.code + '%'} AND ${inArea(sql.raw(column), p)}`

/** Households in the programme: current status poor, exited or returned. */
const REGISTERED = sql.raw("('POOR', 'RETURNED', 'EXITED')")
const dec31 = sql.raw('make_date(y.year, 12, 31)')
const jan1 = sql.raw('make_date(y.year, 1, 1)')

/** Household-level figures (status counts, persons, industry, cause match, relocation, rangers, microcredit). */
async function householdFigures (db: DbOrTx, p: Principal, s: Scope): Promise<FigureRow[]> {
  const runs = sql`me.start_date <= ${dec31} AND (me.end_date IS NULL OR me.end_date >= ${jan1})`
  // A microcredit loan is repaid on details.repaidOn, or (without it) on the end date of a COMPLETED measure.
  const outstanding = sql`me.category = 'FINANCE' AND me.kind = 'microcredit' AND me.start_date <= ${dec31}
    AND (coalesce((me.details->>'repaidOn')::date, CASE WHEN me.status = 'COMPLETED' THEN me.end_date END) IS NULL
      OR coalesce((me.details->>'repaidOn')::date, CASE WHEN me.status = 'COMPLETED' THEN me.end_date END) > ${dec31})`
  return await queryRows<FigureRow>(db, sql`
    WITH yrs AS (SELECT unnest(${years(s)}) AS year),
    fit (cause, category, kind) AS (VALUES ${fitValuesSql()}),
    mem AS (
      SELECT m.household_id,
        count(*) AS persons,
        count(*) FILTER (WHERE m.medical_insurance) AS insured,
        count(*) FILTER (WHERE m.schooling = 'DROPPED_OUT') AS dropouts,
        bool_or(m.labor_capacity IN ('SKILLED', 'ORDINARY', 'WEAK')) AS able
      FROM members m
      WHERE ${where('m.region_code', s, p)} AND m.active AND m.deceased_at IS NULL
      GROUP BY m.household_id
    ),
    hh AS (
      SELECT h.id, ${child('h.region_code', s)} AS child, h.status, h.exit_year, h.housing_safe,
        coalesce(mem.persons, 0) AS persons, coalesce(mem.insured, 0) AS insured, coalesce(mem.dropouts, 0) AS dropouts,
        h.status IN ${REGISTERED} AS registered,
        h.status IN ${REGISTERED} AND coalesce(mem.able, false) AS able
      FROM households h LEFT JOIN mem ON mem.household_id = h.id
      WHERE ${where('h.region_code', s, p)}
    ),
    reloc AS (
      SELECT me.household_id, min(coalesce(me.details->>'moveInDate', me.start_date::text)::date) AS moved_in
      FROM measures me
      WHERE ${where('me.region_code', s, p)} AND me.category = 'RELOCATION' AND me.status <> 'CANCELLED'
      GROUP BY me.household_id
    ),
    mz AS (
      SELECT me.household_id, y.year,
        count(*) FILTER (WHERE me.category = 'INDUSTRY' AND ${runs}) AS industry,
        count(*) FILTER (WHERE me.category = 'ECOLOGICAL' AND me.kind = 'forest_ranger' AND ${runs}) AS rangers,
        bool_or(fit.cause IS NOT NULL AND ${runs}) AS matched,
        count(*) FILTER (WHERE ${outstanding}) AS loans,
        sum(me.amount) FILTER (WHERE ${outstanding}) AS outstanding,
        count(*) FILTER (WHERE ${outstanding} AND me.details->>'overdue' = 'true') AS overdue_loans,
        sum(me.amount) FILTER (WHERE ${outstanding} AND me.details->>'overdue' = 'true') AS overdue_amount
      FROM measures me
      JOIN households h ON h.id = me.household_id
      JOIN yrs y ON me.start_date <= ${dec31}
      LEFT JOIN fit ON fit.cause = h.main_cause AND fit.category = me.category AND (fit.kind IS NULL OR fit.kind = me.kind)
      WHERE ${where('me.region_code', s, p)} AND me.status <> 'CANCELLED'
      GROUP BY me.household_id, y.year
    )
    SELECT y.year, hh.child,
      count(*)::int AS households,
      count(*) FILTER (WHERE hh.status = 'POOR')::int AS households_poor,
      count(*) FILTER (WHERE hh.status = 'EXITED')::int AS households_exited,
      count(*) FILTER (WHERE hh.status = 'RETURNED')::int AS households_returned,
      count(*) FILTER (WHERE hh.status = 'CLOSED')::int AS households_closed,
      coalesce(sum(hh.persons), 0)::int AS persons,
      coalesce(sum(hh.persons) FILTER (WHERE hh.status = 'POOR'), 0)::int AS persons_poor,
      coalesce(sum(hh.persons) FILTER (WHERE hh.status = 'EXITED'), 0)::int AS persons_exited,
      coalesce(sum(hh.persons) FILTER (WHERE hh.status = 'RETURNED'), 0)::int AS persons_returned,
      coalesce(sum(hh.persons) FILTER (WHERE hh.status = 'CLOSED'), 0)::int AS persons_closed,
      coalesce(sum(hh.insured), 0)::int AS insured_members,
      coalesce(sum(hh.dropouts), 0)::int AS dropouts,
      count(*) FILTER (WHERE hh.status IN ('POOR', 'RETURNED') AND NOT hh.housing_safe)::int AS unsafe_housing,
      count(*) FILTER (WHERE hh.exit_year = y.year)::int AS exited_in_year,
      coalesce(sum(hh.persons) FILTER (WHERE hh.exit_year = y.year), 0)::int AS persons_exited_in_year,
      count(*) FILTER (WHERE hh.able)::int AS able_households,
      count(*) FILTER (WHERE hh.able AND mz.industry > 0)::int AS industry_covered,
      coalesce(sum(mz.industry) FILTER (WHERE hh.able), 0)::int AS industry_measures,
      count(*) FILTER (WHERE hh.registered)::int AS cause_households,
      count(*) FILTER (WHERE hh.registered AND mz.matched)::int AS cause_matched,
      count(*) FILTER (WHERE r.moved_in <= ${dec31})::int AS relocated_households,
      coalesce(sum(hh.persons) FILTER (WHERE r.moved_in <= ${dec31}), 0)::int AS relocated_persons,
      coalesce(sum(hh.persons) FILTER (WHERE r.moved_in BETWEEN ${jan1} AND ${dec31}), 0)::int AS relocated_persons_in_year,
      coalesce(sum(mz.rangers), 0)::int AS forest_ranger_posts,
      coalesce(sum(mz.loans), 0)::int AS microcredit_loans,
      coalesce(sum(mz.outstanding), 0)::text AS microcredit_outstanding,
      coalesce(sum(mz.overdue_loans), 0)::int AS microcredit_overdue_loans,
      coalesce(sum(mz.overdue_amount), 0)::text AS microcredit_overdue
    FROM hh
    CROSS JOIN yrs y
    LEFT JOIN mz ON mz.household_id = hh.id AND mz.year = y.year
    LEFT JOIN reloc r ON r.household_id = hh.id
    GROUP BY GROUPING SETS ((y.year, hh.child), (y.year))`)
}

/** Employment (contract §7): living members of households in the programme, SKILLED or ORDINARY, aged 16–59 on 31 December, wanting work. */
async function employmentFigures (db: DbOrTx, p: Principal, s: Scope): Promise<FigureRow[]> {
  return await queryRows<FigureRow>(db, sql`
    WITH yrs AS (SELECT unnest(${years(s)}) AS year)
    SELECT y.year, ${child('m.region_code', s)} AS child,
      count(*)::int AS employable_members,
      count(*) FILTER (WHERE m.employment <> 'UNEMPLOYED')::int AS employed_members
    FROM members m
    JOIN households h ON h.id = m.household_id AND h.status IN ${REGISTERED}
    JOIN yrs y ON extract(year FROM m.birth_date)::int BETWEEN y.year - 59 AND y.year - 16
    WHERE ${where('m.region_code', s, p)} AND m.active AND m.deceased_at IS NULL
      AND m.labor_capacity IN ('SKILLED', 'ORDINARY') AND m.wants_work
    GROUP BY GROUPING SETS ((y.year, ${child('m.region_code', s)}), (y.year))`)
}

/** Poor villages and counties (regions flagged poor), and those exited by or in the year (regions.exit_year). */
async function regionFigures (db: DbOrTx, s: Scope): Promise<FigureRow[]> {
  const county = s.code.length < 6 ? sql`r.level = 'COUNTY'` : sql`false`
  return await queryRows<FigureRow>(db, sql`
    WITH yrs AS (SELECT unnest(${years(s)}) AS year)
    SELECT y.year, ${child('r.code', s)} AS child,
      count(*) FILTER (WHERE r.level = 'VILLAGE' AND r.is_poor)::int AS villages_poor,
      count(*) FILTER (WHERE r.level = 'VILLAGE' AND r.is_deep_poverty)::int AS villages_deep_poverty,
      count(*) FILTER (WHERE r.level = 'VILLAGE' AND r.is_poor AND r.exit_year <= y.year)::int AS villages_exited,
      count(*) FILTER (WHERE r.level = 'VILLAGE' AND r.is_poor AND r.exit_year = y.year)::int AS villages_exited_in_year,
      count(*) FILTER (WHERE ${county} AND r.is_poor)::int AS counties_poor,
      count(*) FILTER (WHERE ${county} AND r.is_deep_poverty)::int AS counties_deep_poverty,
      count(*) FILTER (WHERE ${county} AND r.is_poor AND r.exit_year <= y.year)::int AS counties_exited,
      count(*) FILTER (WHERE ${county} AND r.is_poor AND r.exit_year = y.year)::int AS counties_exited_in_year
    FROM regions r CROSS JOIN yrs y
    WHERE r.code LIKE ${s.code + '%'} AND (r.level = 'VILLAGE' OR ${county})
    GROUP BY GROUPING SETS ((y.year, ${child('r.code', s)}), (y.year))`)
}

/**
 * All figures of the region and its children for the given years: three aggregate
 * statements (households and measures, employment, regions), each returning one row
 * per (year, child) plus one total per year.
 */
export async function figures (db: DbOrTx, p: Principal, s: Scope): Promise<FigureRow[][]> {
  return [
    await householdFigures(db, p, s),
    await employmentFigures(db, p, s),
    await regionFigures(db, s)
  ]
}

export type PlanTargetRow = typeof planTargets.$inferSelect
export type PlanTargetValues = Partial<Omit<PlanTargetRow, 'regionCode' | 'year' | 'version' | 'updatedAt'>>

// Targets are reference data (like regions): reads are checked in the service (region in area).

export async function targetsFor (db: DbOrTx, codes: readonly string[], yearList: readonly number[]): Promise<PlanTargetRow[]> {
  if (codes.length === 0 || yearList.length === 0) return []
  return await db.select().from(planTargets)
    .where(and(inArray(planTargets.regionCode, [...codes]), inArray(planTargets.year, [...yearList])))
    .orderBy(asc(planTargets.regionCode), asc(planTargets.year))
}

export async function findTarget (db: DbOrTx, code: string, year: number): Promise<PlanTargetRow | null> {
  const [row] = await db.select().from(planTargets).where(and(eq(planTargets.regionCode, code), eq(planTargets.year, year)))
  return row ?? null
}

export async function insertTarget (tx: DbOrTx, row: typeof planTargets.$inferInsert): Promise<PlanTargetRow | null> {
  const [created] = await tx.insert(planTargets).values(row).onConflictDoNothing().returning()
  return created ?? null
}

/** Updates when `version` matches; returns the new row, or null when it did not. */
export async function updateTarget (tx: DbOrTx, code: string, year: number, expectedVersion: number, values: PlanTargetValues, now: Date): Promise<PlanTargetRow | null> {
  const [row] = await tx.update(planTargets)
    .set({ ...values, version: sql`${planTargets.version} + 1`, updatedAt: now })
    .where(and(eq(planTargets.regionCode, code), eq(planTargets.year, year), eq(planTargets.version, expectedVersion)))
    .returning()
  return row ?? null
}
