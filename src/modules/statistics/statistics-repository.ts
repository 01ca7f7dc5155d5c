import { and, asc, eq, inArray, sql, type SQL } from 'drizzle-orm'
import { queryRows, type DbOrTx } from '../../db/index.js'
import { planTargets } from '../../db/schema/index.js'
import { inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { fitValuesSql } from './cause-measure-fit.js'

/**
 * The statistics SQL (contract §7 and docs/statistics.md), in two layers:
 *
 *  - `rebuildVillages` computes every additive figure per village and year from the
 *    registry (households, living members, measures) into `stats_village_year`, for the
 *    villages that triggers marked stale in `stats_dirty`;
 *  - `summaryFigures` sums those rows per child region and year with
 *    `GROUP BY GROUPING SETS ((year, child), (year))`: the breakdown and the region's
 *    total in one pass over one row per village, whatever the number of households.
 *
 * `child` is the prefix of the region code one level down (the region itself for a
 * village). Nothing but aggregated rows leaves the database, and reads AND the caller's
 * area besides the region asked for.
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

/** The first year summarised: 精准识别 (registration) began in 2014. */
export const FIRST_SUMMARY_YEAR = 2014
/** Serialises summary rebuilds (pg_advisory_xact_lock). */
const SUMMARY_LOCK = 4112_0006

const years = (list: readonly number[]): SQL => sql.raw(`ARRAY[${list.map(y => String(Math.trunc(y))).join(',')}]::int[]`)
const child = (column: string, s: Scope): SQL => sql.raw(`substr(${column}, 1, ${Math.trunc(s.childLength)})`)

/** Households in the programme: current status poor, exited or returned. */
const REGISTERED = sql.raw("('POOR', 'RETURNED', 'EXITED')")
const dec31 = sql.raw('make_date(y.year, 12, 31)')
const jan1 = sql.raw('make_date(y.year, 1, 1)')

/** The additive columns of `stats_village_year`, in the order `rebuildVillages` selects them. */
const COLUMNS = ['households', 'households_poor', 'households_exited', 'households_returned', 'households_closed',
  'persons', 'persons_poor', 'persons_exited', 'persons_returned', 'persons_closed', 'insured_members', 'dropouts', 'unsafe_housing',
  'exited_in_year', 'persons_exited_in_year', 'able_households', 'industry_covered', 'industry_measures', 'cause_households', 'cause_matched',
  'relocated_households', 'relocated_persons', 'relocated_persons_in_year', 'forest_ranger_posts',
  'microcredit_loans', 'microcredit_outstanding', 'microcredit_overdue_loans', 'microcredit_overdue', 'employable_members', 'employed_members'] as const
const MONEY = new Set<string>(['microcredit_outstanding', 'microcredit_overdue'])

/** Is anything in the region's summary stale, and up to which year does the summary reach? */
export async function summaryState (db: DbOrTx, code: string): Promise<{ lastYear: number, dirty: boolean }> {
  const [row] = await queryRows<{ last_year: number, dirty: boolean }>(db, sql`
    SELECT (SELECT last_year FROM stats_state WHERE id = 1) AS last_year,
      EXISTS (SELECT 1 FROM stats_dirty WHERE village LIKE ${code + '%'}) AS dirty`)
  return { lastYear: Number(row?.last_year ?? 0), dirty: row?.dirty === true }
}

/** Takes the rebuild lock (held to the end of the transaction); returns the summary's last year. */
export async function lockSummary (tx: DbOrTx): Promise<number> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`)
  const [row] = await queryRows<{ last_year: number }>(tx, sql`SELECT last_year FROM stats_state WHERE id = 1`)
  return Number(row?.last_year ?? 0)
}

/** Extends the summary to `lastYear`: every village with households must be rebuilt. */
export async function extendSummary (tx: DbOrTx, lastYear: number): Promise<void> {
  await tx.execute(sql`INSERT INTO stats_dirty (village) SELECT DISTINCT region_code FROM households`)
  await tx.execute(sql`UPDATE stats_state SET last_year = ${lastYear} WHERE id = 1`)
}

/**
 * Removes the stale marks of the region's villages; returns those villages. A mark held by
 * a write still in flight (its trigger holds it, migration 0014) is left for the next
 * read, which will see that write: the rebuild waits for no writer and loses none.
 */
export async function takeDirty (tx: DbOrTx, code: string): Promise<string[]> {
  const rows = await queryRows<{ village: string }>(tx, sql`
    WITH taken AS (
      DELETE FROM stats_dirty WHERE ctid = ANY (ARRAY(SELECT ctid FROM stats_dirty WHERE village LIKE ${code + '%'} FOR UPDATE SKIP LOCKED))
      RETURNING village)
    SELECT DISTINCT village FROM taken`)
  return rows.map(r => r.village)
}

/**
 * Recomputes the summary rows of `villages` for FIRST_SUMMARY_YEAR … lastYear from the
 * registry: one INSERT … SELECT, the villages passed as one parameter.
 */
export async function rebuildVillages (tx: DbOrTx, villages: readonly string[], lastYear: number): Promise<void> {
  if (villages.length === 0) return
  const list = sql`string_to_array(${villages.join(',')}, ',')`
  const runs = sql`me.start_date <= ${dec31} AND (me.end_date IS NULL OR me.end_date >= ${jan1})`
  // A microcredit loan is repaid on details.repaidOn, or (without it) on the end date of a COMPLETED measure.
  const repaid = sql`coalesce((me.details->>'repaidOn')::date, CASE WHEN me.status = 'COMPLETED' THEN me.end_date END)`
  const outstanding = sql`me.category = 'FINANCE' AND me.kind = 'microcredit' AND me.start_date <= ${dec31} AND (${repaid} IS NULL OR ${repaid} > ${dec31})`
  await tx.execute(sql`DELETE FROM stats_village_year WHERE village = ANY (${list})`)
  await tx.execute(sql`
    INSERT INTO stats_village_year (village, year, ${sql.raw(COLUMNS.join(', '))})
    WITH yrs AS (SELECT generate_series(${sql.raw(String(FIRST_SUMMARY_YEAR))}, ${sql.raw(String(Math.trunc(lastYear)))}) AS year),
    fit (cause, category, kind) AS (VALUES ${fitValuesSql()}),
    mem AS (
      SELECT m.household_id,
        count(*) AS persons,
        count(*) FILTER (WHERE m.medical_insurance) AS insured,
        count(*) FILTER (WHERE m.schooling = 'DROPPED_OUT') AS dropouts,
        bool_or(m.labor_capacity IN ('SKILLED', 'ORDINARY', 'WEAK')) AS able
      FROM members m
      WHERE m.region_code = ANY (${list}) AND m.active AND m.deceased_at IS NULL
      GROUP BY m.household_id
    ),
    hh AS (
      SELECT h.id, h.region_code AS village, h.status, h.exit_year, h.housing_safe,
        coalesce(mem.persons, 0) AS persons, coalesce(mem.insured, 0) AS insured, coalesce(mem.dropouts, 0) AS dropouts,
        h.status IN ${REGISTERED} AS registered,
        h.status IN ${REGISTERED} AND coalesce(mem.able, false) AS able
      FROM households h LEFT JOIN mem ON mem.household_id = h.id
      WHERE h.region_code = ANY (${list})
    ),
    reloc AS (
      SELECT me.household_id, min(coalesce(me.details->>'moveInDate', me.start_date::text)::date) AS moved_in
      FROM measures me
      WHERE me.region_code = ANY (${list}) AND me.category = 'RELOCATION' AND me.status <> 'CANCELLED'
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
      WHERE me.region_code = ANY (${list}) AND me.status <> 'CANCELLED'
      GROUP BY me.household_id, y.year
    ),
    hf AS (
      SELECT hh.village, y.year,
        count(*) AS households,
        count(*) FILTER (WHERE hh.status = 'POOR') AS households_poor,
        count(*) FILTER (WHERE hh.status = 'EXITED') AS households_exited,
        count(*) FILTER (WHERE hh.status = 'RETURNED') AS households_returned,
        count(*) FILTER (WHERE hh.status = 'CLOSED') AS households_closed,
        coalesce(sum(hh.persons), 0) AS persons,
        coalesce(sum(hh.persons) FILTER (WHERE hh.status = 'POOR'), 0) AS persons_poor,
        coalesce(sum(hh.persons) FILTER (WHERE hh.status = 'EXITED'), 0) AS persons_exited,
        coalesce(sum(hh.persons) FILTER (WHERE hh.status = 'RETURNED'), 0) AS persons_returned,
        coalesce(sum(hh.persons) FILTER (WHERE hh.status = 'CLOSED'), 0) AS persons_closed,
        coalesce(sum(hh.insured), 0) AS insured_members,
        coalesce(sum(hh.dropouts), 0) AS dropouts,
        count(*) FILTER (WHERE hh.status IN ('POOR', 'RETURNED') AND NOT hh.housing_safe) AS unsafe_housing,
        count(*) FILTER (WHERE hh.exit_year = y.year) AS exited_in_year,
        coalesce(sum(hh.persons) FILTER (WHERE hh.exit_year = y.year), 0) AS persons_exited_in_year,
        count(*) FILTER (WHERE hh.able) AS able_households,
        count(*) FILTER (WHERE hh.able AND mz.industry > 0) AS industry_covered,
        coalesce(sum(mz.industry) FILTER (WHERE hh.able), 0) AS industry_measures,
        count(*) FILTER (WHERE hh.registered) AS cause_households,
        count(*) FILTER (WHERE hh.registered AND mz.matched) AS cause_matched,
        count(*) FILTER (WHERE r.moved_in <= ${dec31}) AS relocated_households,
        coalesce(sum(hh.persons) FILTER (WHERE r.moved_in <= ${dec31}), 0) AS relocated_persons,
        coalesce(sum(hh.persons) FILTER (WHERE r.moved_in BETWEEN ${jan1} AND ${dec31}), 0) AS relocated_persons_in_year,
        coalesce(sum(mz.rangers), 0) AS forest_ranger_posts,
        coalesce(sum(mz.loans), 0) AS microcredit_loans,
        coalesce(sum(mz.outstanding), 0) AS microcredit_outstanding,
        coalesce(sum(mz.overdue_loans), 0) AS microcredit_overdue_loans,
        coalesce(sum(mz.overdue_amount), 0) AS microcredit_overdue
      FROM hh
      CROSS JOIN yrs y
      LEFT JOIN mz ON mz.household_id = hh.id AND mz.year = y.year
      LEFT JOIN reloc r ON r.household_id = hh.id
      GROUP BY hh.village, y.year
    ),
    -- Employment (contract §7): living members of households in the programme, SKILLED or
    -- ORDINARY, aged 16–59 on 31 December (year − birth year), wanting work.
    ef AS (
      SELECT m.region_code AS village, y.year,
        count(*) AS employable_members,
        count(*) FILTER (WHERE m.employment <> 'UNEMPLOYED') AS employed_members
      FROM members m
      JOIN households h ON h.id = m.household_id AND h.status IN ${REGISTERED}
      JOIN yrs y ON extract(year FROM m.birth_date)::int BETWEEN y.year - 59 AND y.year - 16
      WHERE m.region_code = ANY (${list}) AND m.active AND m.deceased_at IS NULL
        AND m.labor_capacity IN ('SKILLED', 'ORDINARY') AND m.wants_work
      GROUP BY m.region_code, y.year
    )
    SELECT hf.village, hf.year, ${sql.raw(COLUMNS.map(c => c.startsWith('employ') ? `coalesce(ef.${c}, 0)` : `hf.${c}`).join(', '))}
    FROM hf LEFT JOIN ef ON ef.village = hf.village AND ef.year = hf.year`)
}

/** The summary rows of the region's villages, summed per child region and year, with the region's totals. */
export async function summaryFigures (db: DbOrTx, p: Principal, s: Scope): Promise<FigureRow[]> {
  const sums = sql.raw(COLUMNS.map(c => MONEY.has(c) ? `sum(v.${c})::text AS ${c}` : `sum(v.${c})::int AS ${c}`).join(',\n      '))
  return await queryRows<FigureRow>(db, sql`
    SELECT v.year, ${child('v.village', s)} AS child,
      ${sums}
    FROM stats_village_year v
    WHERE v.village LIKE ${s.code + '%'} AND ${inArea(sql.raw('v.village'), p)} AND v.year = ANY (${years(s.years)})
    GROUP BY GROUPING SETS ((v.year, ${child('v.village', s)}), (v.year))`)
}

/** Poor villages and counties (regions flagged poor), and those exited by or in the year (regions.exit_year); read live (one row per region). */
export async function regionFigures (db: DbOrTx, s: Scope): Promise<FigureRow[]> {
  const county = s.code.length < 6 ? sql`r.level = 'COUNTY'` : sql`false`
  return await queryRows<FigureRow>(db, sql`
    WITH yrs AS (SELECT unnest(${years(s.years)}) AS year)
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
