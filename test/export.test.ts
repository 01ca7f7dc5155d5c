import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { generateDemoData } from '../src/db/demo-data.js'
import { EXPORT_BATCH } from '../src/modules/households/households-service.js'
import { Sealer } from '../src/shared/sealing.js'
import { householdInput } from './fixtures.js'
import { buildApp, freshDatabase, TEST_DATA_KEY, uniqueSub, type Client } from './helper.js'

const TOWNSHIP = '411224101' // 杜关镇, 卢氏县
const VILLAGE = '411224101201' // one of its villages
const OTHER_COUNTY_VILLAGE = '411221100001' // 渑池县
const HOUSEHOLDS = 1_200

const lines = (body: string): any[] => body.split('\n').filter(l => l !== '').map(l => JSON.parse(l))

async function create (client: Client, village: string): Promise<{ id: string }> {
  const res = await client.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(village) })
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data.createHousehold
}

t.test('export: NDJSON of every household in area, in id order, in keyset batches, each line as GET /households/{id} answers it', async (t) => {
  const statements: string[] = []
  const database = await freshDatabase({ onQuery: (q) => { statements.push(q) } })
  const { as, app } = await buildApp(t, { database })
  const sealer = new Sealer(Buffer.from(TEST_DATA_KEY, 'base64'))
  await generateDemoData(database.db, sealer, { households: HOUSEHOLDS, region: TOWNSHIP, seed: 7 })
  const elsewhere = await create(as({ sub: uniqueSub('op'), role: 'OPERATOR', region: OTHER_COUNTY_VILLAGE }), OTHER_COUNTY_VILLAGE)
  t.ok(HOUSEHOLDS > 2 * EXPORT_BATCH, 'more than two batches')

  const sub = uniqueSub('reviewer')
  const reviewer = as({ sub, role: 'REVIEWER', region: TOWNSHIP })
  statements.length = 0
  const res = await reviewer.get('/api/v1/households/export')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/x-ndjson/)
  const docs = lines(res.body)
  t.equal(docs.length, HOUSEHOLDS, 'every household of the area, once')
  t.ok(res.body.endsWith('\n'), 'each line ends with a newline')
  t.ok(docs.every((d, i) => i === 0 || docs[i - 1].id < d.id), 'in id order')
  t.notOk(docs.some(d => d.id === elsewhere.id), 'nothing outside the area')
  const pages = statements.filter(s => /from "households"/.test(s) && /limit/i.test(s))
  t.equal(pages.length, Math.ceil(HOUSEHOLDS / EXPORT_BATCH), 'one keyset query per batch')
  for (const table of ['members', 'measures', 'incomes']) {
    const reading = statements.filter(s => new RegExp(`from "${table}"`, 'i').test(s))
    t.ok(reading.length === pages.length && reading.every(s => pages.includes(s)), `${table}: read in each batch's statement, and nowhere else`)
  }
  t.ok(docs.every(d => Array.isArray(d.members) && d.members.length > 0 && Array.isArray(d.measures) && Array.isArray(d.incomes)))
  t.ok(docs.some(d => d.measures.length > 0) && docs.some(d => d.incomes.length > 0), 'measures and incomes included')
  for (const i of [0, EXPORT_BATCH - 1, EXPORT_BATCH, HOUSEHOLDS - 1]) {
    t.same(docs[i], (await reviewer.get(`/api/v1/households/${docs[i].id}`)).json(), `line ${i + 1} is the household's document`)
  }
  t.match(docs[0].members[0].nationalId, /^\d{17}[\dX]$/, 'in the clear for a reviewer')

  // The export is audited as a read: who, which region, how many; no personal data.
  const [audit] = await queryRows<Record<string, unknown>>(database.db, sql`SELECT * FROM audit_events WHERE action = 'household.export' ORDER BY id DESC LIMIT 1`)
  t.match(audit, { actor_sub: sub, actor_role: 'REVIEWER', entity: 'Export', region_code: TOWNSHIP, after: { region: TOWNSHIP, households: HOUSEHOLDS } })
  t.notMatch(JSON.stringify(audit), /\d{17}[\dX]/, 'no national ID in the audit entry')

  // A region filter narrows the export.
  const village = lines((await reviewer.get(`/api/v1/households/export?region=${VILLAGE}`)).body)
  t.ok(village.length > 0 && village.length < HOUSEHOLDS)
  t.ok(village.every(d => d.regionCode === VILLAGE))
  t.equal(village.length, Number((await queryRows<{ n: string }>(database.db, sql`SELECT count(*) AS n FROM households WHERE region_code = ${VILLAGE}`))[0]!.n))

  // VIEWER: the same lines, masked as GET /households/{id} masks them.
  const viewer = as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: VILLAGE })
  const masked = lines((await viewer.get('/api/v1/households/export')).body)
  t.equal(masked.length, village.length)
  t.same(masked[0], (await viewer.get(`/api/v1/households/${masked[0].id}`)).json())
  t.ok(masked.flatMap(d => d.members).every((m: { nationalId: string }) => /^\d{6}\*{8}[\dX]{4}$/.test(m.nationalId)), 'every national ID masked')
  t.ok(masked.filter(d => d.phone !== null).every(d => /^\d{3}\*{4}\d{4}$/.test(d.phone)), 'phones masked')
  t.ok(masked.filter(d => d.bankAccount !== null).every(d => /^\*+\d{4}$/.test(d.bankAccount)), 'bank accounts masked')
  t.notMatch(JSON.stringify(masked), /\d{17}[\dX]/, 'no national ID in the clear anywhere')
  t.ok(masked.flatMap(d => d.members).every((m: { birthDate: string }) => /^\d{4}$/.test(m.birthDate)), 'birth year only beside the masked IDs')
  t.ok(docs.flatMap(d => d.members).every((m: { birthDate: string }) => /^\d{4}-\d{2}-\d{2}$/.test(m.birthDate)), 'the full date for a reviewer')

  // Backpressure: a reader that takes nothing holds the export after the first batches.
  statements.length = 0
  const streamed = await app.inject({ method: 'GET', url: '/api/v1/households/export', headers: { authorization: `Bearer ${reviewer.token}` }, payloadAsStream: true })
  const pageQueries = (): number => statements.filter(s => /from "households"/.test(s) && /limit/i.test(s)).length
  for (let i = 0; i < 100 && pageQueries() === 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
  await new Promise(resolve => setTimeout(resolve, 500))
  t.ok(pageQueries() < Math.ceil(HOUSEHOLDS / EXPORT_BATCH), `the export waits for its reader (${pageQueries()} batches read)`)
  let text = ''
  for await (const chunk of streamed.stream()) text += String(chunk)
  t.equal(lines(text).length, HOUSEHOLDS, 'and finishes once read')
})

t.test('export: area rules, roles and bad input', async (t) => {
  const { as } = await buildApp(t)
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const mine = await create(op, VILLAGE)
  const sibling = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224101202' })
  const siblingRes = await sibling.get('/api/v1/households/export')
  t.equal(siblingRes.statusCode, 200)
  t.notMatch(siblingRes.body, mine.id, 'a sibling village gets nothing of this one')
  const otherCounty = as({ sub: uniqueSub('op'), role: 'ADMIN', region: '411221' })
  t.notMatch((await otherCounty.get('/api/v1/households/export')).body, mine.id, 'another county gets nothing')
  for (const [client, url] of [[sibling, `/api/v1/households/export?region=${VILLAGE}`], [otherCounty, '/api/v1/households/export?region=411224'], [op, '/api/v1/households/export?region=4112']] as const) {
    const res = await client.get(url)
    t.equal(res.statusCode, 403, url)
    t.match(res.headers['content-type'], 'application/problem+json')
    t.match(res.json(), { code: 'FORBIDDEN' })
  }
  for (const url of ['/api/v1/households/export?region=41122', '/api/v1/households/export?region=abc', '/api/v1/households/export?region=']) {
    const res = await op.get(url)
    t.equal(res.statusCode, 400, url)
    t.same(res.json().errors.map((e: { path: string }) => e.path), ['querystring.region'])
  }
  t.same((await op.get('/api/v1/households/export?format=pdf')).json().errors.map((e: { path: string }) => e.path), ['querystring.format'])
  const exchange = as({ sub: uniqueSub(), role: 'EXCHANGE', region: '4112', dept: 'civil_affairs' })
  t.equal((await exchange.get('/api/v1/households/export')).statusCode, 403, 'EXCHANGE does not read records')
  const own = lines((await op.get('/api/v1/households/export')).body)
  t.same(own.map(d => d.id), [mine.id])
  t.same(own[0], (await op.get(`/api/v1/households/${mine.id}`)).json())
})
