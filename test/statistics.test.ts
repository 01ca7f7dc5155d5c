import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { buildApp, freshDatabase, uniqueSub, type Client, type TestApp } from './helper.js'
import { FIGURES, householdsOf, reference, regionsUnder } from './statistics-reference.js'

const STATS = `query ($c: String!, $y: Int!) { statistics(regionCode: $c, year: $y) {
  region { code } year ${FIGURES} targets { indicator target actual achieved } breakdown { region { code } year ${FIGURES} targets { indicator } breakdown { year } } } }`

const ADMIN = { sub: 'admin-city', role: 'ADMIN' as const, region: '4112' }

async function ok (client: Client, query: string, variables?: Record<string, unknown>): Promise<any> {
  const res = await client.gql(query, variables)
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data
}

async function createHousehold (client: Client, village: string, over: Record<string, unknown>): Promise<{ id: string, members: Array<{ id: string }> }> {
  return (await ok(client, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id members { id } } }', { i: householdInput(village, over) })).createHousehold
}

async function addMeasure (client: Client, householdId: string, input: Record<string, unknown>): Promise<string> {
  return (await ok(client, 'mutation ($h: ID!, $i: MeasureInput!) { addMeasure(householdId: $h, input: $i) { id } }', { h: householdId, i: input })).addMeasure.id
}

/** Current status and exit year, as the exit workflow (not on this branch yet) will set them. */
async function setStatus ({ database }: TestApp, id: string, status: string, exitYear: number | null): Promise<void> {
  await database.db.execute(sql`UPDATE households SET status = ${status}, exit_year = ${exitYear} WHERE id = ${id}`)
}

/** The statistics of `code` for `year` and the independent count over the same records. */
async function compare (app: TestApp, client: Client, code: string, year: number, rural: number | null = null): Promise<{ actual: any, expected: any }> {
  const stats = (await ok(client, STATS, { c: code, y: year })).statistics
  const households = await householdsOf(client, code)
  const { region: _r, year: _y, targets: _t, breakdown: _b, ...actual } = stats
  return { actual, expected: reference(households, year, rural, code, await regionsUnder(app, code)), stats } as any
}

t.test('a hand-built village: every figure equals an independent count, with the edge cases of each definition', async (t) => {
  const app = await buildApp(t)
  const VILLAGE = '411224102201' // 古墓窑村, 五里川镇
  const op = as(app, 'OPERATOR', VILLAGE)
  const admin = app.as(ADMIN)

  // H1 POOR, illness, unsafe house. Head turns 60 in 2019 (59 on 31 Dec 2018, 60 on 31 Dec 2019); a dropout child.
  const h1 = await createHousehold(op, VILLAGE, {
    mainCause: 'ILLNESS',
    housingSafe: false,
    members: [
      memberInput({ nationalId: nationalId('1959-03-01', 'MALE'), laborCapacity: 'ORDINARY', wantsWork: true, employment: 'LOCAL' }),
      memberInput({ nationalId: nationalId('1980-07-07', 'FEMALE'), relation: 'SPOUSE', laborCapacity: 'SKILLED', wantsWork: true, employment: 'UNEMPLOYED', medicalInsurance: false }),
      memberInput({ nationalId: nationalId('2008-02-02', 'MALE'), relation: 'CHILD', laborCapacity: 'NONE', schooling: 'DROPPED_OUT' })
    ]
  })
  await addMeasure(op, h1.id, { category: 'INDUSTRY', kind: 'livestock', startDate: '2018-03-01' })
  // Ends on 1 January 2019: runs in 2018 and (for one day) in 2019, not in 2020.
  await addMeasure(op, h1.id, { category: 'INDUSTRY', kind: 'solar', startDate: '2017-06-01', endDate: '2019-01-01', status: 'COMPLETED' })
  const cancelled = await addMeasure(op, h1.id, { category: 'INDUSTRY', kind: 'specialty_farming', startDate: '2019-04-01' })
  await ok(op, `mutation { updateMeasure(id: "${cancelled}", input: { status: CANCELLED }) { status } }`)
  await addMeasure(op, h1.id, { category: 'HEALTH', kind: 'family_doctor_contract', startDate: '2019-05-01' })
  await addMeasure(op, h1.id, { category: 'HEALTH', kind: 'medical_assistance', startDate: '2018-01-01', status: 'CANCELLED' })

  // H2 EXITED in 2019, lack of funds; a member deceased; an overdue microcredit; relocated in 2019.
  const h2 = await createHousehold(op, VILLAGE, {
    mainCause: 'LACK_OF_FUNDS',
    housingSafe: false,
    members: [
      memberInput({ nationalId: nationalId('1970-01-01', 'MALE'), laborCapacity: 'WEAK', wantsWork: true, employment: 'LOCAL' }),
      memberInput({ nationalId: nationalId('1945-05-05', 'FEMALE'), relation: 'PARENT', laborCapacity: 'ORDINARY', wantsWork: true, employment: 'LOCAL', medicalInsurance: false })
    ]
  })
  await ok(op, `mutation { updateMember(id: "${h2.members[1]!.id}", input: { deceasedAt: "2019-06-01" }) { deceasedAt } }`)
  await setStatus(app, h2.id, 'EXITED', 2019)
  await addMeasure(op, h2.id, { category: 'FINANCE', kind: 'microcredit', startDate: '2018-04-01', details: { bank: '卢氏县农村信用合作联社', principal: 30000, termMonths: 36, interestSubsidy: 1200, overdue: true } })
  await addMeasure(op, h2.id, { category: 'FINANCE', kind: 'microcredit', startDate: '2017-04-01', details: { bank: '邮储银行', principal: 20000, termMonths: 12, interestSubsidy: 600, repaidOn: '2019-03-31' } })
  await addMeasure(op, h2.id, { category: 'RELOCATION', kind: 'relocation', startDate: '2018-10-01', details: { resettlementSite: '城关镇安置点', moveInDate: '2019-08-01' } })

  // H3 RETURNED, lack of skills; its worker turns 16 in 2019; training only from 2020; a ranger post in 2019.
  const h3 = await createHousehold(op, VILLAGE, {
    mainCause: 'LACK_OF_SKILLS',
    housingSafe: false,
    members: [memberInput({ nationalId: nationalId('2003-05-05', 'MALE'), laborCapacity: 'ORDINARY', wantsWork: true, employment: 'MIGRANT' })]
  })
  await setStatus(app, h3.id, 'RETURNED', 2018)
  await addMeasure(op, h3.id, { category: 'EMPLOYMENT', kind: 'skills_training', startDate: '2020-01-01', details: { course: '电工', hours: 56 } })
  await addMeasure(op, h3.id, { category: 'ECOLOGICAL', kind: 'forest_ranger', startDate: '2019-01-01', endDate: '2019-12-31', details: { annualPay: 6000 } })

  // H4 closed: its members are no longer active members.
  const h4 = await createHousehold(op, VILLAGE, { mainCause: 'OTHER' })
  await ok(op, `mutation { closeHousehold(id: "${h4.id}", reason: MOVED_AWAY) { status } }`)

  // The village is poor, exited in 2020, with a known rural population.
  const region = (await ok(admin, `{ region(code: "${VILLAGE}") { version } }`)).region
  await ok(admin, `mutation { updateRegion(code: "${VILLAGE}", expectedVersion: ${region.version}, input: { isPoor: true, ruralPopulation: 400 }) { code } }`)
  await ok(admin, `mutation { exitVillage(code: "${VILLAGE}", year: 2020) { exitYear } }`) // incidence 4 ÷ 400 = 1%

  for (const year of [2018, 2019, 2020]) {
    const { actual, expected } = await compare(app, op, VILLAGE, year, 400)
    t.same(actual, expected, `${year}: the database's figures equal the independent count`)
  }

  const s18 = (await ok(op, STATS, { c: VILLAGE, y: 2018 })).statistics
  const s19 = (await ok(op, STATS, { c: VILLAGE, y: 2019 })).statistics
  const s20 = (await ok(op, STATS, { c: VILLAGE, y: 2020 })).statistics
  // Written out by hand, so that a shared misreading in code and reference would still show.
  t.same(s19.households, { total: 4, poor: 1, exited: 1, returned: 1, closed: 1 })
  t.same(s19.persons, { total: 5, poor: 3, exited: 1, returned: 1, closed: 0 }, 'the deceased member and the closed household\'s members are not counted')
  t.equal(s19.exitedInYear, 1)
  t.equal(s19.personsExitedInYear, 1)
  t.equal(s18.exitedInYear, 1, 'the returned household had exited in 2018')
  t.equal(s19.povertyIncidence, 4 / 400, '(poor + returned persons) ÷ rural population')
  t.equal(s19.medicalInsuranceRate, 4 / 5, 'the uninsured spouse counts; the uninsured deceased member is not in the divisor')
  t.equal(s19.dropouts, 1)
  t.equal(s19.unsafeHousing, 2, 'POOR and RETURNED only: the exited household does not count')
  t.same([s18.basis.ableHouseholds, s18.basis.industryCoveredHouseholds, s18.basis.industryMeasures], [3, 1, 2], '2018: both industry measures of H1 run')
  t.same([s19.basis.industryCoveredHouseholds, s19.basis.industryMeasures], [1, 2], '2019: the measure ending on 1 January still counts, the cancelled one does not')
  t.same([s20.basis.industryCoveredHouseholds, s20.basis.industryMeasures], [1, 1], '2020: only the open-ended measure')
  t.equal(s19.industryCoverageRate, 1 / 3)
  t.equal(s19.industryStackingDegree, 2)
  // 2018: the head (59) and the spouse (unemployed) of H1; H2's deceased parent not; H2's head is WEAK; H3's worker is 15.
  t.same([s18.basis.employableMembers, s18.basis.employedMembers], [2, 1])
  // 2019: the head is 60 on 31 December; H3's worker is 16.
  t.same([s19.basis.employableMembers, s19.basis.employedMembers], [2, 1])
  t.equal(s19.employmentRate, 1 / 2)
  t.same(s18.relocation, { households: 0, persons: 0, personsInYear: 0 }, 'moved in only in 2019')
  t.same(s19.relocation, { households: 1, persons: 1, personsInYear: 1 })
  t.same(s20.relocation, { households: 1, persons: 1, personsInYear: 0 })
  t.same([s18.forestRangerPosts, s19.forestRangerPosts, s20.forestRangerPosts], [0, 1, 0])
  t.same(s18.microcredit, { loans: 2, outstanding: 50000, overdueLoans: 1, overdue: 30000 })
  t.same(s19.microcredit, { loans: 1, outstanding: 30000, overdueLoans: 1, overdue: 30000 }, 'the loan repaid in March 2019 is no longer outstanding at the end of 2019')
  // Cause match: H1 (illness) has HEALTH from May 2019 (the 2018 one is cancelled); H2 (funds) has FINANCE; H3 (skills) has training from 2020.
  t.same([s18.basis.causeMatchedHouseholds, s19.basis.causeMatchedHouseholds, s20.basis.causeMatchedHouseholds], [1, 2, 3])
  t.equal(s19.causeMeasureMatchRate, 2 / 3)
  t.same([s19.villages, s20.villages], [{ poor: 1, deepPoverty: 0, exited: 0, exitedInYear: 0 }, { poor: 1, deepPoverty: 0, exited: 1, exitedInYear: 1 }])
  t.same(s19.counties, { poor: 0, deepPoverty: 0, exited: 0, exitedInYear: 0 }, 'counties are counted for a province or city only')
  t.same(s19.breakdown, [], 'a village has no child regions')
})

t.test('an empty region: zero counts and null rates, also in its breakdown', async (t) => {
  const app = await buildApp(t)
  const viewer = as(app, 'VIEWER', '411224103')
  const stats = (await ok(viewer, STATS, { c: '411224103', y: 2019 })).statistics // 官道口镇: no household in this file
  const { actual, expected } = await compare(app, viewer, '411224103', 2019)
  t.same(actual, expected)
  for (const s of [stats, ...stats.breakdown]) {
    t.same([s.industryCoverageRate, s.industryStackingDegree, s.employmentRate, s.medicalInsuranceRate, s.povertyIncidence, s.causeMeasureMatchRate], [null, null, null, null, null, null])
    t.same(s.households, { total: 0, poor: 0, exited: 0, returned: 0, closed: 0 })
  }
  t.equal(stats.breakdown.length, 9, 'every village of the township, households or not')
  t.same(stats.breakdown.map((b: any) => b.breakdown), stats.breakdown.map(() => []))
})

t.test('area and role: a VIEWER sees statistics of the area only; outside it FORBIDDEN / 403; EXCHANGE refused', async (t) => {
  const app = await buildApp(t)
  const viewer = as(app, 'VIEWER', '411224')
  const county = (await ok(viewer, STATS, { c: '411224', y: 2019 })).statistics
  t.equal(county.region.code, '411224')
  t.equal(county.breakdown.length, 20, 'the county\'s townships')
  const township = (await ok(viewer, STATS, { c: '411224104', y: 2019 })).statistics
  t.equal(township.region.code, '411224104')
  for (const code of ['411282', '4112', '41']) {
    const res = await viewer.gql(STATS, { c: code, y: 2019 })
    t.equal(res.errors?.[0]?.extensions.code, 'FORBIDDEN', `${code} is outside the viewer's area`)
    t.equal(res.data, null)
    const rest = await viewer.get(`/api/v1/statistics/${code}?year=2019`)
    t.equal(rest.statusCode, 403)
    t.match(rest.headers['content-type'], 'application/problem+json')
    t.equal((await viewer.get(`/api/v1/statistics/${code}/breakdown.csv?year=2019`)).statusCode, 403)
    t.equal((await viewer.get(`/api/v1/statistics/${code}/trend?years=2019`)).statusCode, 403)
    t.equal((await viewer.gql('query ($c: String!) { statisticsTrend(regionCode: $c, years: [2019]) { year } }', { c: code })).errors?.[0]?.extensions.code, 'FORBIDDEN')
    t.equal((await viewer.gql('query ($c: String!) { planTargets(regionCode: $c) { year } }', { c: code })).errors?.[0]?.extensions.code, 'FORBIDDEN')
  }
  const exchange = as(app, 'EXCHANGE', '4112', 'health')
  t.equal((await exchange.gql(STATS, { c: '4112', y: 2019 })).errors?.[0]?.extensions.code, 'FORBIDDEN', 'EXCHANGE may not read statistics')
  t.equal((await exchange.get('/api/v1/statistics/4112?year=2019')).statusCode, 403)
  for (const role of ['OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR'] as const) {
    t.equal((await as(app, role, '411224').gql(STATS, { c: '411224', y: 2019 })).errors, undefined, `${role} may read statistics in area`)
  }
})

t.test('bad input: BAD_USER_INPUT / 400 naming the field; an unknown region NOT_FOUND / 404', async (t) => {
  const app = await buildApp(t)
  const admin = app.as(ADMIN)
  const thisYear = new Date().getUTCFullYear()
  const cases: Array<[string, number, string]> = [['41122', 2019, 'regionCode'], ['abc', 2019, 'regionCode'], ['4112', 2013, 'year'], ['4112', thisYear + 1, 'year']]
  for (const [c, y, path] of cases) {
    const res = await admin.gql(STATS, { c, y })
    t.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', `${c} ${y}`)
    t.same(res.errors?.[0]?.extensions.fields?.map(f => f.path), [path])
  }
  t.equal((await admin.gql(STATS, { c: '411299', y: 2019 })).errors?.[0]?.extensions.code, 'NOT_FOUND', 'a well-formed code of no region')
  t.equal((await admin.gql('{ statisticsTrend(regionCode: "4112", years: []) { year } }')).errors?.[0]?.extensions.fields?.[0]?.path, 'years')
  t.same((await admin.gql('{ statisticsTrend(regionCode: "4112", years: [2019, 2013, 2019]) { year } }')).errors?.[0]?.extensions.fields?.map(f => f.path), ['years.1', 'years'])

  const problem = async (url: string, paths: string[]): Promise<void> => {
    const res = await admin.get(url)
    t.equal(res.statusCode, 400, url)
    t.match(res.headers['content-type'], 'application/problem+json')
    t.same(res.json().errors.map((e: any) => e.path), paths, url)
  }
  await problem('/api/v1/statistics/4112?year=abc', ['querystring.year'])
  await problem('/api/v1/statistics/4112', ['querystring.year'])
  await problem('/api/v1/statistics/4112?year=2013', ['querystring.year'])
  await problem('/api/v1/statistics/41x2?year=2019', ['params.regionCode'])
  await problem('/api/v1/statistics/4112?year=2019&foo=1', ['querystring.foo'])
  await problem('/api/v1/statistics/4112/breakdown.csv?year=1999', ['querystring.year'])
  await problem('/api/v1/statistics/4112/trend?years=2019,20x0', ['querystring.years'])
  await problem('/api/v1/statistics/4112/trend?years=2019,2019', ['querystring.years'])
  await problem('/api/v1/statistics/4112/trend?years=2012,2019', ['querystring.years.0'])
  t.equal((await admin.get('/api/v1/statistics/411299?year=2019')).statusCode, 404)
})

t.test('trend, REST and CSV give the same figures as statistics', async (t) => {
  const app = await buildApp(t)
  const VILLAGE = '411224104201' // 河南村, 朱阳关镇
  const op = as(app, 'OPERATOR', VILLAGE)
  const h = await createHousehold(op, VILLAGE, { mainCause: 'LACK_OF_FUNDS' })
  await addMeasure(op, h.id, { category: 'INDUSTRY', kind: 'e_commerce', startDate: '2019-02-01' })
  await addMeasure(op, h.id, { category: 'FINANCE', kind: 'microcredit', startDate: '2018-02-01', details: { bank: '农商行', principal: 12345.67, termMonths: 24, interestSubsidy: 500 } })
  const viewer = as(app, 'VIEWER', '411224104')
  const years = [2020, 2018, 2019]
  const trend = (await ok(viewer, `{ statisticsTrend(regionCode: "411224104", years: [2020, 2018, 2019]) { year region { code } ${FIGURES} targets { indicator } breakdown { region { code } year ${FIGURES} targets { indicator target actual achieved } breakdown { year } } } }`)).statisticsTrend
  t.same(trend.map((s: any) => s.year), years, 'in the order asked')
  for (const [i, y] of years.entries()) {
    const single = (await ok(viewer, STATS, { c: '411224104', y })).statistics
    t.same(trend[i], single, `${y}: trend = statistics`)
    const rest = await viewer.get(`/api/v1/statistics/411224104?year=${y}`)
    t.equal(rest.statusCode, 200)
    const body = rest.json()
    t.match(body.region, { code: '411224104', name: '朱阳关镇', level: 'TOWNSHIP' })
    const { region: _r, breakdown: restBreakdown, funds: restFunds, peopleSent, ...figures } = body
    const { region: _g, breakdown: gqlBreakdown, ...gqlFigures } = single
    t.same(figures, gqlFigures, `${y}: REST = GraphQL`)
    const gqlFunds = (await ok(viewer, `{ statistics(regionCode: "411224104", year: ${y}) { funds { year projects { total planned approved inProgress completed cancelled }
      budget allocated allocatedBySource { source amount } paid paidShare beneficiaryHouseholds paidHouseholds paidPerBeneficiaryHousehold } } }`)).statistics.funds
    t.same(restFunds, gqlFunds, `${y}: the fund figures, REST = GraphQL`)
    const gqlPeopleSent = (await ok(viewer, 'query ($y: Int!) { statistics(regionCode: "411224104", year: $y) { peopleSent { poorVillages poorVillagesWithTeam teamCoverageRate poorHouseholds poorHouseholdsWithHelper helperCoverageRate notVisitedIn90Days } } }', { y })).statistics.peopleSent
    t.same(peopleSent, gqlPeopleSent, `${y}: the people-sent coverage, REST = GraphQL`)
    t.same(restBreakdown.map((b: any) => [b.region.code, b.households, b.microcredit]), gqlBreakdown.map((b: any) => [b.region.code, b.households, b.microcredit]))
  }
  const restTrend = await viewer.get('/api/v1/statistics/411224104/trend?years=2018,2019')
  t.same(restTrend.json().items.map((s: any) => [s.year, s.industryCoverageRate]), [[2018, 0], [2019, 1]])

  const csv = await viewer.get('/api/v1/statistics/411224104/breakdown.csv?year=2019')
  t.equal(csv.statusCode, 200)
  t.match(csv.headers['content-type'], 'text/csv; charset=utf-8')
  t.match(csv.headers['content-disposition'], 'statistics-411224104-2019.csv')
  t.ok(csv.rawPayload.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])), 'starts with the UTF-8 byte order mark')
  const lines = csv.body.replace(/^\uFEFF/, '').split('\r\n').filter(l => l !== '')
  const header = lines[0]!.split(',')
  t.equal(header[0], '区划代码')
  const stats = (await ok(viewer, STATS, { c: '411224104', y: 2019 })).statistics
  t.equal(lines.length, 1 + stats.breakdown.length + 1, 'header, one row per village, the total')
  const row = (code: string): Record<string, string> => {
    const cells = lines.find(l => l.startsWith(code + ','))!.split(',')
    return Object.fromEntries(header.map((h, i) => [h, cells[i]!]))
  }
  t.match(row(VILLAGE), { 区划名称: '河南村村委会', 年度: '2019', '贫困户数(户)': '1', 产业扶贫覆盖率: '1.0000', 产业扶贫叠加度: '1.00', 小额信贷在贷笔数: '1', '小额信贷余额(元)': '12345.67', 贫困发生率: '' })
  t.match(row('411224104'), { 区划名称: '朱阳关镇(合计)', '贫困户数(户)': String(stats.households.total) })
  t.equal(row('411224104201')['措施精准率'], '1.0000', 'lack of funds with a FINANCE and an INDUSTRY measure')
})

t.test('the summary follows every write, and extends itself when a new year begins', async (t) => {
  let now = new Date('2019-06-30T12:00:00Z')
  const app = await buildApp(t, { database: await freshDatabase(), clock: () => now })
  const VILLAGE = '411224106200' // 后峪村, 范里镇
  const op = as(app, 'OPERATOR', VILLAGE)
  const households = async (year: number): Promise<any> => (await ok(op, STATS, { c: VILLAGE, y: year })).statistics
  t.same((await households(2019)).households.total, 0)
  const h = await createHousehold(op, VILLAGE, { mainCause: 'LACK_OF_FUNDS' })
  t.same((await households(2019)).households, { total: 1, poor: 1, exited: 0, returned: 0, closed: 0 }, 'a new household shows at once')
  await addMeasure(op, h.id, { category: 'FINANCE', kind: 'microcredit', startDate: '2019-03-01', details: { bank: '农商行', principal: 10000, termMonths: 12, interestSubsidy: 100 } })
  t.equal((await households(2019)).causeMeasureMatchRate, 1, 'so does a new measure')
  await ok(op, `mutation { updateMember(id: "${h.members[0]!.id}", input: { deceasedAt: "2019-05-01" }) { id } }`)
  t.equal((await households(2019)).persons.total, 2, 'and a death')
  const future = await op.gql(STATS, { c: VILLAGE, y: 2020 })
  t.same(future.errors?.[0]?.extensions.fields?.map(f => f.path), ['year'], '2020 lies ahead in 2019')
  const [before] = await queryRows<{ last_year: number }>(app.database.db, sql`SELECT last_year FROM stats_state`)
  t.equal(before!.last_year, 2019)

  now = new Date('2020-01-02T08:00:00Z')
  const s20 = await households(2020)
  t.match(s20, { year: 2020, households: { total: 1 }, microcredit: { loans: 1, outstanding: 10000 } }, 'a new year: the summary reaches it')
  const [after] = await queryRows<{ last_year: number }>(app.database.db, sql`SELECT last_year FROM stats_state`)
  t.equal(after!.last_year, 2020)
  // Writes between two reads mark the village once, however many there are.
  for (const kind of ['solar', 'livestock', 'e_commerce']) await addMeasure(op, h.id, { category: 'INDUSTRY', kind, startDate: '2020-01-01' })
  await ok(op, `mutation { updateMember(id: "${h.members[1]!.id}", input: { pensionInsurance: true }) { id } }`)
  const [marks] = await queryRows<{ n: number }>(app.database.db, sql`SELECT count(*)::int AS n FROM stats_dirty WHERE village = ${VILLAGE}`)
  t.equal(marks!.n, 1, 'four writes, one mark')
  const { actual, expected } = await compare(app, op, VILLAGE, 2020)
  t.same(actual, expected)
  const [dirty] = await queryRows<{ n: number }>(app.database.db, sql`SELECT count(*)::int AS n FROM stats_dirty WHERE village LIKE '411224106%'`)
  t.equal(dirty!.n, 0, 'reading consumed the marks of the region')
})

function as (app: TestApp, role: 'VIEWER' | 'OPERATOR' | 'REVIEWER' | 'ADMIN' | 'AUDITOR' | 'EXCHANGE', region: string, dept?: string): Client {
  return app.as({ sub: uniqueSub(role.toLowerCase()), role, region, ...(dept === undefined ? {} : { dept }) } as any)
}
