import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { householdInput } from './fixtures.js'
import { buildApp, uniqueSub, type Client } from './helper.js'

const COUNTY = '411224'
const VILLAGES = ['411224101201', '411224101202', '411224102200'] as const
const SOURCES = ['CENTRAL', 'PROVINCE', 'CITY', 'COUNTY', 'INTEGRATED', 'OTHER'] as const
const FIGURES = `year projects { total planned approved inProgress completed cancelled } budget allocated allocatedBySource { source amount } paid paidShare
  beneficiaryHouseholds paidHouseholds paidPerBeneficiaryHousehold`
const QUERY = `query ($c: String!, $y: Int) { fundStatistics(regionCode: $c, year: $y) { region { code } ${FIGURES} breakdown { region { code } ${FIGURES} } } }`

async function ok<T = any> (client: Client, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await client.gql(query, variables)
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data
}

/**
 * The figures counted independently, straight from the allocation and payment rows (not the
 * projects' running sums), for the projects under `code` whose planned start is in `year`.
 */
async function reference (db: any, code: string, year: number | null): Promise<Record<string, unknown>> {
  const projects = sql`SELECT id, status, budget FROM projects WHERE region_code LIKE ${code + '%'} AND (${year}::int IS NULL OR date_part('year', planned_start) = ${year}::int)`
  const [row] = await queryRows<any>(db, sql`SELECT
    (SELECT count(*) FROM (${projects}) p)::int AS total,
    (SELECT json_object_agg(status, n) FROM (SELECT status, count(*)::int AS n FROM (${projects}) p GROUP BY status) s) AS by_status,
    (SELECT coalesce(sum(budget), 0)::text FROM (${projects}) p) AS budget,
    (SELECT coalesce(sum(a.amount), 0)::text FROM fund_allocations a WHERE a.project_id IN (SELECT id FROM (${projects}) p)) AS allocated,
    (SELECT json_object_agg(source, amount) FROM (SELECT a.source, sum(a.amount)::text AS amount FROM fund_allocations a WHERE a.project_id IN (SELECT id FROM (${projects}) p) GROUP BY a.source) s) AS by_source,
    (SELECT coalesce(sum(f.amount), 0)::text FROM fund_payments f WHERE f.project_id IN (SELECT id FROM (${projects}) p)) AS paid,
    (SELECT count(DISTINCT b.household_id)::int FROM project_beneficiaries b WHERE b.project_id IN (SELECT id FROM (${projects}) p)) AS households,
    (SELECT count(DISTINCT f.household_id)::int FROM fund_payments f WHERE f.project_id IN (SELECT id FROM (${projects}) p)) AS paid_households`)
  const by = (row.by_status ?? {}) as Record<string, number>
  const allocated = Number(row.allocated)
  const paid = Number(row.paid)
  return {
    year,
    projects: { total: row.total, planned: by.PLANNED ?? 0, approved: by.APPROVED ?? 0, inProgress: by.IN_PROGRESS ?? 0, completed: by.COMPLETED ?? 0, cancelled: by.CANCELLED ?? 0 },
    budget: Number(row.budget),
    allocated,
    allocatedBySource: SOURCES.map(source => ({ source, amount: Number(row.by_source?.[source] ?? 0) })),
    paid,
    paidShare: allocated === 0 ? null : paid / allocated,
    beneficiaryHouseholds: row.households,
    paidHouseholds: row.paid_households,
    paidPerBeneficiaryHousehold: row.households === 0 ? null : Math.round(paid / row.households * 100) / 100
  }
}

const action = fc.record({
  village: fc.nat(VILLAGES.length - 1),
  /** Planned start year: 2018 or 2019. */
  year: fc.constantFrom(2018, 2019),
  budget: fc.integer({ min: 1, max: 100_000_000 }),
  /** What happens to it: stays PLANNED, approved, started, completed or cancelled after approval. */
  fate: fc.constantFrom('PLANNED', 'APPROVED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED'),
  allocations: fc.array(fc.record({ source: fc.constantFrom(...SOURCES), fen: fc.integer({ min: 1, max: 10_000_000 }) }), { maxLength: 3 }),
  beneficiaries: fc.integer({ min: 0, max: 2 }),
  /** Payments as shares (per mille) of what is left, each to one of the beneficiaries. */
  payments: fc.array(fc.record({ share: fc.integer({ min: 1, max: 700 }), to: fc.nat() }), { maxLength: 3 })
})

t.test('fund figures equal an independent count over the allocation and payment rows, for random projects, at every level and year', async (t) => {
  const app = await buildApp(t)
  const db = app.database.db
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: COUNTY })
  const reviewer = app.as({ sub: uniqueSub('rev'), role: 'REVIEWER', region: COUNTY })
  const viewer = app.as({ sub: uniqueSub('view'), role: 'VIEWER', region: COUNTY })
  const households: Record<string, string[]> = {}
  for (const v of VILLAGES) {
    households[v] = []
    for (let i = 0; i < 3; i++) households[v].push((await ok(op, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(v) })).createHousehold.id)
  }
  let runs = 0
  await fc.assert(fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 3 }), fc.constantFrom<number | null>(null, 2018, 2019), async (actions, year) => {
    runs++
    for (const a of actions) {
      const village = VILLAGES[a.village]!
      const p = (await ok(op, 'mutation ($i: ProjectInput!) { createProject(input: $i) { id } }',
        { i: { regionCode: village, name: '产业扶贫项目', category: 'INDUSTRY', plannedStart: `${a.year}-04-01`, budget: a.budget / 100 } })).createProject.id
      const beneficiaries = households[village]!.slice(0, a.beneficiaries)
      if (beneficiaries.length > 0) await ok(op, 'mutation ($p: ID!, $h: [ID!]!) { linkBeneficiaries(projectId: $p, householdIds: $h) { id } }', { p, h: beneficiaries })
      let allocated = 0
      for (const x of a.allocations) {
        await ok(op, 'mutation ($p: ID!, $i: AllocationInput!) { allocateFunds(projectId: $p, input: $i) { id } }', { p, i: { source: x.source, amount: x.fen / 100, documentNo: '豫财农〔2019〕1号', date: `${a.year}-05-01` } })
        allocated += x.fen
      }
      if (a.fate === 'PLANNED') continue
      await ok(reviewer, 'mutation ($id: ID!) { approveProject(id: $id) { id } }', { id: p })
      let paid = 0
      for (const x of beneficiaries.length > 0 ? a.payments : []) {
        const fen = Math.floor((allocated - paid) * x.share / 1000)
        if (fen < 1) continue
        await ok(op, 'mutation ($p: ID!, $i: PaymentInput!) { recordPayment(projectId: $p, input: $i) { id } }', { p, i: { householdId: beneficiaries[x.to % beneficiaries.length], amount: fen / 100, date: `${a.year}-06-01` } })
        paid += fen
      }
      if (a.fate === 'IN_PROGRESS' || a.fate === 'COMPLETED') await ok(op, 'mutation ($id: ID!) { setProjectStatus(id: $id, status: IN_PROGRESS, expectedVersion: 2) { id } }', { id: p })
      if (a.fate === 'COMPLETED') await ok(op, 'mutation ($id: ID!) { setProjectStatus(id: $id, status: COMPLETED, expectedVersion: 3) { id } }', { id: p })
      if (a.fate === 'CANCELLED') await ok(op, 'mutation ($id: ID!) { setProjectStatus(id: $id, status: CANCELLED, expectedVersion: 2) { id } }', { id: p })
    }
    for (const code of [COUNTY, '411224101', VILLAGES[0]]) {
      const s = (await ok(viewer, QUERY, { c: code, y: year })).fundStatistics
      const { region, breakdown, ...figures } = s
      t.same(figures, await reference(db, region.code, year), `${code} ${String(year)}: the independent count`)
      for (const b of breakdown) {
        const { region: r, breakdown: _b, ...f } = b
        t.same(f, await reference(db, r.code, year), `${r.code} ${String(year)}: the independent count`)
      }
      // statistics(regionCode, year).funds is the same figure.
      if (year !== null) t.same((await ok(viewer, `query ($c: String!, $y: Int!) { statistics(regionCode: $c, year: $y) { funds { ${FIGURES} } } }`, { c: code, y: year })).statistics.funds, figures)
    }
  }), { numRuns: 12, endOnFailure: true })
  t.ok(runs >= 12)
  // paid never exceeds allocated on any project, and each project's sums equal its rows.
  const [bad] = await queryRows<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM projects p WHERE p.paid > p.allocated
    OR p.allocated <> (SELECT coalesce(sum(amount), 0) FROM fund_allocations WHERE project_id = p.id)
    OR p.paid <> (SELECT coalesce(sum(amount), 0) FROM fund_payments WHERE project_id = p.id)`)
  t.equal(bad!.n, 0, 'every project\'s allocated and paid equal the sums of its rows')
})
