import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { householdInput } from './fixtures.js'
import { buildApp, freshDatabase, uniqueSub, type Client, type TestApp } from './helper.js'
import { pageBothWays } from './paging.js'

const VILLAGE = '411224101201' // 龙王庙村, 杜关镇, 卢氏县
const SIBLING = '411224101202' // 郭家村, the same township
const TOWNSHIP = '411224101' // 杜关镇
const OTHER_VILLAGE = '411224102200' // 五里川村, another township of the county
const COUNTY = '411224' // 卢氏县
const OTHER_COUNTY = '411282' // 灵宝市

const PROJECT = 'id code name category status plannedStart plannedEnd actualStart actualEnd approvedAt budget allocated paid version region { code level }'
const CREATE = `mutation ($i: ProjectInput!) { createProject(input: $i) { ${PROJECT} } }`
const APPROVE = `mutation ($id: ID!) { approveProject(id: $id) { ${PROJECT} } }`
const STATUS = `mutation ($id: ID!, $s: ProjectStatus!, $v: Int!) { setProjectStatus(id: $id, status: $s, expectedVersion: $v) { ${PROJECT} } }`
const LINK = 'mutation ($p: ID!, $h: [ID!]!) { linkBeneficiaries(projectId: $p, householdIds: $h) { id beneficiaries { id } } }'
const ALLOCATE = 'mutation ($p: ID!, $i: AllocationInput!) { allocateFunds(projectId: $p, input: $i) { id source amount documentNo date } }'
const PAY = 'mutation ($p: ID!, $i: PaymentInput!) { recordPayment(projectId: $p, input: $i) { id amount date account reference household { id } member { id name } } }'
const GET = `query ($id: ID!) { project(id: $id) { ${PROJECT} beneficiaries { id householdNo } beneficiaryLinks { household { id } measure { id kind } linkedAt }
  allocations { id source amount documentNo date } payments { id amount date account household { id } member { id } } } }`

async function ok<T = any> (client: Client, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await client.gql(query, variables)
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data
}
const codeOf = (res: { errors?: Array<{ extensions: { code: string } }> }): string | undefined => res.errors?.[0]?.extensions.code
const fieldsOf = (res: { errors?: Array<{ extensions: { fields?: Array<{ path: string }> } }> }): string[] | undefined => res.errors?.[0]?.extensions.fields?.map(f => f.path)

interface Setup {
  h: TestApp
  operator: Client
  reviewer: Client
  viewer: Client
}

function clients (h: TestApp): Setup {
  return {
    h,
    operator: h.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: COUNTY }),
    reviewer: h.as({ sub: uniqueSub('rev'), role: 'REVIEWER', region: COUNTY }),
    viewer: h.as({ sub: uniqueSub('view'), role: 'VIEWER', region: COUNTY })
  }
}

async function household (client: Client, village = VILLAGE): Promise<{ id: string, members: Array<{ id: string }> }> {
  const data = await ok(client, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id members { id } } }', { i: householdInput(village) })
  return data.createHousehold
}

const projectInput = (over: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ regionCode: TOWNSHIP, name: '杜关镇香菇种植基地', category: 'INDUSTRY', plannedStart: '2019-03-01', plannedEnd: '2019-12-31', budget: 500000, ...over })

async function project (s: Setup, over: Record<string, unknown> = {}): Promise<any> {
  return (await ok(s.operator, CREATE, { i: projectInput(over) })).createProject
}

/** An approved project with `allocated` yuan and the given beneficiary households. */
async function paying (s: Setup, allocated: number, households: string[]): Promise<any> {
  const p = await project(s)
  await ok(s.reviewer, APPROVE, { id: p.id })
  if (households.length > 0) await ok(s.operator, LINK, { p: p.id, h: households })
  if (allocated > 0) await ok(s.operator, ALLOCATE, { p: p.id, i: { source: 'CENTRAL', amount: allocated, documentNo: '豫财农〔2019〕1号', date: '2019-03-10' } })
  return p
}

async function count (h: TestApp, table: string, where = sql`true`): Promise<number> {
  const [row] = await queryRows<{ n: number }>(h.database.db, sql`SELECT count(*)::int AS n FROM ${sql.identifier(table)} WHERE ${where}`)
  return row!.n
}

t.test('createProject: a generated code per county and year, a given code unique, every bad field named and nothing stored', async (t) => {
  const s = clients(await buildApp(t))
  const a = await project(s)
  t.match(a, { name: '杜关镇香菇种植基地', category: 'INDUSTRY', status: 'PLANNED', budget: 500000, allocated: 0, paid: 0, version: 1, region: { code: TOWNSHIP, level: 'TOWNSHIP' }, actualStart: null })
  t.match(a.code, /^411224-2019-\d{4}$/)
  const b = await project(s, { regionCode: VILLAGE })
  t.equal(Number(b.code.slice(-4)), Number(a.code.slice(-4)) + 1, 'the next sequence number of the county and year')
  const given = `LS-${Date.now()}`
  t.equal((await project(s, { code: given })).code, given)
  const taken = await s.operator.gql(CREATE, { i: projectInput({ code: given }) })
  t.same([codeOf(taken), fieldsOf(taken)], ['BAD_USER_INPUT', ['input.code']])

  const before = await count(s.h, 'projects')
  const bad = await s.operator.gql(CREATE, { i: projectInput({ name: ' ', budget: 10.005, plannedStart: '2019-02-30', code: 'bad code!' }) })
  t.equal(codeOf(bad), 'BAD_USER_INPUT')
  t.same(fieldsOf(bad)?.sort(), ['input.budget', 'input.code', 'input.name', 'input.plannedStart'])
  for (const [over, path] of [[{ budget: 0 }, 'input.budget'], [{ budget: -5 }, 'input.budget'], [{ plannedEnd: '2018-12-31' }, 'input.plannedEnd'], [{ regionCode: '4112' }, 'input.regionCode'], [{ regionCode: '411224999' }, 'input.regionCode']] as const) {
    const res = await s.operator.gql(CREATE, { i: projectInput(over) })
    t.same([codeOf(res), fieldsOf(res)], ['BAD_USER_INPUT', [path]], JSON.stringify(over))
  }
  t.equal(await count(s.h, 'projects'), before, 'nothing stored')
})

t.test('who may create: a county project needs a county-level writer; another region is FORBIDDEN; REVIEWER, VIEWER, AUDITOR and EXCHANGE may not write', async (t) => {
  const s = clients(await buildApp(t))
  const township = s.h.as({ sub: uniqueSub(), role: 'OPERATOR', region: TOWNSHIP })
  t.equal(codeOf(await township.gql(CREATE, { i: projectInput({ regionCode: COUNTY }) })), 'FORBIDDEN', 'a township writer cannot place a project at county level')
  t.equal((await ok(township, CREATE, { i: projectInput({ regionCode: VILLAGE }) })).createProject.region.code, VILLAGE)
  t.equal((await ok(s.operator, CREATE, { i: projectInput({ regionCode: COUNTY }) })).createProject.region.code, COUNTY)
  t.equal(codeOf(await s.operator.gql(CREATE, { i: projectInput({ regionCode: '411282100' }) })), 'FORBIDDEN')
  for (const role of ['REVIEWER', 'VIEWER', 'AUDITOR'] as const) {
    t.equal(codeOf(await s.h.as({ sub: uniqueSub(), role, region: COUNTY }).gql(CREATE, { i: projectInput() })), 'FORBIDDEN', role)
  }
  t.equal(codeOf(await s.h.as({ sub: uniqueSub(), role: 'EXCHANGE', region: COUNTY, dept: 'health' }).gql(CREATE, { i: projectInput() })), 'FORBIDDEN')
})

t.test('the status flow: approval by a county reviewer, then IN_PROGRESS and COMPLETED with their dates, optimistic versions, audited', async (t) => {
  const s = clients(await buildApp(t, { clock: () => new Date('2019-05-06T08:00:00Z') }))
  const p = await project(s)
  t.equal(codeOf(await s.operator.gql(APPROVE, { id: p.id })), 'FORBIDDEN', 'an operator does not approve')
  t.equal(codeOf(await s.h.as({ sub: uniqueSub(), role: 'REVIEWER', region: TOWNSHIP }).gql(APPROVE, { id: p.id })), 'FORBIDDEN', 'a township reviewer does not approve')
  t.equal(codeOf(await s.operator.gql(STATUS, { id: p.id, s: 'APPROVED', v: 1 })), 'BAD_USER_INPUT', 'APPROVED only through approveProject')
  t.equal(codeOf(await s.operator.gql(STATUS, { id: p.id, s: 'IN_PROGRESS', v: 1 })), 'CONFLICT', 'not from PLANNED')
  const approved = (await ok(s.reviewer, APPROVE, { id: p.id })).approveProject
  t.match(approved, { status: 'APPROVED', version: 2, approvedAt: '2019-05-06T08:00:00.000Z' })
  t.equal(codeOf(await s.reviewer.gql(APPROVE, { id: p.id })), 'CONFLICT', 'approved once')
  t.equal(codeOf(await s.operator.gql(STATUS, { id: p.id, s: 'IN_PROGRESS', v: 1 })), 'CONFLICT', 'a stale version')
  t.equal((await ok(s.operator, GET, { id: p.id })).project.status, 'APPROVED', 'nothing written')
  const started = (await ok(s.operator, STATUS, { id: p.id, s: 'IN_PROGRESS', v: 2 })).setProjectStatus
  t.match(started, { status: 'IN_PROGRESS', actualStart: '2019-05-06', actualEnd: null, version: 3 })
  const done = (await ok(s.operator, STATUS, { id: p.id, s: 'COMPLETED', v: 3 })).setProjectStatus
  t.match(done, { status: 'COMPLETED', actualStart: '2019-05-06', actualEnd: '2019-05-06', version: 4 })
  t.equal(codeOf(await s.operator.gql(STATUS, { id: p.id, s: 'CANCELLED', v: 4 })), 'CONFLICT', 'COMPLETED is final')
  const cancelled = await project(s)
  t.match((await ok(s.operator, STATUS, { id: cancelled.id, s: 'CANCELLED', v: 1 })).setProjectStatus, { status: 'CANCELLED', actualEnd: null })
  await s.h.sequenced()
  const actions = await queryRows<{ action: string }>(s.h.database.db, sql`SELECT action FROM audit_events WHERE entity = 'Project' AND entity_id = ${p.id} ORDER BY at, action`)
  t.same(actions.map(a => a.action).sort(), ['project.approve', 'project.create', 'project.status', 'project.status'])
})

t.test('beneficiaries: households in the project\'s area only; a measure made from the project links both', async (t) => {
  const s = clients(await buildApp(t))
  const p = await project(s)
  const [h1, h2, far] = [await household(s.operator), await household(s.operator, SIBLING), await household(s.operator, OTHER_VILLAGE)]
  const bad = await s.operator.gql(LINK, { p: p.id, h: [h1.id, far.id, '00000000-0000-4000-8000-000000000000', 'x'] })
  t.same([codeOf(bad), fieldsOf(bad)], ['BAD_USER_INPUT', ['householdIds.1', 'householdIds.2', 'householdIds.3']])
  t.equal(await count(s.h, 'project_beneficiaries', sql`project_id = ${p.id}`), 0, 'nothing linked')
  t.same((await ok(s.operator, LINK, { p: p.id, h: [h1.id, h1.id] })).linkBeneficiaries.beneficiaries, [{ id: h1.id }])

  const added = await ok(s.operator, 'mutation ($h: ID!, $i: MeasureInput!) { addMeasure(householdId: $h, input: $i) { id project { id code } } }',
    { h: h2.id, i: { category: 'INDUSTRY', kind: 'specialty_farming', startDate: '2019-04-01', projectId: p.id } })
  t.equal(added.addMeasure.project.id, p.id)
  const outside = await s.operator.gql('mutation ($h: ID!, $i: MeasureInput!) { addMeasure(householdId: $h, input: $i) { id } }',
    { h: far.id, i: { category: 'INDUSTRY', kind: 'specialty_farming', startDate: '2019-04-01', projectId: p.id } })
  t.same([codeOf(outside), fieldsOf(outside)], ['BAD_USER_INPUT', ['input.projectId']])
  const got = (await ok(s.viewer, GET, { id: p.id })).project
  t.same(got.beneficiaries.map((b: any) => b.id), [h1.id, h2.id])
  t.same(got.beneficiaryLinks.map((l: any) => [l.household.id, l.measure?.id ?? null]), [[h1.id, null], [h2.id, added.addMeasure.id]])
  // Linking again keeps the link and its measure.
  await ok(s.operator, LINK, { p: p.id, h: [h2.id] })
  t.same((await ok(s.viewer, GET, { id: p.id })).project.beneficiaryLinks.map((l: any) => l.measure?.id ?? null), [null, added.addMeasure.id])
})

t.test('funds: allocations by source; payments only to beneficiaries, of a member of theirs, while APPROVED or IN_PROGRESS, within the allocation', async (t) => {
  const s = clients(await buildApp(t))
  const [h1, h2, stranger] = [await household(s.operator), await household(s.operator), await household(s.operator)]
  const p = await project(s)
  await ok(s.operator, LINK, { p: p.id, h: [h1.id, h2.id] })
  const pay = (i: Record<string, unknown>): Promise<any> => s.operator.gql(PAY, { p: p.id, i: { householdId: h1.id, amount: 100, date: '2019-06-01', ...i } })
  t.equal(codeOf(await pay({})), 'CONFLICT', 'not before approval')
  await ok(s.reviewer, APPROVE, { id: p.id })
  const badAlloc = await s.operator.gql(ALLOCATE, { p: p.id, i: { source: 'CENTRAL', amount: 1.234, documentNo: ' ', date: '2019-13-01' } })
  t.same(fieldsOf(badAlloc)?.sort(), ['input.amount', 'input.date', 'input.documentNo'])
  const a1 = (await ok(s.operator, ALLOCATE, { p: p.id, i: { source: 'CENTRAL', amount: 300.5, documentNo: '豫财农〔2019〕12号', date: '2019-03-10' } })).allocateFunds
  t.match(a1, { source: 'CENTRAL', amount: 300.5, documentNo: '豫财农〔2019〕12号', date: '2019-03-10' })
  await ok(s.operator, ALLOCATE, { p: p.id, i: { source: 'INTEGRATED', amount: 200, documentNo: '卢财预〔2019〕3号', date: '2019-04-02' } })

  const before = await count(s.h, 'fund_payments')
  t.same(fieldsOf(await pay({ amount: 10.001 })), ['input.amount'], 'at most 2 decimals')
  t.same(fieldsOf(await pay({ amount: 0 })), ['input.amount'], 'more than 0')
  t.same(fieldsOf(await pay({ householdId: stranger.id })), ['input.householdId'], 'not a beneficiary')
  t.same(fieldsOf(await pay({ memberId: h2.members[0]!.id })), ['input.memberId'], 'a member of another household')
  t.same(fieldsOf(await pay({ account: '12ab' })), ['input.account'])
  t.same(fieldsOf(await pay({ amount: 500.51 })), ['input.amount'], 'above the allocation')
  t.equal(await count(s.h, 'fund_payments'), before, 'nothing stored')

  const paid = (await ok(s.operator, PAY, { p: p.id, i: { householdId: h1.id, memberId: h1.members[0]!.id, amount: 500.49, date: '2019-06-01', account: '6222 0202 0011 2233 445', reference: 'V-1' } })).recordPayment
  t.match(paid, { amount: 500.49, account: '6222020200112233445', reference: 'V-1', household: { id: h1.id }, member: { id: h1.members[0]!.id } })
  t.same(fieldsOf(await pay({ amount: 0.02 })), ['input.amount'], '0.01 yuan left')
  t.equal(codeOf(await pay({ amount: 0.01, reference: 'V-1' })), 'CONFLICT', 'a reference is paid once')
  await ok(s.operator, PAY, { p: p.id, i: { householdId: h2.id, amount: 0.01, date: '2019-06-02' } })
  const got = (await ok(s.operator, GET, { id: p.id })).project
  t.match(got, { allocated: 500.5, paid: 500.5 })
  t.same(got.allocations.map((a: any) => a.source), ['CENTRAL', 'INTEGRATED'])

  // Sealed at rest, masked for VIEWER, masked in the audit trail.
  const [row] = await queryRows<{ account_sealed: string }>(s.h.database.db, sql`SELECT account_sealed FROM fund_payments WHERE id = ${paid.id}`)
  t.match(row!.account_sealed, /^v1\./)
  t.notOk(row!.account_sealed.includes('2233445'))
  t.equal((await ok(s.viewer, GET, { id: p.id })).project.payments[0].account, '***************3445')
  await s.h.sequenced()
  const [entry] = await queryRows<{ after: string }>(s.h.database.db, sql`SELECT after::text AS after FROM audit_events WHERE entity = 'Payment' AND entity_id = ${paid.id}`)
  t.notOk(entry!.after.includes('6222020200112233445'), 'the audit entry holds no account number')
  t.match(entry!.after, /3445/)

  // Not once COMPLETED.
  await ok(s.operator, STATUS, { id: p.id, s: 'IN_PROGRESS', v: 2 })
  await ok(s.operator, STATUS, { id: p.id, s: 'COMPLETED', v: 3 })
  t.equal(codeOf(await s.operator.gql(ALLOCATE, { p: p.id, i: { source: 'CITY', amount: 1, documentNo: 'x', date: '2019-07-01' } })), 'CONFLICT')
  t.equal(codeOf(await pay({ amount: 0.01 })), 'CONFLICT')
})

t.test('out of area: another county\'s users can neither see nor change a project, its funds or payments', async (t) => {
  const s = clients(await buildApp(t))
  const h1 = await household(s.operator)
  const p = await paying(s, 100, [h1.id])
  await ok(s.operator, PAY, { p: p.id, i: { householdId: h1.id, amount: 10, date: '2019-06-01' } })
  const other = s.h.as({ sub: uniqueSub(), role: 'ADMIN', region: OTHER_COUNTY })
  const sibling = s.h.as({ sub: uniqueSub(), role: 'OPERATOR', region: '411224102' })
  for (const c of [other, sibling]) {
    t.equal(codeOf(await c.gql(GET, { id: p.id })), 'NOT_FOUND')
    t.equal(codeOf(await c.gql(STATUS, { id: p.id, s: 'CANCELLED', v: 2 })), 'NOT_FOUND')
    t.equal(codeOf(await c.gql(LINK, { p: p.id, h: [h1.id] })), 'NOT_FOUND')
    t.equal(codeOf(await c.gql(ALLOCATE, { p: p.id, i: { source: 'CITY', amount: 1, documentNo: 'x', date: '2019-07-01' } })), 'NOT_FOUND')
    t.equal(codeOf(await c.gql(PAY, { p: p.id, i: { householdId: h1.id, amount: 1, date: '2019-06-01' } })), 'NOT_FOUND')
    const list = await ok(c, 'query { projects(first: 200) { edges { node { id } } } }')
    t.notOk(list.projects.edges.some((e: any) => e.node.id === p.id), 'not listed')
    t.equal((await c.get(`/api/v1/projects/${p.id}`)).statusCode, 404)
    t.equal((await c.post(`/api/v1/projects/${p.id}/payments`, { householdId: h1.id, amount: 1, date: '2019-06-01' })).statusCode, 404)
  }
  t.equal(codeOf(await other.gql('query ($r: String) { projects(filter: { regionCode: $r }) { totalCount } }', { r: COUNTY })), 'FORBIDDEN')
  t.equal(codeOf(await s.h.as({ sub: uniqueSub(), role: 'REVIEWER', region: OTHER_COUNTY }).gql(APPROVE, { id: p.id })), 'NOT_FOUND')
  const got = (await ok(s.operator, GET, { id: p.id })).project
  t.match(got, { status: 'APPROVED', allocated: 100, paid: 10, version: 2 }, 'untouched')
})

t.test('projects: filters and Relay pages both ways', async (t) => {
  const s = clients(await buildApp(t))
  const village = s.h.as({ sub: uniqueSub(), role: 'OPERATOR', region: SIBLING })
  const ids: string[] = []
  for (let i = 0; i < 5; i++) ids.push((await ok(village, CREATE, { i: projectInput({ regionCode: SIBLING, category: i % 2 === 0 ? 'INDUSTRY' : 'HOUSING' }) })).createProject.id)
  const listed = await pageBothWays(t, village, { field: 'projects', select: 'id', idOf: n => n.id }, 2)
  t.same([...listed].sort(), [...ids].sort())
  const housing = await ok(s.viewer, 'query ($f: ProjectFilter) { projects(filter: $f) { totalCount edges { node { id category } } } }', { f: { regionCode: SIBLING, category: 'HOUSING' } })
  t.equal(housing.projects.totalCount, 2)
  t.equal(codeOf(await s.viewer.gql('query { projects(first: 0) { totalCount } }')), 'BAD_USER_INPUT')
})

t.test('nested fields are batched: a page of projects with all their lists costs a fixed number of statements', async (t) => {
  const statements: string[] = []
  const database = await freshDatabase({ onQuery: (q) => { statements.push(q) } })
  const s = clients(await buildApp(t, { database }))
  const hs = [await household(s.operator), await household(s.operator)]
  for (let i = 0; i < 4; i++) {
    const p = await paying(s, 50, hs.map(h => h.id))
    await ok(s.operator, PAY, { p: p.id, i: { householdId: hs[0]!.id, memberId: hs[0]!.members[1]!.id, amount: 5, date: '2019-06-01', account: '622202020011223344' } })
  }
  const query = 'query { projects(first: 50) { edges { node { id region { name } beneficiaries { id region { code } } allocations { amount } payments { amount household { id } member { name } } beneficiaryLinks { measure { id } } } } } }'
  statements.length = 0
  const few = await ok(s.viewer, query)
  const fewCount = statements.length
  for (let i = 0; i < 6; i++) await paying(s, 50, hs.map(h => h.id))
  statements.length = 0
  const many = await ok(s.viewer, query)
  t.equal(few.projects.edges.length, 4)
  t.equal(many.projects.edges.length, 10)
  t.equal(statements.length, fewCount, `as many statements for 10 projects as for 4 (${fewCount})`)
  t.equal(many.projects.edges.find((e: any) => e.node.payments.length > 0).node.payments[0].member.name, '李秀英')
})

t.test('REST /api/v1/projects: create, list, get, approve, status, beneficiaries, allocations, payments; problems name the field', async (t) => {
  const s = clients(await buildApp(t))
  const h1 = await household(s.operator)
  const created = await s.operator.post('/api/v1/projects', projectInput({ name: '龙王庙村光伏电站', category: 'INDUSTRY', regionCode: VILLAGE }))
  t.equal(created.statusCode, 201)
  const p = created.json()
  t.match(p, { name: '龙王庙村光伏电站', status: 'PLANNED', regionCode: VILLAGE, version: 1 })
  const bad = await s.operator.post('/api/v1/projects', projectInput({ budget: 1.001 }))
  t.equal(bad.statusCode, 400)
  t.match(bad.headers['content-type'], /application\/problem\+json/)
  t.same(bad.json().errors.map((e: any) => e.path), ['input.budget'])
  t.equal((await s.operator.post(`/api/v1/projects/${p.id}/approve`, {})).statusCode, 403)
  t.equal((await s.reviewer.post(`/api/v1/projects/${p.id}/approve`, {})).json().status, 'APPROVED')
  t.equal((await s.operator.post(`/api/v1/projects/${p.id}/status`, { status: 'IN_PROGRESS', expectedVersion: 1 })).statusCode, 409)
  t.equal((await s.operator.post(`/api/v1/projects/${p.id}/status`, { status: 'IN_PROGRESS', expectedVersion: 2 })).json().status, 'IN_PROGRESS')
  t.equal((await s.operator.post(`/api/v1/projects/${p.id}/beneficiaries`, { householdIds: [h1.id] })).statusCode, 200)
  const alloc = await s.operator.post(`/api/v1/projects/${p.id}/allocations`, { source: 'PROVINCE', amount: 80, documentNo: '豫财农〔2019〕5号', date: '2019-03-01' })
  t.equal(alloc.statusCode, 201)
  const over = await s.operator.post(`/api/v1/projects/${p.id}/payments`, { householdId: h1.id, amount: 80.01, date: '2019-06-01' })
  t.same([over.statusCode, over.json().errors.map((e: any) => e.path)], [400, ['input.amount']])
  const paid = await s.operator.post(`/api/v1/projects/${p.id}/payments`, { householdId: h1.id, amount: 80, date: '2019-06-01', account: '6222020200112233445' })
  t.equal(paid.statusCode, 201)
  const doc = (await s.viewer.get(`/api/v1/projects/${p.id}`)).json()
  t.match(doc, { allocated: 80, paid: 80, status: 'IN_PROGRESS' })
  t.same(doc.beneficiaries.map((b: any) => b.householdId), [h1.id])
  t.same(doc.allocations.map((a: any) => [a.source, a.amount]), [['PROVINCE', 80]])
  t.equal(doc.payments[0].account, '***************3445', 'masked for VIEWER')
  const list = (await s.viewer.get(`/api/v1/projects?region=${VILLAGE}&status=IN_PROGRESS&limit=200`)).json()
  t.ok(list.items.some((x: any) => x.id === p.id))
  t.equal((await s.viewer.get('/api/v1/projects?region=4113')).statusCode, 403)
  t.equal((await s.viewer.get('/api/v1/projects?status=DONE')).statusCode, 400)
})

t.test('the paid ≤ allocated guard holds under 20 concurrent payments', async (t) => {
  const s = clients(await buildApp(t))
  const hs = [await household(s.operator), await household(s.operator)]
  const p = await paying(s, 1000, hs.map(h => h.id))
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    s.operator.gql(PAY, { p: p.id, i: { householdId: hs[i % 2]!.id, amount: 150, date: '2019-06-01' } })))
  const paid = results.filter(r => r.errors === undefined).length
  const refused = results.filter(r => codeOf(r) === 'BAD_USER_INPUT' && fieldsOf(r)?.[0] === 'input.amount').length
  t.same([paid, refused], [6, 14], '6 × 150 fit in 1,000; the other 14 are refused naming input.amount')
  const [sums] = await queryRows<{ paid: string, total: string, allocated: string }>(s.h.database.db,
    sql`SELECT p.paid::text AS paid, p.allocated::text AS allocated, (SELECT sum(amount) FROM fund_payments WHERE project_id = p.id)::text AS total FROM projects p WHERE id = ${p.id}`)
  t.same(sums, { paid: '900.00', allocated: '1000.00', total: '900.00' })
})
