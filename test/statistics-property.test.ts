import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import t from 'tap'
import { generateDemoData } from '../src/db/demo-data.js'
import { Sealer } from '../src/shared/sealing.js'
import { buildApp } from './helper.js'
import { FIGURES, householdsOf, reference, regionsUnder } from './statistics-reference.js'

const sealer = new Sealer(Buffer.alloc(32, 7)) // the test configuration's DATA_KEY
const QUERY = `query ($c: String!, $y: Int!) { statistics(regionCode: $c, year: $y) { region { code ruralPopulation } ${FIGURES} breakdown { region { code } ${FIGURES} } } }`

/** Counts and sums: the figures that add up over child regions (the rates follow from the basis). */
const ADDITIVE = (s: any): number[] => [
  ...Object.values(s.households), ...Object.values(s.persons), s.exitedInYear, s.personsExitedInYear, s.dropouts, s.unsafeHousing,
  ...Object.values(s.villages), ...Object.values(s.counties), ...Object.values(s.relocation), s.forestRangerPosts,
  s.microcredit.loans, s.microcredit.overdueLoans, Math.round(s.microcredit.outstanding * 100), Math.round(s.microcredit.overdue * 100),
  ...Object.values(s.basis)
] as number[]

const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b)

t.test('for random data, a region\'s totals equal the sum of its breakdown rows, and a township\'s figures equal the independent count', async (t) => {
  const app = await buildApp(t)
  const db = app.database.db
  const admin = app.as({ sub: 'admin-city', role: 'ADMIN', region: '4112' })
  const TOWNSHIPS = ['411224106', '411224107', '411224108', '411203100'] as const
  let runs = 0
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...TOWNSHIPS), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 2016, max: 2020 }),
    async (township, n, seed, year) => {
      runs++
      if (n > 0) await generateDemoData(db, sealer, { households: n, region: township, seed })
      // Vary what the generator leaves uniform: statuses, deaths, cancellations, poor villages and their exits, rural population.
      const k = String(seed)
      await db.execute(sql`UPDATE households SET status = CASE substr(md5(id::text || ${k}), 1, 1) WHEN '0' THEN 'RETURNED' WHEN '1' THEN 'CLOSED' WHEN '2' THEN 'EXITED' ELSE status END,
        exit_year = CASE substr(md5(id::text || ${k}), 1, 1) WHEN '0' THEN 2018 WHEN '2' THEN 2019 ELSE exit_year END
        WHERE region_code LIKE ${township + '%'}`)
      await db.execute(sql`UPDATE members SET active = false FROM households h WHERE h.id = members.household_id AND h.status = 'CLOSED' AND members.region_code LIKE ${township + '%'}`)
      await db.execute(sql`UPDATE members SET deceased_at = '2019-06-01' WHERE substr(md5(id::text || ${k}), 1, 1) = 'a' AND region_code LIKE ${township + '%'}`)
      await db.execute(sql`UPDATE measures SET status = 'CANCELLED' WHERE substr(md5(id::text || ${k}), 1, 1) IN ('b', 'c') AND region_code LIKE ${township + '%'}`)
      await db.execute(sql`UPDATE regions SET is_poor = substr(md5(code || ${k}), 1, 1) < '8', is_deep_poverty = substr(md5(code || ${k}), 1, 1) < '3',
        exit_year = CASE WHEN substr(md5(code || ${k}), 2, 1) < '8' THEN 2016 + get_byte(decode(md5(code || ${k}), 'hex'), 3) % 6 END,
        rural_population = 100 + get_byte(decode(md5(code || ${k}), 'hex'), 4) * 10
        WHERE code LIKE ${township + '%'}`)

      for (const code of ['4112', township.slice(0, 6), township]) {
        const res = await admin.gql(QUERY, { c: code, y: year })
        if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
        const s = res.data.statistics
        const sums = s.breakdown.map(ADDITIVE).reduce((a: number[], row: number[]) => a.map((v, i) => v + row[i]!), ADDITIVE(s).map(() => 0))
        t.same(ADDITIVE(s), sums, `${code} ${year}: totals = sum of the breakdown`)
        for (const row of [s, ...s.breakdown]) {
          const b = row.basis
          t.same([row.industryCoverageRate, row.industryStackingDegree, row.employmentRate, row.medicalInsuranceRate, row.causeMeasureMatchRate],
            [ratio(b.industryCoveredHouseholds, b.ableHouseholds), ratio(b.industryMeasures, b.industryCoveredHouseholds), ratio(b.employedMembers, b.employableMembers), ratio(b.insuredMembers, b.livingMembers), ratio(b.causeMatchedHouseholds, b.causeHouseholds)])
        }
        if (code === township) {
          const { region: _r, breakdown: _b, ...actual } = s
          t.same(actual, reference(await householdsOf(admin, township), year, s.region.ruralPopulation, township, await regionsUnder(app, township)), `${township} ${year}: the independent count`)
        }
      }
    }), { numRuns: 12 })
  t.equal(runs, 12)
})
