import fc from 'fast-check'
import t from 'tap'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { buildApp, uniqueSub, type Client } from './helper.js'
import { yuan } from '../src/modules/disclosures/disclosures-render.js'
import { seedProject, uniqueCode } from './disclosures-support.js'

const COUNTY = '411224' // 卢氏县
const TOWNSHIP = '411224101' // 杜关镇
const VILLAGE = '411224101201' // 龙王庙村
const SIBLING = '411224101202'
const OTHER_COUNTY_VILLAGE = '411282100001'
const YEAR = 2019

async function household (op: Client, village: string, head: string, id: string): Promise<{ id: string, regionCode: string }> {
  const res = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', {
    i: householdInput(village, { members: [memberInput({ name: head, nationalId: id }), memberInput({ name: '赵桂芝', relation: 'SPOUSE', nationalId: nationalId('1970-01-01', 'FEMALE'), healthConditions: ['SERIOUS_ILLNESS'] })] })
  })
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return { id: res.data.createHousehold.id, regionCode: village }
}

const url = (region: string, format: string, year = YEAR): string => `/api/v1/disclosures/funds?region=${region}&year=${year}&format=${format}`

t.test('disclosures of a county, a township and a village: JSON, CSV and HTML agree, with totals, and nothing personal', async (t) => {
  const app = await buildApp(t)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: COUNTY })
  const ids = [nationalId('1966-06-06', 'MALE'), nationalId('1971-07-07', 'MALE')]
  const h1 = await household(op, VILLAGE, '孙有田', ids[0]!)
  const h2 = await household(op, SIBLING, '钱满仓', ids[1]!)
  const tag = uniqueCode('D')
  const a = await seedProject(app, {
    regionCode: TOWNSHIP,
    code: `${tag}-1`,
    name: '杜关镇食用菌产业基地<script>alert(1)</script>',
    allocations: [{ source: 'CENTRAL', amount: 100000, date: '2019-02-01' }, { source: 'PROVINCE', amount: 50000.5, date: '2019-03-01' }, { source: 'COUNTY', amount: 20000, date: '2018-12-01' }],
    households: [h1, h2],
    payments: [
      { householdId: h1.id, amount: 3000, date: '2019-04-01', account: '6222020200199988877' },
      { householdId: h2.id, amount: 2000.25, date: '2019-05-01', account: '6222020200199988866' },
      { householdId: h1.id, amount: 1000, date: '2018-12-15' }
    ]
  })
  await seedProject(app, {
    regionCode: VILLAGE,
    code: `${tag}-2`,
    name: '龙王庙村光伏电站',
    category: 'EMPLOYMENT',
    allocations: [{ source: 'CENTRAL', amount: 30000, date: '2019-06-01' }],
    households: [h1],
    payments: [{ householdId: h1.id, amount: 1500, date: '2019-07-01' }]
  })
  await seedProject(app, { regionCode: COUNTY, code: `${tag}-3`, name: '卢氏县农村公路', category: 'HOUSING', status: 'APPROVED', allocations: [{ source: 'INTEGRATED', amount: 200000, date: '2019-08-01' }] })
  await seedProject(app, { regionCode: OTHER_COUNTY_VILLAGE, name: '外县项目', allocations: [{ source: 'CENTRAL', amount: 99999, date: '2019-08-01' }] })
  // Planned in another year with no funds in this one: not in this year's disclosure.
  await seedProject(app, { regionCode: COUNTY, code: `${tag}-4`, name: '往年项目', plannedStart: '2017-01-01', allocations: [{ source: 'CENTRAL', amount: 1, date: '2017-02-01' }] })

  for (const role of ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR'] as const) {
    const reader = app.as({ sub: uniqueSub('r'), role, region: COUNTY })
    const res = await reader.get(url(COUNTY, 'json'))
    t.equal(res.statusCode, 200, `${role} reads the county's disclosure`)
  }
  const reader = app.as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: COUNTY })

  // The county: each project's allocations by source.
  const county = await reader.get(url(COUNTY, 'json'))
  t.match(county.headers['content-type'], /^application\/json/)
  const c = county.json()
  t.same(c.region, { code: COUNTY, name: '卢氏县', fullName: '河南省三门峡市卢氏县', level: 'COUNTY' })
  t.equal(c.year, YEAR)
  t.equal(c.title, '河南省三门峡市卢氏县2019年度扶贫项目资金公告公示')
  t.same(c.projects.map((p: any) => p.code), [`${tag}-1`, `${tag}-2`, `${tag}-3`], 'the year\'s projects of the county, by code; not another county\'s, not another year\'s')
  t.same(c.projects[0].allocations, { CENTRAL: 100000, PROVINCE: 50000.5, CITY: 0, COUNTY: 0, INTEGRATED: 0, OTHER: 0 }, 'allocations of the year by source')
  t.match(c.projects[0], { allocated: 150000.5, paid: 5000.25, beneficiaryHouseholds: 2, status: 'IN_PROGRESS', statusLabel: '实施中', category: 'INDUSTRY', categoryLabel: '产业扶贫', region: { code: TOWNSHIP, name: '杜关镇' }, budget: 1000000 })
  t.notOk('villages' in c.projects[0], 'a county lists projects, not villages')
  t.same(c.totals, { projects: 3, allocations: { CENTRAL: 130000, PROVINCE: 50000.5, CITY: 0, COUNTY: 0, INTEGRATED: 200000, OTHER: 0 }, allocated: 380000.5, paid: 6500.25, beneficiaryHouseholds: 3 })

  // The township: its projects, payments per village, beneficiary households.
  const township = (await reader.get(url(TOWNSHIP, 'json'))).json()
  t.equal(township.region.fullName, '河南省三门峡市卢氏县杜关镇')
  t.same(township.projects.map((p: any) => p.code), [`${tag}-1`, `${tag}-2`])
  t.same(township.projects[0].villages, [
    { code: VILLAGE, name: '龙王庙村村委会', paid: 3000, beneficiaryHouseholds: 1 },
    { code: SIBLING, name: township.projects[0].villages[1].name, paid: 2000.25, beneficiaryHouseholds: 1 }
  ])
  t.same(township.totals, { projects: 2, allocations: { CENTRAL: 130000, PROVINCE: 50000.5, CITY: 0, COUNTY: 0, INTEGRATED: 0, OTHER: 0 }, allocated: 180000.5, paid: 6500.25, beneficiaryHouseholds: 3 })

  // The village.
  const village = (await reader.get(url(VILLAGE, 'json'))).json()
  t.same(village.projects.map((p: any) => [p.code, p.villages]), [[`${tag}-2`, [{ code: VILLAGE, name: '龙王庙村村委会', paid: 1500, beneficiaryHouseholds: 1 }]]])

  // CSV: UTF-8 with BOM, Chinese headers, one line per project and per village, the total last.
  const csv = await reader.get(url(TOWNSHIP, 'csv'))
  t.match(csv.headers['content-type'], /^text\/csv; charset=utf-8/)
  t.match(csv.headers['content-disposition'], `attachment; filename="disclosure-funds-${TOWNSHIP}-${YEAR}.csv"`)
  t.equal(csv.rawPayload.subarray(0, 3).toString('hex'), 'efbbbf', 'a byte order mark for Excel')
  const lines = csv.body.replace(/^\uFEFF/, '').trimEnd().split('\r\n')
  t.equal(lines[0], '序号,项目编号,项目名称,项目类别,建设地点,项目状态,计划开工日期,计划完工日期,项目预算(元),中央财政专项扶贫资金(元),省级财政专项扶贫资金(元),市级财政专项扶贫资金(元),县级财政专项扶贫资金(元),统筹整合涉农资金(元),其他资金(元),资金下达合计(元),资金拨付合计(元),受益户数(户),所在村,拨付到村(元),本村受益户数(户)')
  t.equal(lines.length, 1 + 2 + 3 + 1, 'header, 2 projects, 3 village lines, the total')
  t.match(lines[1], new RegExp(`^1,${tag}-1,杜关镇食用菌产业基地<script>alert\\(1\\)</script>,产业扶贫,杜关镇,实施中,2019-03-01,,1000000.00,100000.00,50000.50,0.00,0.00,0.00,0.00,150000.50,5000.25,2,,,$`))
  t.equal(lines[2], `,${tag}-1,杜关镇食用菌产业基地<script>alert(1)</script>,,,,,,,,,,,,,,,,龙王庙村村委会,3000.00,1`)
  t.equal(lines[6], '合计,,2个项目,,,,,,,130000.00,50000.50,0.00,0.00,0.00,0.00,180000.50,6500.25,3,,,')
  const countyCsv = (await reader.get(url(COUNTY, 'csv'))).body.trimEnd().split('\r\n')
  t.equal(countyCsv.length, 1 + 3 + 1, 'a county: one line per project and the total')
  t.notOk(countyCsv[0]!.includes('所在村'))

  // HTML: a printable page with the region's full name, the year, the totals; text escaped.
  const html = await reader.get(url(TOWNSHIP, 'html'))
  t.match(html.headers['content-type'], /^text\/html; charset=utf-8/)
  t.match(html.body, '<h1>河南省三门峡市卢氏县杜关镇2019年度扶贫项目资金公告公示</h1>')
  t.match(html.body, /@page \{ size: A4 landscape;/)
  t.match(html.body, 'thead { display: table-header-group; }')
  t.match(html.body, '杜关镇食用菌产业基地&lt;script&gt;alert(1)&lt;/script&gt;')
  t.notOk(html.body.includes('<script>'), 'no markup from the data')
  t.match(html.body, /<tr class="total"><td colspan="2">合计<\/td><td colspan="4">2个项目<\/td>.*180,<wbr>000\.50.*6,<wbr>500\.25/)
  t.match(html.body, '其中：龙王庙村')

  // Nothing personal in any format, at any level.
  for (const region of [COUNTY, TOWNSHIP, VILLAGE]) {
    for (const format of ['json', 'csv', 'html']) {
      const body = (await reader.get(url(region, format))).body
      for (const secret of [...ids, '孙有田', '钱满仓', '赵桂芝', '13812345678', '6222020200199988877', '6222020200112233445', '8877', 'SERIOUS_ILLNESS', '大病', h1.id]) {
        t.notOk(body.includes(secret), `${region} ${format} does not contain ${secret}`)
      }
    }
  }

  // A year without projects: an empty disclosure, totals 0.
  const empty = (await reader.get(url(COUNTY, 'json', 2030))).json()
  t.same([empty.projects, empty.totals.allocated, empty.totals.projects], [[], 0, 0])
  t.match((await reader.get(url(COUNTY, 'html', 2030))).body, '本年度无项目资金安排')
})

t.test('area and role rules: another county, a village asking for its township, EXCHANGE — refused with nothing disclosed', async (t) => {
  const app = await buildApp(t)
  await seedProject(app, { regionCode: VILLAGE, name: '区域规则测试项目', allocations: [{ source: 'CENTRAL', amount: 1234, date: '2021-02-01' }] })
  const cases: Array<[string, Client, string, number]> = [
    ['another county\'s officer', app.as({ sub: uniqueSub('o'), role: 'OPERATOR', region: '411282' }), COUNTY, 403],
    ['another county\'s admin asking for a village', app.as({ sub: uniqueSub('o'), role: 'ADMIN', region: '411282' }), VILLAGE, 403],
    ['a village officer asking for the township', app.as({ sub: uniqueSub('o'), role: 'VIEWER', region: SIBLING }), TOWNSHIP, 403],
    ['a sibling village', app.as({ sub: uniqueSub('o'), role: 'VIEWER', region: SIBLING }), VILLAGE, 403],
    ['EXCHANGE', app.as({ sub: uniqueSub('x'), role: 'EXCHANGE', dept: 'civil_affairs', region: COUNTY }), COUNTY, 403]
  ]
  for (const [who, client, region, status] of cases) {
    for (const format of ['json', 'csv', 'html']) {
      const res = await client.get(url(region, format, 2021))
      t.equal(res.statusCode, status, `${who}, ${format}`)
      t.match(res.headers['content-type'], /application\/problem\+json/)
      t.notOk(res.body.includes('区域规则测试项目') || res.body.includes('1234'), 'nothing of the disclosure')
    }
  }
  const own = app.as({ sub: uniqueSub('v'), role: 'VIEWER', region: VILLAGE })
  t.equal((await own.get(url(VILLAGE, 'json', 2021))).json().projects[0].name, '区域规则测试项目', 'the village\'s own officer reads it')
  t.equal((await app.app.inject({ method: 'GET', url: url(VILLAGE, 'json', 2021) })).statusCode, 401, 'no token: 401')
})

t.test('bad parameters: 400 naming the field, never a 500', async (t) => {
  const app = await buildApp(t)
  const admin = app.as({ sub: uniqueSub('a'), role: 'ADMIN', region: '41' })
  const cases: Array<[string, string, number]> = [
    ['?year=2019', 'querystring.region', 400],
    [`?region=${COUNTY}`, 'querystring.year', 400],
    [`?region=${COUNTY}&year=abc`, 'querystring.year', 400],
    [`?region=${COUNTY}&year=1999`, 'querystring.year', 400],
    [`?region=${COUNTY}&year=2019.5`, 'querystring.year', 400],
    ['?region=41122&year=2019', 'querystring.region', 400],
    ['?region=4112%27--&year=2019', 'querystring.region', 400],
    ['?region=4112&year=2019', 'querystring.region', 400],
    ['?region=41&year=2019', 'querystring.region', 400],
    [`?region=${COUNTY}&year=2019&format=pdf`, 'querystring.format', 400],
    [`?region=${COUNTY}&year=2019&format=html&x=1`, 'querystring.x', 400]
  ]
  for (const [query, path, status] of cases) {
    const res = await admin.get(`/api/v1/disclosures/funds${query}`)
    t.equal(res.statusCode, status, query)
    t.match(res.headers['content-type'], /application\/problem\+json/, query)
    t.ok(res.json().errors?.some((e: any) => e.path === path), `${query} names ${path}: ${res.body}`)
  }
  const unknown = await admin.get('/api/v1/disclosures/funds?region=411224999&year=2019')
  t.equal(unknown.statusCode, 404, 'a region that does not exist: 404')
})

t.test('amounts on the printed page: thousands separated (a break allowed only after a separator), 2 decimals, as Intl formats them', async (t) => {
  fc.assert(fc.property(fc.integer({ min: -99_999_999_999_999, max: 99_999_999_999_999 }), (fen) => {
    const v = fen / 100
    return yuan(v).replaceAll('<wbr>', '') === v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2, useGrouping: true })
  }), { numRuns: 2000 })
  t.equal(yuan(98765432.1), '98,<wbr>765,<wbr>432.10')
})
