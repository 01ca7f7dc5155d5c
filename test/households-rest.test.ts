import t from 'tap'
import { householdInput } from './fixtures.js'
import { buildApp, freshDatabase, uniqueSub } from './helper.js'

const VILLAGE = '411224101201'

t.test('REST reads: a household with members, measures and incomes; pages with nextCursor; the same area rules and masking', async (t) => {
  const { as } = await buildApp(t, { database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id members { nationalId } } }', { i: householdInput(VILLAGE) })
    ids.push(res.data.createHousehold.id)
  }
  await op.gql(`mutation { recordIncome(householdId: "${ids[0]}", input: { year: 2019, wage: 6000, business: 0, property: 0, transfer: 0, expenses: 0 }) { year } }`)
  await op.gql(`mutation { addMeasure(householdId: "${ids[0]}", input: { category: INDUSTRY, kind: "solar", startDate: "2019-01-01" }) { id } }`)

  const one = await op.get(`/api/v1/households/${ids[0]}`)
  t.equal(one.statusCode, 200)
  const doc = one.json()
  t.match(doc, { id: ids[0], regionCode: VILLAGE, status: 'POOR', phone: '13812345678', bankAccount: '6222020200112233445', helper: { name: '李四' } })
  t.equal(doc.members.length, 3)
  t.match(doc.members[0], { relation: 'HEAD', nationalId: /^41\d{15}[\dX]$/ })
  t.same(doc.incomes.map((i: { year: number, perCapitaNet: number }) => [i.year, i.perCapitaNet]), [[2019, 2000]])
  t.same(doc.measures.map((m: { kind: string }) => m.kind), ['solar'])
  t.notOk('nationalIdSealed' in doc.members[0] || 'bankAccountSealed' in doc, 'no sealed columns leak')

  const page1 = await op.get('/api/v1/households?limit=2')
  t.equal(page1.statusCode, 200)
  t.equal(page1.json().items.length, 2)
  const next = page1.json().nextCursor
  t.type(next, 'string')
  const page2 = await op.get(`/api/v1/households?limit=2&cursor=${encodeURIComponent(next)}`)
  t.equal(page2.json().items.length, 1)
  t.equal(page2.json().nextCursor, null)
  t.same([...page1.json().items, ...page2.json().items].map((h: { id: string }) => h.id).sort(), [...ids].sort())

  const viewer = as({ sub: uniqueSub(), role: 'VIEWER', region: '411224' })
  const masked = (await viewer.get(`/api/v1/households/${ids[0]}`)).json()
  t.equal(masked.phone, '138****5678')
  t.equal(masked.bankAccount, '***************3445')
  t.match(masked.members[0].nationalId, /^\d{6}\*{8}[\dX]{4}$/)
  t.ok(masked.members.every((m: { birthDate: string }) => /^\d{4}$/.test(m.birthDate)), 'VIEWER: birth year only beside the masked ID')

  const other = as({ sub: uniqueSub(), role: 'OPERATOR', region: '411224101202' })
  const hidden = await other.get(`/api/v1/households/${ids[0]}`)
  t.equal(hidden.statusCode, 404)
  t.match(hidden.json(), { code: 'NOT_FOUND' })
  t.equal((await other.get('/api/v1/households/not-a-uuid')).statusCode, 404)
  t.same((await other.get('/api/v1/households')).json(), { items: [], nextCursor: null })
  const forbidden = await other.get(`/api/v1/households?region=${VILLAGE}`)
  t.equal(forbidden.statusCode, 403)
  t.match(forbidden.json(), { code: 'FORBIDDEN' })
  const bad = await op.get('/api/v1/households?limit=500&status=RICH')
  t.equal(bad.statusCode, 400)
  t.same(bad.json().errors.map((e: { path: string }) => e.path).sort(), ['querystring.limit', 'querystring.status'])
  const badCursor = await op.get('/api/v1/households?cursor=xyz')
  t.same(badCursor.json().errors.map((e: { path: string }) => e.path), ['querystring.cursor'])
  const exchange = as({ sub: uniqueSub(), role: 'EXCHANGE', region: '4112', dept: 'health' })
  t.equal((await exchange.get(`/api/v1/households/${ids[0]}`)).statusCode, 403)
})
