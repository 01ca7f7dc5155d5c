import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { buildApp, uniqueSub, type Client } from './helper.js'

const TARGET = 'regionCode year personsToExit villagesToExit countiesToExit relocationPersons forestRangerPosts industryCoverageRate industryStackingDegree employmentRate medicalInsuranceRate version'
const SET = `mutation ($c: String!, $y: Int!, $v: Int, $i: PlanTargetInput!) { setPlanTarget(regionCode: $c, year: $y, expectedVersion: $v, input: $i) { ${TARGET} } }`
const PROGRESS = 'query ($c: String!, $y: Int!) { statistics(regionCode: $c, year: $y) { personsExitedInYear industryCoverageRate targets { indicator target actual achieved } breakdown { region { code } targets { indicator target actual achieved } } } }'

const client = (as: (c: any) => Client, role: string, region: string): Client => as({ sub: uniqueSub(role.toLowerCase()), role, region })

async function targetRows (db: any): Promise<unknown[]> {
  return await queryRows(db, sql`SELECT * FROM plan_targets ORDER BY region_code, year`)
}

t.test('the plan\'s city targets for 2018–2020 are seeded and shown beside the actual figures', async (t) => {
  const { as } = await buildApp(t)
  const viewer = client(as, 'VIEWER', '4112')
  const targets = (await viewer.gql(`{ planTargets(regionCode: "4112") { ${TARGET} } }`)).data.planTargets
  t.same(targets.map((x: any) => [x.year, x.personsToExit, x.villagesToExit, x.countiesToExit, x.relocationPersons, x.forestRangerPosts, x.industryCoverageRate, x.industryStackingDegree, x.employmentRate]), [
    [2018, 53000, 100, null, 14718, null, 0.9, 2, 0.8],
    [2019, 23000, 187, 1, null, null, 0.9, 2, 1],
    [2020, 12000, 24, null, null, 1000, 0.9, 2, 1]
  ])
  const only = (await viewer.gql(`{ planTargets(regionCode: "4112", years: [2019]) { year } }`)).data.planTargets
  t.same(only, [{ year: 2019 }])
  const s = (await viewer.gql(PROGRESS, { c: '4112', y: 2018 })).data.statistics
  t.same(s.targets.map((p: any) => p.indicator), ['PERSONS_EXITED', 'VILLAGES_EXITED', 'PERSONS_RELOCATED', 'INDUSTRY_COVERAGE_RATE', 'INDUSTRY_STACKING_DEGREE', 'EMPLOYMENT_RATE'])
  const persons = s.targets.find((p: any) => p.indicator === 'PERSONS_EXITED')
  t.same(persons, { indicator: 'PERSONS_EXITED', target: 53000, actual: s.personsExitedInYear, achieved: s.personsExitedInYear / 53000 })
  const county = (await client(as, 'VIEWER', '411224').gql(PROGRESS, { c: '411224', y: 2018 })).data.statistics
  t.same(county.targets, [], 'no targets set for the county')
})

t.test('an ADMIN at city level sets targets for a region in area: created, updated with its version, audited; progress follows', async (t) => {
  const { as, database } = await buildApp(t)
  const admin = client(as, 'ADMIN', '4112')
  const VILLAGE = '411224105201' // 兰草村, 官坡镇
  const op = client(as, 'OPERATOR', VILLAGE)
  const created = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', {
    i: householdInput(VILLAGE, { members: [memberInput({ nationalId: nationalId('1980-01-01'), laborCapacity: 'ORDINARY' })] })
  })
  await op.gql(`mutation { addMeasure(householdId: "${created.data.createHousehold.id}", input: { category: INDUSTRY, kind: "solar", startDate: "2019-01-01" }) { id } }`)

  const first = await admin.gql(SET, { c: '411224105', y: 2019, i: { industryCoverageRate: 0.8, personsToExit: 10, industryStackingDegree: 2.5 } })
  t.equal(first.errors, undefined)
  t.match(first.data.setPlanTarget, { regionCode: '411224105', year: 2019, industryCoverageRate: 0.8, personsToExit: 10, industryStackingDegree: 2.5, employmentRate: null, version: 1 })
  const again = await admin.gql(SET, { c: '411224105', y: 2019, i: { personsToExit: 11 } })
  t.equal(again.errors?.[0]?.extensions.code, 'CONFLICT', 'creating twice')
  const stale = await admin.gql(SET, { c: '411224105', y: 2019, v: 7, i: { personsToExit: 11 } })
  t.equal(stale.errors?.[0]?.extensions.code, 'CONFLICT', 'a stale version')
  const missing = await admin.gql(SET, { c: '411224105', y: 2020, v: 1, i: { personsToExit: 11 } })
  t.equal(missing.errors?.[0]?.extensions.code, 'CONFLICT', 'updating targets that do not exist')
  const updated = await admin.gql(SET, { c: '411224105', y: 2019, v: 1, i: { personsToExit: null, employmentRate: 0.95 } })
  t.match(updated.data.setPlanTarget, { personsToExit: null, employmentRate: 0.95, industryCoverageRate: 0.8, version: 2 }, 'omitted fields stay, null clears')

  const township = (await client(as, 'VIEWER', '411224105').gql(PROGRESS, { c: '411224105', y: 2019 })).data.statistics
  t.same(township.targets.find((p: any) => p.indicator === 'INDUSTRY_COVERAGE_RATE'), { indicator: 'INDUSTRY_COVERAGE_RATE', target: 0.8, actual: 1, achieved: 1 / 0.8 })
  t.same(township.targets.find((p: any) => p.indicator === 'INDUSTRY_STACKING_DEGREE'), { indicator: 'INDUSTRY_STACKING_DEGREE', target: 2.5, actual: 1, achieved: 1 / 2.5 })
  t.same(township.targets.find((p: any) => p.indicator === 'EMPLOYMENT_RATE'), { indicator: 'EMPLOYMENT_RATE', target: 0.95, actual: null, achieved: null }, 'no employable member: no rate')
  const county = (await client(as, 'VIEWER', '411224').gql(PROGRESS, { c: '411224', y: 2019 })).data.statistics
  t.same(county.breakdown.find((b: any) => b.region.code === '411224105').targets.map((p: any) => p.indicator), ['INDUSTRY_COVERAGE_RATE', 'INDUSTRY_STACKING_DEGREE', 'EMPLOYMENT_RATE'], 'child rows carry their own targets')

  const audit = await queryRows<any>(database.db, sql`SELECT action, entity, entity_id, region_code, before, after FROM audit_events WHERE entity = 'PlanTarget' ORDER BY id`)
  t.same(audit.map(a => [a.action, a.entity_id, a.region_code]), [['target.create', '411224105/2019', '411224105'], ['target.update', '411224105/2019', '411224105']])
  t.match(audit[1], { before: { personsToExit: 10, version: 1 }, after: { personsToExit: null, employmentRate: 0.95, version: 2 } })
})

t.test('who may edit targets (§3: ADMIN at city level or above, region in area); bad input names the field; refusals store nothing', async (t) => {
  const { as, database } = await buildApp(t)
  const before = await targetRows(database.db)
  const auditBefore = await queryRows(database.db, sql`SELECT count(*)::int AS n FROM audit_events`)
  const input = { i: { personsToExit: 5 } }
  const refused: Array<[string, string, string, string]> = [
    ['ADMIN', '411224', '411224', 'FORBIDDEN'], // county level: below city
    ['ADMIN', '411224101', '411224101', 'FORBIDDEN'],
    ['OPERATOR', '4112', '411224', 'FORBIDDEN'],
    ['REVIEWER', '4112', '411224', 'FORBIDDEN'],
    ['AUDITOR', '4112', '411224', 'FORBIDDEN'],
    ['VIEWER', '4112', '411224', 'FORBIDDEN']
  ]
  for (const [role, region, target, code] of refused) {
    const res = await client(as, role, region).gql(SET, { c: target, y: 2019, ...input })
    t.equal(res.errors?.[0]?.extensions.code, code, `${role} at ${region} editing ${target}`)
  }
  const exchange = await as({ sub: 'ex', role: 'EXCHANGE', region: '4112', dept: 'health' }).gql(SET, { c: '4112', y: 2019, ...input })
  t.equal(exchange.errors?.[0]?.extensions.code, 'FORBIDDEN')
  // A province-level ADMIN may edit the city's; a city ADMIN may not edit the province's.
  t.equal((await client(as, 'ADMIN', '4112').gql(SET, { c: '41', y: 2019, ...input })).errors?.[0]?.extensions.code, 'FORBIDDEN', 'the province is above the city ADMIN')

  const admin = client(as, 'ADMIN', '4112')
  const bad: Array<[Record<string, unknown>, string[]]> = [
    [{ c: '4112', y: 2013, i: { personsToExit: 1 } }, ['year']],
    [{ c: '4112', y: 2051, i: { personsToExit: 1 } }, ['year']],
    [{ c: '41x', y: 2019, i: { personsToExit: 1 } }, ['regionCode']],
    [{ c: '4112', y: 2021, i: { personsToExit: -1, industryCoverageRate: 1.5, employmentRate: 0.12345, industryStackingDegree: 2.555 } }, ['input.personsToExit', 'input.industryCoverageRate', 'input.industryStackingDegree', 'input.employmentRate']],
    [{ c: '4112', y: 2021, i: {} }, ['input']]
  ]
  for (const [vars, paths] of bad) {
    const res = await admin.gql(SET, vars)
    t.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', JSON.stringify(vars))
    t.same(res.errors?.[0]?.extensions.fields?.map(f => f.path), paths)
  }
  t.equal((await admin.gql(SET, { c: '411299', y: 2019, ...input })).errors?.[0]?.extensions.code, 'NOT_FOUND', 'no such region')
  t.same(await targetRows(database.db), before, 'nothing stored')
  t.same(await queryRows(database.db, sql`SELECT count(*)::int AS n FROM audit_events`), auditBefore, 'nothing audited')

  const province = await as({ sub: 'admin-41', role: 'ADMIN', region: '41' }).gql(SET, { c: '4112', y: 2021, i: { forestRangerPosts: 1200 } })
  t.match(province.data?.setPlanTarget, { regionCode: '4112', year: 2021, forestRangerPosts: 1200, version: 1 }, 'an ADMIN above the city may')
})
