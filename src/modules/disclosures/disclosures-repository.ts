import { sql } from 'drizzle-orm'
import type { DbOrTx } from '../../db/index.js'
import { queryRows } from '../../db/index.js'
import { escapeLike } from '../../shared/ids.js'
import { FUND_SOURCES, type LABELS } from '../../shared/labels.js'
import { areaPattern } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'

export { FUND_SOURCES }
export type FundSource = keyof typeof LABELS.FundSource

/** One project of a disclosure: public figures only (no person, no account). Money as decimal text (yuan, 2 decimals). */
export interface ProjectFigures {
  id: string
  code: string
  name: string
  category: string
  status: string
  regionCode: string
  regionName: string
  plannedStart: string
  plannedEnd: string | null
  budget: string
  /** Allocated in the year, per source (FUND_SOURCES order). */
  allocations: string[]
  paid: string
  beneficiaryHouseholds: number
}

export interface VillageFigures { projectId: string, code: string, name: string, paid: string, households: number }

/**
 * The year's projects of the region (built in it: `region_code` starts with the region's
 * code) in the caller's area: those planned to start in the year or with an allocation or
 * a payment dated in it, ordered by code, a page after `afterCode`. Allocations per
 * source and payments are those dated in the year; beneficiary households are the
 * project's. One statement: the sums are grouped per project over the region's rows
 * (their (region_code, date) indexes), never one query per project.
 */
export async function projectsPage (db: DbOrTx, p: Principal, region: string, year: number, afterCode: string | null, limit: number): Promise<ProjectFigures[]> {
  const inRegion = escapeLike(region) + '%'
  const area = areaPattern(p)
  const from = `${year}-01-01`
  const to = `${year + 1}-01-01`
  const sums = sql.join(FUND_SOURCES.map(s => sql`coalesce(sum(a.amount) FILTER (WHERE a.source = ${s}), 0)::text`), sql`, `)
  return await queryRows<ProjectFigures>(db, sql`
    WITH alloc AS (
      SELECT a.project_id, ARRAY[${sums}] AS allocations
      FROM fund_allocations a
      WHERE a.region_code LIKE ${inRegion} AND a.region_code LIKE ${area} AND a.date >= ${from}::date AND a.date < ${to}::date
      GROUP BY a.project_id
    ), paid AS (
      SELECT f.project_id, sum(f.amount) AS paid
      FROM fund_payments f
      WHERE f.region_code LIKE ${inRegion} AND f.region_code LIKE ${area} AND f.date >= ${from}::date AND f.date < ${to}::date
      GROUP BY f.project_id
    ), sel AS (
      SELECT pr.* FROM projects pr
      WHERE pr.region_code LIKE ${inRegion} AND pr.region_code LIKE ${area}
        AND ${afterCode === null ? sql`TRUE` : sql`pr.code > ${afterCode}`}
        AND ((pr.planned_start >= ${from}::date AND pr.planned_start < ${to}::date)
          OR pr.id IN (SELECT project_id FROM alloc) OR pr.id IN (SELECT project_id FROM paid))
      ORDER BY pr.code
      LIMIT ${limit}
    )
    SELECT sel.id, sel.code, sel.name, sel.category, sel.status, sel.region_code AS "regionCode", r.name AS "regionName",
      sel.planned_start::text AS "plannedStart", sel.planned_end::text AS "plannedEnd", sel.budget::text AS budget,
      coalesce(alloc.allocations, ARRAY[${sql.join(FUND_SOURCES.map(() => sql`'0'`), sql`, `)}]::text[]) AS allocations,
      coalesce(paid.paid, 0)::text AS paid,
      (SELECT count(*)::int FROM project_beneficiaries b WHERE b.project_id = sel.id) AS "beneficiaryHouseholds"
    FROM sel
    JOIN regions r ON r.code = sel.region_code
    LEFT JOIN alloc ON alloc.project_id = sel.id
    LEFT JOIN paid ON paid.project_id = sel.id
    ORDER BY sel.code`)
}

/**
 * Per project and village: the payments dated in the year summed, and the project's
 * beneficiary households living there. One statement for a page of projects.
 */
export async function villagesOf (db: DbOrTx, projectIds: readonly string[], year: number): Promise<VillageFigures[]> {
  if (projectIds.length === 0) return []
  const ids = `{${projectIds.join(',')}}`
  const from = `${year}-01-01`
  const to = `${year + 1}-01-01`
  return await queryRows<VillageFigures>(db, sql`
    SELECT x.project_id AS "projectId", x.village AS code, r.name, sum(x.paid)::text AS paid, sum(x.households)::int AS households
    FROM (
      SELECT f.project_id, f.household_region_code AS village, f.amount AS paid, 0 AS households
      FROM fund_payments f
      WHERE f.project_id = ANY(${ids}::uuid[]) AND f.date >= ${from}::date AND f.date < ${to}::date
      UNION ALL
      SELECT b.project_id, h.region_code, 0, 1
      FROM project_beneficiaries b JOIN households h ON h.id = b.household_id
      WHERE b.project_id = ANY(${ids}::uuid[])
    ) x
    JOIN regions r ON r.code = x.village
    GROUP BY x.project_id, x.village, r.name
    ORDER BY x.project_id, x.village`)
}

/** The names of the region and its ancestors, outermost first (河南省, 三门峡市, 卢氏县 …). */
export async function namesOf (db: DbOrTx, codes: readonly string[]): Promise<Map<string, string>> {
  if (codes.length === 0) return new Map()
  const rows = await queryRows<{ code: string, name: string }>(db, sql`SELECT code, name FROM regions WHERE code = ANY(${`{${codes.join(',')}}`}::text[])`)
  return new Map(rows.map(r => [r.code, r.name]))
}
