import { sql } from 'drizzle-orm'
import { queryRows } from '../src/db/index.js'
import t from 'tap'
import { buildApp, uniqueSub } from './helper.js'

const REGION = `query ($code: String!) { region(code: $code) { code name level isPoor isDeepPoverty exitYear ruralPopulation version parent { code name } children { code name level } } }`
const UPDATE = `mutation ($code: String!, $v: Int!, $input: RegionPatch!) { updateRegion(code: $code, expectedVersion: $v, input: $input) { code version isPoor isDeepPoverty ruralPopulation exitYear } }`

t.test('region(code) shows 卢氏县 with its parent and its townships', async (t) => {
  const { as } = await buildApp(t)
  const viewer = as({ sub: uniqueSub(), role: 'VIEWER', region: '411224101201' })
  const res = await viewer.gql(REGION, { code: '411224' })
  t.equal(res.errors, undefined)
  const r = res.data.region
  t.match(r, { code: '411224', name: '卢氏县', level: 'COUNTY', isPoor: true, isDeepPoverty: true, parent: { code: '4112', name: '三门峡市' } })
  t.equal(r.children.length, 20)
  t.ok(r.children.every((c: { level: string, code: string }) => c.level === 'TOWNSHIP' && c.code.startsWith('411224')))
  t.same(r.children.slice(0, 2).map((c: { name: string }) => c.name), ['兴贤里街道', '城关镇'])
})

t.test('a missing region is NOT_FOUND and a malformed code BAD_USER_INPUT', async (t) => {
  const { as } = await buildApp(t)
  const user = as({ sub: uniqueSub(), role: 'OPERATOR', region: '4112' })
  const missing = await user.gql(REGION, { code: '411299' })
  t.equal(missing.data.region, null)
  t.equal(missing.errors?.[0]?.extensions.code, 'NOT_FOUND')
  const bad = await user.gql(REGION, { code: '4112x' })
  t.equal(bad.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.same(bad.errors?.[0]?.extensions.fields?.map(f => f.path), ['code'])
})

t.test('REST: GET /api/v1/regions/{code} with children; problem+json for 400 and 404', async (t) => {
  const { as } = await buildApp(t)
  const user = as({ sub: uniqueSub(), role: 'AUDITOR', region: '411224' })
  const ok = await user.get('/api/v1/regions/411224101')
  t.equal(ok.statusCode, 200)
  const body = ok.json()
  t.match(body, { code: '411224101', name: '杜关镇', level: 'TOWNSHIP', parentCode: '411224' })
  t.ok(body.children.some((c: { code: string, name: string }) => c.code === '411224101201' && c.name === '龙王庙村村委会'))
  const missing = await user.get('/api/v1/regions/411224999')
  t.equal(missing.statusCode, 404)
  t.match(missing.headers['content-type'], 'application/problem+json')
  t.match(missing.json(), { status: 404, title: 'Not Found', code: 'NOT_FOUND', type: 'urn:beneficiary-registry:problem:404' })
  const bad = await user.get('/api/v1/regions/41-12')
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { status: 400, code: 'BAD_USER_INPUT', errors: [{ path: 'params.code' }] })
})

t.test('updateRegion: ADMIN at city level changes a region in area, audited with before and after', async (t) => {
  const { as, database } = await buildApp(t)
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const village = '411224101202'
  const res = await admin.gql(UPDATE, { code: village, v: 1, input: { isPoor: true, ruralPopulation: 812 } })
  t.equal(res.errors, undefined)
  t.match(res.data.updateRegion, { code: village, version: 2, isPoor: true, ruralPopulation: 812 })
  const rows = await queryRows<{ actor_sub: string, action: string, before: unknown, after: unknown }>(database.db, 
    sql`SELECT actor_sub, action, before, after FROM audit_events WHERE entity = 'Region' AND entity_id = ${village}`)
  t.equal(rows.length, 1)
  t.match(rows[0], { action: 'region.update', before: { isPoor: false, ruralPopulation: null }, after: { isPoor: true, ruralPopulation: 812 } })
})

t.test('updateRegion refuses: a stale version (CONFLICT), bad fields (BAD_USER_INPUT), and nothing is written', async (t) => {
  const { as, database } = await buildApp(t)
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const code = '411224101204'
  const snapshot = async (): Promise<unknown> => await queryRows(database.db, sql`SELECT r.*, (SELECT count(*) FROM audit_events WHERE entity_id = ${code}) AS audits FROM regions r WHERE code = ${code}`)
  const before = await snapshot()
  const stale = await admin.gql(UPDATE, { code, v: 7, input: { ruralPopulation: 10 } })
  t.equal(stale.errors?.[0]?.extensions.code, 'CONFLICT')
  const bad = await admin.gql(UPDATE, { code, v: 1, input: { ruralPopulation: -5, isDeepPoverty: true } })
  t.equal(bad.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.same(bad.errors?.[0]?.extensions.fields?.map(f => f.path).sort(), ['input.isDeepPoverty', 'input.ruralPopulation'])
  const exitYear = await admin.gql(UPDATE, { code, v: 1, input: { exitYear: 2019 } })
  t.equal(exitYear.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'the exit year is recorded by exitVillage / exitCounty only')
  const wrongType = await admin.gql(UPDATE, { code, v: 1, input: { ruralPopulation: 'many' } })
  t.equal(wrongType.status, 400)
  t.equal(wrongType.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.same(wrongType.errors?.[0]?.extensions.fields?.map(f => f.path), ['input.ruralPopulation'])
  const empty = await admin.gql(UPDATE, { code, v: 1, input: {} })
  t.equal(empty.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.same(await snapshot(), before, 'region and audit unchanged')
})

t.test('updateRegion is for ADMIN at city level or above, on regions in their area', async (t) => {
  const { as, database } = await buildApp(t)
  const code = '411224101205'
  const cases: Array<[string, { role: string, region: string }, string]> = [
    ['an OPERATOR', { role: 'OPERATOR', region: '4112' }, 'FORBIDDEN'],
    ['a REVIEWER', { role: 'REVIEWER', region: '4112' }, 'FORBIDDEN'],
    ['an AUDITOR', { role: 'AUDITOR', region: '4112' }, 'FORBIDDEN'],
    ['a VIEWER', { role: 'VIEWER', region: '4112' }, 'FORBIDDEN'],
    ['an ADMIN at county level', { role: 'ADMIN', region: '411224' }, 'FORBIDDEN'],
    ['an ADMIN at village level of that very village', { role: 'ADMIN', region: code }, 'FORBIDDEN']
  ]
  for (const [who, claims, expected] of cases) {
    const res = await as({ sub: uniqueSub(), ...claims }).gql(UPDATE, { code, v: 1, input: { ruralPopulation: 1 } })
    t.equal(res.errors?.[0]?.extensions.code, expected, who)
  }
  // The province is the city admin's parent: outside the area.
  const parent = await as({ sub: uniqueSub(), role: 'ADMIN', region: '4112' }).gql(UPDATE, { code: '41', v: 1, input: { ruralPopulation: 1 } })
  t.equal(parent.errors?.[0]?.extensions.code, 'FORBIDDEN', 'a parent region is outside the area')
  const rows = await queryRows<{ version: number }>(database.db, sql`SELECT version FROM regions WHERE code IN (${code}, '41')`)
  t.same(rows.map(r => r.version), [1, 1], 'nothing changed')
  const province = await as({ sub: uniqueSub(), role: 'ADMIN', region: '41' }).gql(UPDATE, { code, v: 1, input: { ruralPopulation: 1 } })
  t.equal(province.errors, undefined, 'an ADMIN at province level may')
})

t.test('povertyLines lists the seeded lines', async (t) => {
  const { as } = await buildApp(t)
  const res = await as({ sub: uniqueSub(), role: 'VIEWER', region: '4112' }).gql('{ povertyLines { year amount } }')
  t.same(res.data.povertyLines.map((l: { year: number, amount: number }) => [l.year, l.amount]),
    [[2014, 2800], [2015, 2855], [2016, 2952], [2017, 3335], [2018, 3535], [2019, 3747], [2020, 4000]])
})
