/**
 * 因村派人 (issue 20 item 4): work teams, helper records with their assignments, visits,
 * the households not visited, the coverage in statistics, the migration of the old
 * free-text helper fields — through the real app, on the test database.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { projectRoot } from '../src/paths.js'
import { householdInput } from './fixtures.js'
import { buildApp, freshDatabase, uniqueSub, type Client, type TestApp } from './helper.js'

const VILLAGE = '411224101201' // 龙王庙村, 杜关镇, 卢氏县
const SIBLING = '411224101200' // 杜关村, the same township
const TOWNSHIP = '411224101'
const COUNTY = '411224'
const OTHER_VILLAGE = '411221100001' // 渑池县
const TODAY = new Date().toISOString().slice(0, 10)
const daysAgo = (n: number): string => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10)

async function ok<T = any> (client: Client, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await client.gql(query, variables)
  if (res.errors !== undefined) throw new Error(`${query}: ${JSON.stringify(res.errors)}`)
  return res.data
}
const codeOf = (res: { errors?: Array<{ extensions: { code: string } }> }): string => res.errors?.[0]?.extensions.code ?? 'OK'
const fieldsOf = (res: { errors?: Array<{ extensions: { fields?: Array<{ path: string }> } }> }): string[] => res.errors?.[0]?.extensions.fields?.map(f => f.path) ?? []

const TEAM = 'id sendingUnit startedOn endedOn version region { code } firstSecretary { name role } members(includeLeft: true) { id name unit phone role joinedOn leftOn }'
const CREATE_TEAM = `mutation ($i: WorkTeamInput!) { createWorkTeam(input: $i) { ${TEAM} } }`

const teamInput = (village: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  regionCode: village,
  sendingUnit: '卢氏县农业农村局',
  startedOn: '2018-03-15',
  members: [
    { name: '赵书记', unit: '卢氏县农业农村局', phone: '13712345678', role: 'FIRST_SECRETARY' },
    { name: '钱队员', unit: '杜关镇人民政府', phone: '13787654321', role: 'MEMBER', joinedOn: '2018-04-01' }
  ],
  ...over
})

async function household (client: Client, village = VILLAGE, over: Record<string, unknown> = {}): Promise<string> {
  return (await ok(client, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(village, over) })).createHousehold.id
}

async function auditActions (app: TestApp, entityId: string): Promise<string[]> {
  const rows = await queryRows<{ action: string }>(app.database.db, sql`SELECT action FROM audit_events WHERE entity_id = ${entityId} ORDER BY id`)
  return rows.map(r => r.action)
}

t.test('work teams: created with members, paged by region, updated, ended; one first secretary, one serving team per village; audited', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: TOWNSHIP })
  const created = (await ok(op, CREATE_TEAM, { i: teamInput(VILLAGE) })).createWorkTeam
  t.match(created, { sendingUnit: '卢氏县农业农村局', startedOn: '2018-03-15', endedOn: null, version: 1, region: { code: VILLAGE }, firstSecretary: { name: '赵书记', role: 'FIRST_SECRETARY' } })
  t.same(created.members.map((m: any) => [m.name, m.role, m.joinedOn, m.phone]), [['赵书记', 'FIRST_SECRETARY', '2018-03-15', '13712345678'], ['钱队员', 'MEMBER', '2018-04-01', '13787654321']])

  const again = await op.gql(CREATE_TEAM, { i: teamInput(VILLAGE) })
  t.equal(codeOf(again), 'CONFLICT', 'one serving team per village')
  const twoSecretaries = await op.gql(CREATE_TEAM, { i: teamInput(SIBLING, { members: [{ name: '甲', role: 'FIRST_SECRETARY' }, { name: '乙', role: 'FIRST_SECRETARY' }] }) })
  t.same(fieldsOf(twoSecretaries), ['input.members.1.role'])
  const bad = await op.gql(CREATE_TEAM, { i: teamInput(TOWNSHIP, { sendingUnit: ' ', startedOn: '2031-02-30', members: [{ name: '王\u202E五', role: 'MEMBER', phone: 'x' }] }) })
  t.same(fieldsOf(bad).sort(), ['input.members.0.name', 'input.members.0.phone', 'input.regionCode', 'input.sendingUnit', 'input.startedOn'].sort(), 'each bad field named')
  const sibling = (await ok(op, CREATE_TEAM, { i: teamInput(SIBLING, { members: [] }) })).createWorkTeam

  // A second first secretary while one serves: refused, naming the role.
  const second = await op.gql('mutation ($t: ID!) { addWorkTeamMember(teamId: $t, input: { name: "孙书记", role: FIRST_SECRETARY }) { id } }', { t: created.id })
  t.same(fieldsOf(second), ['input.role'])
  const secretaryId = created.members[0].id
  const left = (await ok(op, 'mutation ($id: ID!, $d: String) { removeWorkTeamMember(id: $id, leftOn: $d) { leftOn version } }', { id: secretaryId, d: '2019-06-30' })).removeWorkTeamMember
  t.same(left, { leftOn: '2019-06-30', version: 2 })
  const successor = (await ok(op, 'mutation ($t: ID!) { addWorkTeamMember(teamId: $t, input: { name: "孙书记", role: FIRST_SECRETARY, joinedOn: "2019-07-01" }) { id role } }', { t: created.id })).addWorkTeamMember
  t.equal(successor.role, 'FIRST_SECRETARY', 'a successor once the first one has left')
  const serving = (await ok(op, 'query ($id: ID!) { workTeam(id: $id) { firstSecretary { name } members { name } } }', { id: created.id })).workTeam
  t.same(serving, { firstSecretary: { name: '孙书记' }, members: [{ name: '孙书记' }, { name: '钱队员' }] })

  // Relay paging by region.
  const page1 = (await ok(op, 'query { workTeams(filter: { regionCode: "411224101" }, first: 1) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }')).workTeams
  t.equal(page1.totalCount, 2)
  t.equal(page1.pageInfo.hasNextPage, true)
  const page2 = (await ok(op, 'query ($a: String) { workTeams(filter: { regionCode: "411224101" }, first: 1, after: $a) { pageInfo { hasNextPage } edges { node { id } } } }', { a: page1.pageInfo.endCursor })).workTeams
  t.equal(page2.pageInfo.hasNextPage, false)
  t.same([page1.edges[0].node.id, page2.edges[0].node.id].sort(), [created.id, sibling.id].sort())

  const updated = (await ok(op, 'mutation ($id: ID!) { updateWorkTeam(id: $id, expectedVersion: 1, input: { sendingUnit: "三门峡市直机关工委" }) { sendingUnit version } }', { id: created.id })).updateWorkTeam
  t.same(updated, { sendingUnit: '三门峡市直机关工委', version: 2 })
  t.equal(codeOf(await op.gql('mutation ($id: ID!) { updateWorkTeam(id: $id, expectedVersion: 1, input: { sendingUnit: "某单位" }) { id } }', { id: created.id })), 'CONFLICT', 'stale version')
  const early = await op.gql('mutation ($id: ID!) { endWorkTeam(id: $id, expectedVersion: 2, endedOn: "2017-01-01") { id } }', { id: created.id })
  t.same(fieldsOf(early), ['endedOn'])
  const ended = (await ok(op, `mutation ($id: ID!) { endWorkTeam(id: $id, expectedVersion: 2, endedOn: "2020-12-31") { endedOn ${'members { id }'} firstSecretary { id } } }`, { id: created.id })).endWorkTeam
  t.same(ended, { endedOn: '2020-12-31', members: [], firstSecretary: null }, 'its members leave with it')
  t.equal(codeOf(await op.gql('mutation ($t: ID!) { addWorkTeamMember(teamId: $t, input: { name: "晚到", role: MEMBER }) { id } }', { t: created.id })), 'CONFLICT', 'no member joins an ended team')
  const next = (await ok(op, CREATE_TEAM, { i: teamInput(VILLAGE, { startedOn: '2021-01-01', members: [] }) })).createWorkTeam
  t.ok(next.id, 'once ended, the village may get a new team')
  const servingOnly = (await ok(op, 'query { workTeams(filter: { regionCode: "411224101201", serving: true }) { edges { node { id } } } }')).workTeams
  t.same(servingOnly.edges.map((e: any) => e.node.id), [next.id])

  await app.sequenced()
  t.same(await auditActions(app, created.id), ['workTeam.create', 'workTeam.update', 'workTeam.end'])
  t.same(await auditActions(app, secretaryId), ['workTeamMember.remove'])
  t.same(await auditActions(app, successor.id), ['workTeamMember.add'])
})

t.test('another region\'s teams, helpers, assignments and visits can be neither seen nor changed; VIEWER sees phones masked; EXCHANGE nothing', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const team = (await ok(op, CREATE_TEAM, { i: teamInput(VILLAGE) })).createWorkTeam
  const h = await household(op)
  const helper = (await ok(op, 'query ($id: ID!) { household(id: $id) { helper { id } helperAssignments { id } } }', { id: h })).household
  await ok(op, 'mutation ($i: VisitInput!) { recordVisit(input: $i) { id } }', { i: { householdId: h, helperId: helper.helper.id, visitedOn: TODAY, note: '入户走访' } })

  const outsider = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411221' })
  const sibling = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: SIBLING })
  for (const other of [outsider, sibling]) {
    t.equal(codeOf(await other.gql('query ($id: ID!) { workTeam(id: $id) { id } }', { id: team.id })), 'NOT_FOUND')
    t.equal(codeOf(await other.gql('query ($id: ID!) { helper(id: $id) { id } }', { id: helper.helper.id })), 'NOT_FOUND', 'a helper kept at the village and assigned there')
    t.equal(codeOf(await other.gql('mutation ($id: ID!) { updateWorkTeam(id: $id, expectedVersion: 1, input: { sendingUnit: "x" }) { id } }', { id: team.id })), 'NOT_FOUND')
    t.equal(codeOf(await other.gql('mutation ($id: ID!) { endWorkTeam(id: $id, expectedVersion: 1) { id } }', { id: team.id })), 'NOT_FOUND')
    t.equal(codeOf(await other.gql('mutation ($t: ID!) { addWorkTeamMember(teamId: $t, input: { name: "某", role: MEMBER }) { id } }', { t: team.id })), 'NOT_FOUND')
    t.equal(codeOf(await other.gql('mutation ($id: ID!) { removeWorkTeamMember(id: $id) { id } }', { id: team.members[0].id })), 'NOT_FOUND')
    t.equal(codeOf(await other.gql('mutation ($id: ID!) { updateHelper(id: $id, expectedVersion: 1, input: { phone: "13000000000" }) { id } }', { id: helper.helper.id })), 'NOT_FOUND')
    t.equal(codeOf(await other.gql('mutation ($id: ID!) { endHelperAssignment(id: $id) { id } }', { id: helper.helperAssignments[0].id })), 'NOT_FOUND')
    t.equal(codeOf(await other.gql('mutation ($h: ID!, $p: ID!) { assignHelper(householdId: $h, helperId: $p) { id } }', { h, p: helper.helper.id })), 'NOT_FOUND')
    t.equal(codeOf(await other.gql('mutation ($i: VisitInput!) { recordVisit(input: $i) { id } }', { i: { householdId: h, helperId: helper.helper.id, visitedOn: TODAY } })), 'NOT_FOUND')
    t.same((await ok(other, '{ workTeams { totalCount } helpers { totalCount } unvisitedHouseholds { totalCount } }')), { workTeams: { totalCount: 0 }, helpers: { totalCount: 0 }, unvisitedHouseholds: { totalCount: 0 } }, 'lists hold nothing of it')
  }
  t.equal(codeOf(await outsider.gql('{ workTeams(filter: { regionCode: "411224" }) { totalCount } }')), 'FORBIDDEN', 'a filter outside the area')
  t.equal(codeOf(await outsider.gql('{ unvisitedHouseholds(regionCode: "411224101") { totalCount } }')), 'FORBIDDEN')
  t.equal(codeOf(await outsider.gql(CREATE_TEAM, { i: teamInput(VILLAGE) })), 'FORBIDDEN', 'a team for a village outside the area')
  t.equal((await outsider.get(`/api/v1/work-teams/${team.id}`)).statusCode, 404)

  const viewer = app.as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: COUNTY })
  const seen = (await ok(viewer, 'query ($id: ID!, $h: ID!) { workTeam(id: $id) { members { phone } } household(id: $h) { helper { phone } visits { note helper { phone } } } }', { id: team.id, h })).workTeam
  t.same(seen.members.map((m: any) => m.phone), ['137****5678', '137****4321'])
  const viewed = (await ok(viewer, 'query ($h: ID!) { household(id: $h) { helper { phone } visits { note helper { phone } } } }', { h })).household
  t.same(viewed, { helper: { phone: '139****1111' }, visits: [{ note: '入户走访', helper: { phone: '139****1111' } }] })
  t.equal((await viewer.get(`/api/v1/work-teams/${team.id}`)).json().members[0].phone, '137****5678', 'masked in REST too')
  t.equal(codeOf(await viewer.gql(CREATE_TEAM, { i: teamInput(SIBLING) })), 'FORBIDDEN', 'VIEWER writes nothing')
  const auditor = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: COUNTY })
  t.equal((await ok(auditor, 'query ($id: ID!) { workTeam(id: $id) { members { phone } } }', { id: team.id })).workTeam.members[0].phone, '13712345678')
  const exchange = app.as({ sub: uniqueSub('x'), role: 'EXCHANGE', region: '4112', dept: 'health' })
  t.equal(codeOf(await exchange.gql('query ($id: ID!) { workTeam(id: $id) { id } }', { id: team.id })), 'FORBIDDEN')
  t.equal((await exchange.get('/api/v1/work-teams')).statusCode, 403)
})

t.test('helpers: HelperInput reuses or creates a record and assigns it; Household.helper is the current one; assignments, visits and their rules', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const county = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: COUNTY })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })

  // A county officer's helper: kept at the county, visible to the village below, changed only by the county.
  const pooled = (await ok(county, 'mutation { createHelper(input: { regionCode: "411224", name: "周帮扶", unit: "卢氏县财政局", phone: "13911112222", homeRegionCode: "411224101" }) { id name region { code } homeRegion { code } version } }')).createHelper
  t.match(pooled, { name: '周帮扶', region: { code: COUNTY }, homeRegion: { code: TOWNSHIP }, version: 1 })
  t.same((await ok(op, '{ helpers { edges { node { id } } } }')).helpers.edges.map((e: any) => e.node.id), [pooled.id], 'the county\'s helpers are listed below it')
  t.equal(codeOf(await op.gql('mutation ($id: ID!) { updateHelper(id: $id, expectedVersion: 1, input: { phone: "13000000000" }) { id } }', { id: pooled.id })), 'FORBIDDEN', 'visible is not writable')
  t.same(fieldsOf(await county.gql('mutation { createHelper(input: { regionCode: "411224101201", name: "", phone: "12" }) { id } }')).sort(), ['input.name', 'input.phone'])

  // HelperInput with the same name, unit and phone reuses the county's record.
  const h1 = await household(op, VILLAGE, { helper: { name: '周帮扶', unit: '卢氏县财政局', phone: '13911112222' } })
  const read1 = (await ok(op, 'query ($id: ID!) { household(id: $id) { helper { id name } helperAssignments { startedOn endedOn helper { id } } } }', { id: h1 })).household
  t.same(read1, { helper: { id: pooled.id, name: '周帮扶' }, helperAssignments: [{ startedOn: TODAY, endedOn: null, helper: { id: pooled.id } }] })
  // Another one creates a record at the writer's region (a village officer cannot write the county's pool).
  const changed = (await ok(op, 'mutation ($id: ID!) { updateHousehold(id: $id, expectedVersion: 1, input: { helper: { name: "吴帮扶", unit: "杜关镇政府" } }) { version helper { id name unit phone region { code } } helperAssignments { endedOn } } }', { id: h1 })).updateHousehold
  t.match(changed, { version: 2, helper: { name: '吴帮扶', unit: '杜关镇政府', phone: null, region: { code: VILLAGE } }, helperAssignments: [{ endedOn: null }, { endedOn: TODAY }] })
  t.same(fieldsOf(await op.gql('mutation ($id: ID!) { updateHousehold(id: $id, expectedVersion: 2, input: { helper: { unit: "某单位" } }) { id } }', { id: h1 })), ['input.helper.name'])
  const cleared = (await ok(op, 'mutation ($id: ID!) { updateHousehold(id: $id, expectedVersion: 2, input: { helper: null }) { helper { id } helperAssignments { endedOn } } }', { id: h1 })).updateHousehold
  t.same(cleared, { helper: null, helperAssignments: [{ endedOn: TODAY }, { endedOn: TODAY }] }, 'null ends the current assignment')
  const rest = (await op.get(`/api/v1/households/${h1}`)).json()
  t.equal(rest.helper, null)

  // assignHelper / endHelperAssignment.
  const assigned = (await ok(op, 'mutation ($h: ID!, $p: ID!) { assignHelper(householdId: $h, helperId: $p, startedOn: "2019-01-05") { id startedOn endedOn household { id } helper { id } } }', { h: h1, p: pooled.id })).assignHelper
  t.match(assigned, { startedOn: '2019-01-05', endedOn: null, household: { id: h1 }, helper: { id: pooled.id } })
  t.equal(codeOf(await op.gql('mutation ($h: ID!, $p: ID!) { assignHelper(householdId: $h, helperId: $p) { id } }', { h: h1, p: pooled.id })), 'CONFLICT', 'already the current helper')
  t.equal((await op.get(`/api/v1/households/${h1}`)).json().helper.id, pooled.id, 'REST shows the current helper')

  // Visits: only by a helper assigned that day; the note is checked like other free text.
  const visit = async (helperId: string, visitedOn: string, note?: string): Promise<any> => await op.gql('mutation ($i: VisitInput!) { recordVisit(input: $i) { id visitedOn note recordedBy household { id } helper { id } } }', { i: { householdId: h1, helperId, visitedOn, note } })
  t.same(fieldsOf(await visit(pooled.id, '2018-12-31')), ['input.helperId'], 'before the assignment')
  t.same(fieldsOf(await visit(pooled.id, '2099-01-01')), ['input.visitedOn'], 'in the future')
  t.same(fieldsOf(await visit(pooled.id, '2019-03-01', '看望\u0007')), ['input.note'])
  t.same(fieldsOf(await visit(pooled.id, '2019-03-01', 'x'.repeat(1001))), ['input.note'])
  const v1 = (await visit(pooled.id, '2019-03-01', '了解收入情况\n落实产业项目')).data.recordVisit
  t.match(v1, { visitedOn: '2019-03-01', note: '了解收入情况\n落实产业项目', household: { id: h1 }, helper: { id: pooled.id } })
  const v2 = (await visit(pooled.id, daysAgo(3))).data.recordVisit
  const visits = (await ok(op, 'query ($h: ID!, $p: ID!) { household(id: $h) { visits { id } } helper(id: $p) { visits { id } assignments { household { id } } } }', { h: h1, p: pooled.id }))
  t.same(visits.household.visits.map((v: any) => v.id), [v2.id, v1.id], 'newest first')
  t.same(visits.helper.visits.map((v: any) => v.id), [v2.id, v1.id])
  t.same(visits.helper.assignments.map((a: any) => a.household.id), [h1, h1])
  const endedAssignment = (await ok(op, 'mutation ($id: ID!) { endHelperAssignment(id: $id, endedOn: "2020-06-30") { endedOn } }', { id: assigned.id })).endHelperAssignment
  t.same(endedAssignment, { endedOn: '2020-06-30' })
  t.same(fieldsOf(await visit(pooled.id, daysAgo(1))), ['input.helperId'], 'no visit after the assignment ended')

  await app.sequenced()
  t.same(await auditActions(app, assigned.id), ['helperAssignment.create', 'helperAssignment.end'])
  t.same(await auditActions(app, v1.id), ['visit.create'])
  t.same(await auditActions(app, pooled.id), ['helper.create'])
})

t.test('households not visited in 90 days: listed for the township (GraphQL with paging, REST), counted in statistics with the team and helper coverage', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: TOWNSHIP })
  for (const code of [VILLAGE, SIBLING]) {
    const { region } = await ok(admin, 'query ($c: String!) { region(code: $c) { version } }', { c: code })
    await ok(admin, 'mutation ($c: String!, $v: Int!) { updateRegion(code: $c, expectedVersion: $v, input: { isPoor: true }) { code } }', { c: code, v: region.version })
  }
  await ok(op, CREATE_TEAM, { i: teamInput(VILLAGE) })
  // Assignments from 2019 on, so that visits may be dated back.
  const helperId = (await ok(op, 'mutation { createHelper(input: { regionCode: "411224101", name: "李四", unit: "卢氏县扶贫办", phone: "13900001111" }) { id } }')).createHelper.id
  const recent = await household(op, VILLAGE, { helper: null })
  const old = await household(op, VILLAGE, { helper: null })
  const never = await household(op, SIBLING, { helper: null })
  const exited = await household(op, SIBLING, { helper: null })
  await queryRows(app.database.db, sql`UPDATE households SET status = 'EXITED', exit_year = 2019 WHERE id = ${exited}`)
  for (const h of [recent, old, exited]) await ok(op, 'mutation ($h: ID!, $p: ID!) { assignHelper(householdId: $h, helperId: $p, startedOn: "2019-01-01") { id } }', { h, p: helperId })
  const record = async (h: string, day: string): Promise<void> => { await ok(op, 'mutation ($i: VisitInput!) { recordVisit(input: $i) { id } }', { i: { householdId: h, helperId, visitedOn: day } }) }
  await record(recent, daysAgo(200))
  await record(recent, daysAgo(10))
  await record(old, daysAgo(91))

  const list = (await ok(op, '{ unvisitedHouseholds(first: 1) { totalCount pageInfo { hasNextPage endCursor } edges { node { id visits { visitedOn } } } } }')).unvisitedHouseholds
  t.equal(list.totalCount, 2, 'the household visited 91 days ago and the one never visited; not the exited one')
  t.equal(list.pageInfo.hasNextPage, true)
  const rest = await (async () => {
    const ids: string[] = []
    let cursor: string | null = null
    do {
      const res: any = (await op.get(`/api/v1/households/unvisited?region=${TOWNSHIP}&limit=1${cursor === null ? '' : `&cursor=${cursor}`}`)).json()
      ids.push(...res.items.map((i: any) => i.id))
      cursor = res.nextCursor
    } while (cursor !== null)
    return ids
  })()
  t.same(rest.sort(), [old, never].sort(), 'REST pages through the same list')
  const item = (await op.get(`/api/v1/households/unvisited?region=${VILLAGE}`)).json().items[0]
  t.match(item, { id: old, regionCode: VILLAGE, status: 'POOR', lastVisitedOn: daysAgo(91), helper: { id: helperId, name: '李四', phone: '13900001111' } })
  t.equal((await op.get('/api/v1/households/unvisited?days=0')).statusCode, 400)
  const wider = (await ok(op, '{ unvisitedHouseholds(days: 5) { totalCount } }')).unvisitedHouseholds
  t.equal(wider.totalCount, 3, 'with 5 days the household visited 10 days ago is overdue too')

  const stats = (await ok(op, '{ statistics(regionCode: "411224101", year: 2019) { peopleSent { poorVillages poorVillagesWithTeam teamCoverageRate poorHouseholds poorHouseholdsWithHelper helperCoverageRate notVisitedIn90Days } breakdown { region { code } peopleSent { poorVillages poorVillagesWithTeam poorHouseholds poorHouseholdsWithHelper notVisitedIn90Days } } } }')).statistics
  t.same(stats.peopleSent, { poorVillages: 2, poorVillagesWithTeam: 1, teamCoverageRate: 0.5, poorHouseholds: 3, poorHouseholdsWithHelper: 2, helperCoverageRate: 2 / 3, notVisitedIn90Days: 2 })
  const byCode = Object.fromEntries(stats.breakdown.map((b: any) => [b.region.code, b.peopleSent]))
  t.same(byCode[VILLAGE], { poorVillages: 1, poorVillagesWithTeam: 1, poorHouseholds: 2, poorHouseholdsWithHelper: 2, notVisitedIn90Days: 1 })
  t.same(byCode[SIBLING], { poorVillages: 1, poorVillagesWithTeam: 0, poorHouseholds: 1, poorHouseholdsWithHelper: 0, notVisitedIn90Days: 1 })
  const restStats = (await op.get('/api/v1/statistics/411224101?year=2019')).json()
  t.same(restStats.peopleSent, stats.peopleSent, 'REST answers the same figures')
  t.same(restStats.breakdown.find((b: any) => b.region.code === VILLAGE).peopleSent.notVisitedIn90Days, 1)
  // An independent count in SQL of the township's poor households without a visit in the last 90 days.
  const [independent] = await queryRows<{ n: number }>(app.database.db, sql`SELECT count(*)::int AS n FROM households h WHERE h.region_code LIKE '411224101%' AND h.status IN ('POOR', 'RETURNED')
    AND coalesce((SELECT max(visited_on) FROM visits v WHERE v.household_id = h.id), '2000-01-01') <= current_date - 90`)
  t.equal(independent?.n, stats.peopleSent.notVisitedIn90Days)
})

t.test('REST: create, read, list, update, end a work team, add and remove members; bad input names the body field', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: TOWNSHIP })
  const send = async (method: 'PATCH' | 'DELETE' | 'POST', url: string, body?: unknown): Promise<any> =>
    await app.app.inject({ method, url, headers: { authorization: `Bearer ${op.token}` }, ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}) })
  const created = await op.post('/api/v1/work-teams', teamInput(VILLAGE))
  t.equal(created.statusCode, 201)
  const team = created.json()
  t.match(team, { regionCode: VILLAGE, sendingUnit: '卢氏县农业农村局', version: 1, members: [{ role: 'FIRST_SECRETARY' }, { role: 'MEMBER' }] })
  const bad = await op.post('/api/v1/work-teams', teamInput(SIBLING, { startedOn: '2018-02-30' }))
  t.equal(bad.statusCode, 400)
  t.same(bad.json().errors.map((e: any) => e.path), ['body.startedOn'])
  t.equal((await op.post('/api/v1/work-teams', teamInput(VILLAGE))).statusCode, 409)
  t.same((await op.get(`/api/v1/work-teams/${team.id}`)).json(), team)
  const list = (await op.get(`/api/v1/work-teams?region=${VILLAGE}&limit=10`)).json()
  t.same(list, { items: [team], nextCursor: null })
  const patched = await send('PATCH', `/api/v1/work-teams/${team.id}`, { expectedVersion: 1, sendingUnit: '卢氏县水利局' })
  t.match(patched.json(), { sendingUnit: '卢氏县水利局', version: 2 })
  t.equal((await send('PATCH', `/api/v1/work-teams/${team.id}`, { expectedVersion: 1, sendingUnit: 'x' })).statusCode, 409)
  const added = await op.post(`/api/v1/work-teams/${team.id}/members`, { name: '李队员', role: 'TEAM_LEADER', phone: '13600001111' })
  t.equal(added.statusCode, 201)
  t.match(added.json(), { name: '李队员', role: 'TEAM_LEADER', leftOn: null })
  const twice = await op.post(`/api/v1/work-teams/${team.id}/members`, { name: '另一书记', role: 'FIRST_SECRETARY' })
  t.same(twice.json().errors.map((e: any) => e.path), ['body.role'])
  const removed = await send('DELETE', `/api/v1/work-teams/${team.id}/members/${added.json().id as string}?leftOn=${TODAY}`)
  t.match(removed.json(), { id: added.json().id, leftOn: TODAY })
  t.equal((await send('DELETE', `/api/v1/work-teams/${team.id}/members/${team.members[0].id as string}?leftOn=2017-01-01`)).statusCode, 400)
  const other = (await op.post('/api/v1/work-teams', teamInput(SIBLING, { members: [] }))).json()
  t.equal((await send('DELETE', `/api/v1/work-teams/${other.id as string}/members/${team.members[0].id as string}`)).statusCode, 404, 'a member of another team is not found under this one')
  const ended = await send('POST', `/api/v1/work-teams/${team.id}/end`, { expectedVersion: 2, endedOn: TODAY })
  t.match(ended.json(), { endedOn: TODAY, version: 3 })
  t.ok(ended.json().members.every((m: any) => m.leftOn !== null), 'every member has left')
})

t.test('a page of work teams with members and first secretaries, and of helpers with assignments and visits, costs as many statements for 2 as for 6 (loaders)', async (t) => {
  const statements: string[] = []
  const app = await buildApp(t, { database: await freshDatabase({ onQuery: q => { statements.push(q) } }) })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: COUNTY })
  const villages = ['411224101200', '411224101201', '411224001001', '411224001002', '411224001003', '411224101001']
  const cost = async (n: number): Promise<number> => {
    statements.length = 0
    await ok(op, `{ workTeams(first: ${n}) { edges { node { region { name } firstSecretary { name } members(includeLeft: true) { name } } } }
      helpers(first: ${n}) { edges { node { region { code } assignments { household { id } } visits { id } } } } }`)
    // The request's reads (not a new pooled connection's set-up, nor the audit sequencer's or statistics summary's statements beside it).
    return statements.filter(s => /^\s*select/i.test(s) && !/audit|stats_/.test(s)).length
  }
  for (const v of villages) {
    await ok(op, CREATE_TEAM, { i: teamInput(v) })
    await household(op, v, { helper: { name: `帮扶人${v.slice(-3)}`, unit: '卢氏县扶贫办' } })
  }
  await cost(6) // warm: the pool's connections are open
  t.equal(await cost(6), await cost(2))
})

t.test('the migration turns the free-text helper fields into helper records (one per name, unit and phone in each county) and current assignments', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const db = app.database.db
  const a = await household(admin, VILLAGE, { helper: null })
  const b = await household(admin, SIBLING, { helper: null })
  const c = await household(admin, OTHER_VILLAGE, { helper: null })
  const d = await household(admin, VILLAGE, { helper: null })
  const e = await household(admin, VILLAGE, { helper: null })
  // The columns as they were before 0012, filled as the old service did.
  await queryRows(db, sql`ALTER TABLE households ADD COLUMN helper_name text, ADD COLUMN helper_unit text, ADD COLUMN helper_phone text`)
  const set = async (id: string, name: string | null, unit: string | null, phone: string | null): Promise<void> => {
    await queryRows(db, sql`UPDATE households SET helper_name = ${name}, helper_unit = ${unit}, helper_phone = ${phone} WHERE id = ${id}`)
  }
  await set(a, '李四', '卢氏县扶贫办', '13900001111')
  await set(b, '李四', '卢氏县扶贫办', '13900001111') // the same county: the same record
  await set(c, '李四', '卢氏县扶贫办', '13900001111') // another county: its own record
  await set(d, null, '卢氏县教育局', null) // a unit without a name
  await queryRows(db, sql`UPDATE households SET status = 'CLOSED', closed_at = '2020-05-01T00:00:00Z' WHERE id = ${e}`)
  await set(e, '王五', null, null)
  const migration = readFileSync(join(projectRoot, 'migrations', '0012_work_teams_helpers.sql'), 'utf8').split('--> statement-breakpoint')
  const data = migration.filter(s => /INSERT INTO "helper/.test(s))
  t.equal(data.length, 2, 'the data statements of the migration')
  for (const statement of data) await queryRows(db, sql.raw(statement))

  const helpers = await queryRows<{ region_code: string, name: string, unit: string | null, phone: string | null }>(db, sql`SELECT region_code, name, unit, phone FROM helpers ORDER BY region_code, name COLLATE "C"`)
  t.same(helpers, [
    { region_code: '411221', name: '李四', unit: '卢氏县扶贫办', phone: '13900001111' },
    { region_code: '411224', name: '李四', unit: '卢氏县扶贫办', phone: '13900001111' },
    { region_code: '411224', name: '未记姓名', unit: '卢氏县教育局', phone: null },
    { region_code: '411224', name: '王五', unit: null, phone: null }
  ].sort((x, y) => (x.region_code + x.name < y.region_code + y.name ? -1 : 1)))
  const assignments = await queryRows<{ household_id: string, ended_on: string | null, region_code: string }>(db, sql`SELECT household_id, ended_on::text, region_code FROM helper_assignments`)
  t.equal(assignments.length, 5)
  t.equal(assignments.find(x => x.household_id === e)?.ended_on, '2020-05-01', 'a closed household\'s assignment ended when it closed')
  t.ok(assignments.filter(x => x.household_id !== e).every(x => x.ended_on === null))
  const read = (await ok(admin, 'query ($a: ID!, $b: ID!) { a: household(id: $a) { helper { id name phone } } b: household(id: $b) { helper { id } } }', { a, b }))
  t.match(read.a.helper, { name: '李四', phone: '13900001111' })
  t.equal(read.a.helper.id, read.b.helper.id, 'one record for the county')
})
