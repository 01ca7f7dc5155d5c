import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows, type Database } from '../src/db/index.js'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { buildApp, freshDatabase, uniqueSub, type Client } from './helper.js'
import { pageBothWays } from './paging.js'

const VILLAGE = '411224101201' // 龙王庙村, 杜关镇, 卢氏县
const SIBLING = '411224101202' // 郭家村, the same township
const TOWNSHIP = '411224101' // 杜关镇
const OTHER_TOWNSHIP = '411224102'
const COUNTY = '411224' // 卢氏县
const OTHER_COUNTY = '411282' // 灵宝市
const DAY = 86_400_000

const REVIEW = 'id year status noticeEndsAt comment version criteria { criterion passed detail evidence } household { id status exitYear } history { action fromStatus toStatus actorSub actorRole comment }'
const PROPOSE = `mutation ($h: ID!, $y: Int!) { proposeExit(householdId: $h, year: $y) { ${REVIEW} } }`
const VERIFY = `mutation ($r: ID!, $c: String) { verifyExit(reviewId: $r, comment: $c) { ${REVIEW} } }`
const OBJECT = `mutation ($r: ID!, $x: String!) { objectExit(reviewId: $r, text: $x) { ${REVIEW} } }`
const APPROVE = `mutation ($r: ID!, $c: String) { approveExit(reviewId: $r, comment: $c) { ${REVIEW} } }`
const REJECT = `mutation ($r: ID!, $x: String!) { rejectExit(reviewId: $r, reason: $x) { ${REVIEW} } }`
const RETURNED = 'mutation ($h: ID!, $y: Int!, $x: String!) { markReturned(householdId: $h, year: $y, reason: $x) { id status exitYear returnYear statusHistory { fromStatus toStatus year reason reviewId actorRole } } }'
const CRITERIA = 'query ($h: ID!, $y: Int!) { exitCriteria(householdId: $h, year: $y) { criterion passed detail evidence } }'
const HOUSEHOLD = `query ($id: ID!) { household(id: $id) { id status exitYear returnYear version exitReviews { ${REVIEW} } statusHistory { fromStatus toStatus year reason reviewId actorSub actorRole } } }`

/** A mutable clock: tests move it past the public notice instead of waiting. */
function testClock (start = '2019-11-01T01:30:00Z'): { now: Date, advance: (ms: number) => void, fn: () => Date } {
  const c = { now: new Date(start), advance (ms: number) { c.now = new Date(c.now.getTime() + ms) }, fn: () => c.now }
  return c
}

async function ok<T = any> (client: Client, query: string, variables: Record<string, unknown>): Promise<T> {
  const res = await client.gql(query, variables)
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data
}

const code = (res: { errors?: Array<{ extensions: { code: string } }> }): string | undefined => res.errors?.[0]?.extensions.code

/** A household meeting every criterion for 2019 (income 5,000 per person against a line of 3,747). */
async function exitReady (op: Client, village = VILLAGE, over: Record<string, unknown> = {}): Promise<string> {
  const input = householdInput(village, { foodSecure: true, clothingSecure: true, housingSafe: true, drinkingWaterSafe: true, ...over })
  const h = await ok(op, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: input })
  const id = h.createHousehold.id as string
  await ok(op, 'mutation ($h: ID!, $i: IncomeInput!) { recordIncome(householdId: $h, input: $i) { perCapitaNet } }',
    { h: id, i: { year: 2019, wage: 12000, business: 3000, property: 0, transfer: 1500, expenses: 1500 } })
  return id
}

async function counts (database: Database): Promise<unknown> {
  return await queryRows(database.db, sql`SELECT (SELECT count(*) FROM exit_reviews) AS r, (SELECT max(updated_at) FROM exit_reviews) AS ru,
    (SELECT count(*) FROM exit_review_steps) AS s, (SELECT count(*) FROM household_status_changes) AS c,
    (SELECT max(updated_at) FROM households) AS hu, (SELECT count(*) FROM audit_events) AS a`)
}

t.test('the whole flow: propose → verify (notice) → approve after the notice → EXITED, each role and level refused where contract §3 says', async (t) => {
  const clock = testClock()
  const { as, database, sequenced } = await buildApp(t, { clock: clock.fn })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const viewer = as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: COUNTY })
  const auditor = as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: COUNTY })
  const siblingOp = as({ sub: uniqueSub('op2'), role: 'OPERATOR', region: SIBLING })
  const villageReviewer = as({ sub: uniqueSub('vr'), role: 'REVIEWER', region: VILLAGE })
  const townReviewer = as({ sub: uniqueSub('tr'), role: 'REVIEWER', region: TOWNSHIP })
  const otherTownReviewer = as({ sub: uniqueSub('otr'), role: 'REVIEWER', region: OTHER_TOWNSHIP })
  const countyReviewer = as({ sub: uniqueSub('cr'), role: 'REVIEWER', region: COUNTY })
  const otherCountyReviewer = as({ sub: uniqueSub('ocr'), role: 'REVIEWER', region: OTHER_COUNTY })
  const countyOperator = as({ sub: uniqueSub('cop'), role: 'OPERATOR', region: COUNTY })
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const h = await exitReady(op)

  const criteria = (await ok(viewer, CRITERIA, { h, y: 2019 })).exitCriteria
  t.same(criteria.map((c: any) => [c.criterion, c.passed]), [['INCOME', true], ['FOOD', true], ['CLOTHING', true], ['EDUCATION', true], ['MEDICAL', true], ['HOUSING', true], ['WATER', true]])
  t.match(criteria[0].detail, /5000\.00.*3747/, 'INCOME shows the per-capita income and the line')
  t.same(criteria[0].evidence, { year: 2019, perCapitaNet: 5000, povertyLine: 3747 })

  // Proposal: VIEWER and AUDITOR may not; a user of another village does not see the household.
  const before = await counts(database)
  t.equal(code(await viewer.gql(PROPOSE, { h, y: 2019 })), 'FORBIDDEN')
  t.equal(code(await auditor.gql(PROPOSE, { h, y: 2019 })), 'FORBIDDEN')
  t.equal(code(await as({ sub: uniqueSub('x'), role: 'EXCHANGE', dept: 'civil_affairs', region: COUNTY }).gql(PROPOSE, { h, y: 2019 })), 'FORBIDDEN')
  t.equal(code(await siblingOp.gql(PROPOSE, { h, y: 2019 })), 'NOT_FOUND')
  t.equal(code(await op.gql(PROPOSE, { h, y: 2020 })), 'BAD_USER_INPUT', 'a year after the current one')
  t.equal(code(await op.gql(PROPOSE, { h, y: 2015 })), 'BAD_USER_INPUT', 'a year before identification')
  t.same(await counts(database), before, 'refusals store nothing')

  const proposed = (await ok(op, PROPOSE, { h, y: 2019 })).proposeExit
  t.match(proposed, { year: 2019, status: 'PROPOSED', noticeEndsAt: null, household: { id: h, status: 'POOR' } })
  t.equal(proposed.criteria.length, 7)
  t.equal(code(await op.gql(PROPOSE, { h, y: 2019 })), 'CONFLICT', 'one open review per household')
  const r = proposed.id

  // Verification: township level or above, REVIEWER or ADMIN, in area.
  t.equal(code(await op.gql(VERIFY, { r })), 'FORBIDDEN')
  t.equal(code(await villageReviewer.gql(VERIFY, { r })), 'FORBIDDEN', 'a reviewer at village level')
  t.equal(code(await otherTownReviewer.gql(VERIFY, { r })), 'NOT_FOUND', 'a reviewer of another township')
  t.equal(code(await townReviewer.gql(APPROVE, { r })), 'FORBIDDEN', 'approval needs county level')
  const verified = (await ok(townReviewer, VERIFY, { r, c: '入户核实，符合退出标准' })).verifyExit
  t.equal(verified.status, 'VERIFIED')
  t.equal(verified.noticeEndsAt, new Date(clock.now.getTime() + 7 * DAY).toISOString(), 'the notice runs EXIT_NOTICE_DAYS (7)')
  t.equal(verified.comment, '入户核实，符合退出标准')

  // Approval: only after the notice, county level or above.
  t.equal(code(await countyReviewer.gql(APPROVE, { r })), 'CONFLICT', 'the notice has not ended')
  clock.advance(7 * DAY - 1000)
  t.equal(code(await countyReviewer.gql(APPROVE, { r })), 'CONFLICT', 'a second before the end')
  clock.advance(1000)
  t.equal(code(await countyOperator.gql(APPROVE, { r })), 'FORBIDDEN')
  t.equal(code(await otherCountyReviewer.gql(APPROVE, { r })), 'NOT_FOUND')
  const approved = (await ok(countyReviewer, APPROVE, { r, c: '同意退出' })).approveExit
  t.match(approved, { status: 'APPROVED', household: { id: h, status: 'EXITED', exitYear: 2019 } })
  t.same(approved.history.map((s: any) => [s.action, s.fromStatus, s.toStatus, s.actorRole]), [
    ['PROPOSE', null, 'PROPOSED', 'OPERATOR'], ['VERIFY', 'PROPOSED', 'VERIFIED', 'REVIEWER'], ['APPROVE', 'VERIFIED', 'APPROVED', 'REVIEWER']
  ])
  t.same(approved.history.map((s: any) => s.comment), [null, '入户核实，符合退出标准', '同意退出'])
  t.equal(code(await countyReviewer.gql(APPROVE, { r })), 'CONFLICT', 'approved once')
  t.equal(code(await op.gql(PROPOSE, { h, y: 2019 })), 'CONFLICT', 'an EXITED household cannot be proposed')

  // The household's history, readable by a VIEWER in area; nothing for another county.
  const household = (await ok(viewer, HOUSEHOLD, { id: h })).household
  t.match(household, { status: 'EXITED', exitYear: 2019, returnYear: null })
  t.same(household.exitReviews.map((x: any) => x.id), [r])
  t.same(household.statusHistory.map((c: any) => [c.fromStatus, c.toStatus, c.year, c.reviewId]), [['POOR', 'EXITED', 2019, r]])
  t.equal(code(await otherCountyReviewer.gql('query ($id: ID!) { exitReview(id: $id) { id } }', { id: r })), 'NOT_FOUND')

  // Every step is in the audit trail with who, when and why.
  await sequenced()
  const log = await ok(admin, 'query ($f: AuditFilter) { auditLog(filter: $f, first: 20) { edges { node { action actorSub actorRole after } } } }', { f: { entity: 'ExitReview', entityId: r } })
  t.same(log.auditLog.edges.map((e: any) => [e.node.action, e.node.actorRole]).reverse(), [['exit.propose', 'OPERATOR'], ['exit.verify', 'REVIEWER'], ['exit.approve', 'REVIEWER']])
  const hlog = await ok(admin, 'query ($f: AuditFilter) { auditLog(filter: $f, first: 20) { edges { node { action before after } } } }', { f: { entity: 'Household', entityId: h } })
  t.match(hlog.auditLog.edges[0].node, { action: 'household.exit', before: { status: 'POOR' }, after: { status: 'EXITED', exitYear: 2019 } })

  // Return to poverty: county reviewers; the history shows both events.
  t.equal(code(await townReviewer.gql(RETURNED, { h, y: 2020, x: '因病返贫' })), 'FORBIDDEN')
  t.equal(code(await countyReviewer.gql(RETURNED, { h, y: 2018, x: '因病返贫' })), 'BAD_USER_INPUT', 'a year before the exit')
  t.equal(code(await countyReviewer.gql(RETURNED, { h, y: 2019, x: ' ' })), 'BAD_USER_INPUT', 'a reason is required')
  clock.advance(365 * DAY)
  const back = (await ok(countyReviewer, RETURNED, { h, y: 2020, x: '因病返贫' })).markReturned
  t.match(back, { status: 'RETURNED', exitYear: 2019, returnYear: 2020 })
  t.same(back.statusHistory.map((c: any) => [c.fromStatus, c.toStatus, c.year, c.reason]), [['POOR', 'EXITED', 2019, '同意退出'], ['EXITED', 'RETURNED', 2020, '因病返贫']])
  t.equal(code(await countyReviewer.gql(RETURNED, { h, y: 2020, x: '再次' })), 'CONFLICT', 'only an EXITED household returns')
  const again = await op.gql(PROPOSE, { h, y: 2020 })
  t.equal(code(again), 'BAD_USER_INPUT', 'a RETURNED household may be proposed again, but has no 2020 income yet')
  t.match(again.errors?.[0]?.message, /INCOME/)
})

t.test('a household failing any criterion cannot be proposed; the error names each failed criterion and nothing is stored', async (t) => {
  const clock = testClock()
  const { as, database } = await buildApp(t, { clock: clock.fn })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await exitReady(op, VILLAGE, {
    drinkingWaterSafe: false,
    members: [
      memberInput({ name: '赵大', nationalId: nationalId('1970-02-03', 'MALE') }),
      memberInput({ name: '赵小妹', relation: 'CHILD', nationalId: nationalId('2009-04-05', 'FEMALE'), laborCapacity: 'NONE', schooling: 'DROPPED_OUT', medicalInsurance: false })
    ]
  })
  const before = await counts(database)
  const res = await op.gql(PROPOSE, { h, y: 2019 })
  t.equal(code(res), 'BAD_USER_INPUT')
  t.same(res.errors?.[0]?.extensions.fields?.map(f => f.message.split(':')[0]), ['EDUCATION', 'MEDICAL', 'WATER'])
  t.ok(res.errors?.[0]?.extensions.fields?.every(f => f.path === 'householdId'))
  t.match(res.errors?.[0]?.message, /EDUCATION, MEDICAL, WATER/)
  t.match(res.errors?.[0]?.extensions.fields?.[0]?.message, /赵小妹/)
  const noIncome = await op.gql(PROPOSE, { h, y: 2018 })
  t.match(noIncome.errors?.[0]?.message, /INCOME/, 'no income record for the year fails INCOME')
  t.same(await counts(database), before)
})

t.test('data changed between verification and approval makes approval fail, and nothing changes', async (t) => {
  const clock = testClock()
  const { as, database } = await buildApp(t, { clock: clock.fn })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const tr = as({ sub: uniqueSub('tr'), role: 'REVIEWER', region: TOWNSHIP })
  const cr = as({ sub: uniqueSub('cr'), role: 'REVIEWER', region: COUNTY })
  const h = await exitReady(op)
  const r = (await ok(op, PROPOSE, { h, y: 2019 })).proposeExit.id
  await ok(tr, VERIFY, { r })
  clock.advance(8 * DAY)
  const household = (await ok(op, 'query ($id: ID!) { household(id: $id) { version members { id relation } } }', { id: h })).household
  const spouse = household.members.find((m: any) => m.relation === 'SPOUSE')
  await ok(op, 'mutation ($id: ID!) { updateMember(id: $id, input: { medicalInsurance: false }) { id } }', { id: spouse.id })
  await ok(op, 'mutation ($id: ID!, $v: Int!) { updateHousehold(id: $id, expectedVersion: $v, input: { housingSafe: false }) { id } }', { id: h, v: household.version })
  const before = await counts(database)
  const res = await cr.gql(APPROVE, { r })
  t.equal(code(res), 'BAD_USER_INPUT')
  t.same(res.errors?.[0]?.extensions.fields?.map(f => [f.path, f.message.split(':')[0]]), [['reviewId', 'MEDICAL'], ['reviewId', 'HOUSING']])
  t.same(await counts(database), before, 'the review, the household and the audit trail are unchanged')
  const still = (await ok(op, HOUSEHOLD, { id: h })).household
  t.match(still, { status: 'POOR', exitYear: null })
  t.equal(still.exitReviews[0].status, 'VERIFIED')
  // The county may then reject it, with a reason; a township reviewer may not reject a VERIFIED review.
  t.equal(code(await tr.gql(REJECT, { r, x: '住房不安全' })), 'FORBIDDEN')
  t.equal(code(await cr.gql(REJECT, { r, x: '' })), 'BAD_USER_INPUT')
  const rejected = (await ok(cr, REJECT, { r, x: '住房不安全，医保断缴' })).rejectExit
  t.match(rejected, { status: 'REJECTED', comment: '住房不安全，医保断缴', noticeEndsAt: null })
  t.equal(code(await cr.gql(REJECT, { r, x: '再次' })), 'CONFLICT', 'a closed review cannot be rejected again')
})

t.test('an objection during the notice sends the review back to PROPOSED; after the notice it is too late; rejection from PROPOSED by the township', async (t) => {
  const clock = testClock()
  const { as } = await buildApp(t, { clock: clock.fn })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const viewer = as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: VILLAGE })
  const siblingOp = as({ sub: uniqueSub('op2'), role: 'OPERATOR', region: SIBLING })
  const tr = as({ sub: uniqueSub('tr'), role: 'REVIEWER', region: TOWNSHIP })
  const h = await exitReady(op)
  const r = (await ok(op, PROPOSE, { h, y: 2019 })).proposeExit.id
  t.equal(code(await op.gql(OBJECT, { r, x: '有异议' })), 'CONFLICT', 'no notice is running yet')
  await ok(tr, VERIFY, { r })
  t.equal(code(await viewer.gql(OBJECT, { r, x: '有异议' })), 'FORBIDDEN')
  t.equal(code(await siblingOp.gql(OBJECT, { r, x: '有异议' })), 'NOT_FOUND')
  t.equal(code(await op.gql(OBJECT, { r, x: '' })), 'BAD_USER_INPUT', 'an objection needs its text')
  clock.advance(3 * DAY)
  const objected = (await ok(op, OBJECT, { r, x: '群众反映该户家中有人长期患病未参保' })).objectExit
  t.match(objected, { status: 'PROPOSED', noticeEndsAt: null, comment: '群众反映该户家中有人长期患病未参保' })
  t.same(objected.history.map((s: any) => s.action), ['PROPOSE', 'VERIFY', 'OBJECT'])
  // Verified again: a new notice of 7 days from now; objecting after it ended is refused.
  const reverified = (await ok(tr, VERIFY, { r, c: '复核无误' })).verifyExit
  t.equal(reverified.noticeEndsAt, new Date(clock.now.getTime() + 7 * DAY).toISOString())
  clock.advance(7 * DAY)
  t.equal(code(await op.gql(OBJECT, { r, x: '太晚了' })), 'CONFLICT')

  // Rejection of a PROPOSED review by a township reviewer; a new proposal may follow.
  const h2 = await exitReady(op)
  const r2 = (await ok(op, PROPOSE, { h: h2, y: 2019 })).proposeExit.id
  t.equal(code(await op.gql(REJECT, { r: r2, x: '不同意' })), 'FORBIDDEN', 'operators do not reject')
  t.match((await ok(tr, REJECT, { r: r2, x: '民主评议未通过' })).rejectExit, { status: 'REJECTED' })
  t.match((await ok(op, PROPOSE, { h: h2, y: 2019 })).proposeExit, { status: 'PROPOSED' })
  t.equal(code(await op.gql('mutation ($id: ID!) { closeHousehold(id: $id, reason: MOVED_AWAY) { id } }', { id: h2 })), 'CONFLICT', 'a household under review is not closed behind the reviewers\' backs')
  const list = (await ok(tr, 'query ($f: ExitReviewFilter) { exitReviews(filter: $f) { totalCount edges { node { id status } } } }', { f: { regionCode: VILLAGE, status: 'PROPOSED' } })).exitReviews
  t.ok(list.edges.some((e: any) => e.node.id !== r2 && e.node.status === 'PROPOSED'), "the township's queue of proposals")
  const reviews = await pageBothWays(t, tr, { field: 'exitReviews', args: ['$f: ExitReviewFilter', 'filter: $f'], variables: { f: { regionCode: VILLAGE } }, select: 'id', idOf: n => n.id }, 1)
  t.ok(reviews.length >= 3 && reviews.includes(r2), 'every review of the village, one a page, forward and back')
  t.equal(code(await siblingOp.gql('query ($f: ExitReviewFilter) { exitReviews(filter: $f) { totalCount } }', { f: { regionCode: VILLAGE } })), 'FORBIDDEN')
})

t.test('the public notice lists households under notice with only what may be posted (JSON, CSV, GraphQL)', async (t) => {
  const clock = testClock()
  const { as } = await buildApp(t, { clock: clock.fn, database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const tr = as({ sub: uniqueSub('tr'), role: 'REVIEWER', region: TOWNSHIP })
  const viewer = as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: TOWNSHIP })
  const siblingOp = as({ sub: uniqueSub('op2'), role: 'OPERATOR', region: SIBLING })
  const ids = [nationalId('1966-06-06', 'MALE'), nationalId('1968-08-08', 'FEMALE'), nationalId('2010-10-10', 'FEMALE')]
  const sensitive = {
    phone: '13712345678', bankAccount: '6228480402564890018', helper: { name: '帮扶人', unit: '县扶贫办', phone: '13598765432' },
    members: [
      memberInput({ name: '孙德福', nationalId: ids[0], healthConditions: ['SERIOUS_ILLNESS'] }),
      memberInput({ name: '钱桂英', relation: 'SPOUSE', nationalId: ids[1], healthConditions: ['DISABLED'], disabilityGrade: 2 }),
      memberInput({ name: '孙小红', relation: 'CHILD', nationalId: ids[2], laborCapacity: 'NONE', schooling: 'PRIMARY', healthConditions: ['CHRONIC_ILLNESS'] })
    ]
  }
  const h = await exitReady(op, VILLAGE, sensitive)
  const hidden = await exitReady(op) // proposed only: not under notice
  const r = (await ok(op, PROPOSE, { h, y: 2019 })).proposeExit.id
  await ok(op, PROPOSE, { h: hidden, y: 2019 })
  await ok(tr, VERIFY, { r })

  const json = await viewer.get(`/api/v1/exit-notices?region=${VILLAGE}&year=2019`)
  t.equal(json.statusCode, 200)
  const { items } = json.json()
  t.same(items.map((i: any) => Object.keys(i).sort()), [['headName', 'householdSize', 'noticeEndsAt', 'noticeStartsAt', 'villageCode', 'villageName', 'year']])
  t.match(items[0], { villageCode: VILLAGE, villageName: '龙王庙村村委会', headName: '孙德福', householdSize: 3, year: 2019 })
  const csv = await viewer.get(`/api/v1/exit-notices?region=${TOWNSHIP}&format=csv`)
  t.equal(csv.statusCode, 200)
  t.match(csv.headers['content-type'], /^text\/csv/)
  t.match(csv.headers['content-disposition'], /attachment; filename="exit-notices-411224101\.csv"/)
  t.ok(csv.body.startsWith('\uFEFF村,户主姓名,家庭人口,拟脱贫年度,公示开始,公示截止\r\n'))
  t.match(csv.body, /龙王庙村村委会,孙德福,3,2019,2019-11-01 09:30,2019-11-08 09:30/)
  const gql = (await ok(viewer, 'query ($c: String) { exitNotices(regionCode: $c) { villageCode villageName headName householdSize year noticeStartsAt noticeEndsAt } }', { c: VILLAGE })).exitNotices
  t.same(gql, items)

  // Nothing sensitive anywhere: no ID number (or its masked form), phone, bank account or health condition.
  for (const body of [json.body, csv.body, JSON.stringify(gql)]) {
    for (const id of ids) {
      t.notOk(body.includes(id), 'no national ID')
      t.notOk(body.includes(id.slice(0, 6) + '********'), 'no masked national ID')
      t.notOk(body.includes(id.slice(6, 14)), 'no birth date from an ID')
    }
    for (const s of ['13712345678', '137****5678', '6228480402564890018', '0018', '13598765432', 'SERIOUS_ILLNESS', 'DISABLED', 'CHRONIC_ILLNESS', '大病', '残疾', '慢性病', '帮扶人', '钱桂英', '孙小红']) {
      t.notOk(body.includes(s), `no ${s}`)
    }
  }

  // Area, input and time: another village's user is refused; the list empties when the notice ends.
  t.equal((await siblingOp.get(`/api/v1/exit-notices?region=${VILLAGE}`)).statusCode, 403)
  t.equal((await siblingOp.get('/api/v1/exit-notices')).json().items.length, 0, 'the default region is the caller\'s own')
  t.equal((await viewer.get('/api/v1/exit-notices?region=4112x')).statusCode, 400)
  t.equal((await viewer.get('/api/v1/exit-notices?year=1999')).statusCode, 400)
  t.equal((await viewer.get('/api/v1/exit-notices?format=pdf')).statusCode, 400)
  clock.advance(7 * DAY)
  t.same((await viewer.get(`/api/v1/exit-notices?region=${VILLAGE}`)).json(), { items: [] })
})

t.test('返贫监测: exited households whose latest data fail a criterion are listed with the failed criteria, in area only', async (t) => {
  const clock = testClock()
  const { as } = await buildApp(t, { clock: clock.fn, database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const tr = as({ sub: uniqueSub('tr'), role: 'REVIEWER', region: TOWNSHIP })
  const cr = as({ sub: uniqueSub('cr'), role: 'REVIEWER', region: COUNTY })
  const siblingViewer = as({ sub: uniqueSub('sv'), role: 'VIEWER', region: SIBLING })
  const exit = async (): Promise<string> => {
    const h = await exitReady(op)
    const r = (await ok(op, PROPOSE, { h, y: 2019 })).proposeExit.id
    await ok(tr, VERIFY, { r })
    clock.advance(7 * DAY)
    await ok(cr, APPROVE, { r })
    return h
  }
  const [fine, fell, dropped] = [await exit(), await exit(), await exit()]
  const WARN = `query ($c: String, $first: Int, $after: String, $last: Int, $before: String) {
    exitWarnings(regionCode: $c, first: $first, after: $after, last: $last, before: $before) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { household { id status } year failed { criterion passed detail } } } } }`
  t.same((await ok(op, WARN, {})).exitWarnings, { totalCount: 0, pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null }, edges: [] })

  clock.advance(365 * DAY) // 2020
  await ok(op, 'mutation ($h: ID!, $i: IncomeInput!) { recordIncome(householdId: $h, input: $i) { perCapitaNet } }',
    { h: fell, i: { year: 2020, wage: 6000, business: 0, property: 0, transfer: 1500, expenses: 0 } })
  await ok(op, 'mutation ($h: ID!, $i: IncomeInput!) { recordIncome(householdId: $h, input: $i) { perCapitaNet } }',
    { h: fine, i: { year: 2020, wage: 15000, business: 0, property: 0, transfer: 0, expenses: 0 } })
  const child = (await ok(op, 'query ($id: ID!) { household(id: $id) { members { id relation } } }', { id: dropped })).household.members.find((m: any) => m.relation === 'CHILD')
  await ok(op, 'mutation ($id: ID!) { updateMember(id: $id, input: { schooling: DROPPED_OUT }) { id } }', { id: child.id })

  const warnings = (await ok(op, WARN, { c: VILLAGE })).exitWarnings
  const byId = new Map(warnings.edges.map((e: any) => [e.node.household.id, e.node]))
  t.notOk(byId.has(fine), 'a household that still meets every criterion is not listed')
  t.match(byId.get(fell), { year: 2020, failed: [{ criterion: 'INCOME', passed: false }] })
  t.match((byId.get(fell) as any).failed[0].detail, /2500\.00 元 < 贫困线 4000 元/)
  t.match(byId.get(dropped), { year: 2019, failed: [{ criterion: 'EDUCATION' }] })
  t.equal(warnings.edges.length, 2)
  t.equal(warnings.totalCount, 2)
  // A Relay connection like the other lists: one warning per page, forward and back, in household id order.
  const inOrder = [fell, dropped].sort()
  const ids = (page: any): string[] => page.edges.map((e: any) => e.node.household.id)
  const f1 = (await ok(op, WARN, { first: 1 })).exitWarnings
  t.same(ids(f1), [inOrder[0]])
  t.match(f1.pageInfo, { hasNextPage: true, hasPreviousPage: false, startCursor: f1.edges[0].cursor, endCursor: f1.edges[0].cursor })
  const f2 = (await ok(op, WARN, { first: 1, after: f1.pageInfo.endCursor })).exitWarnings
  t.same(ids(f2), [inOrder[1]])
  t.equal(f2.pageInfo.hasNextPage, false, 'no warning after the last, though the scan went on to its end')
  const b1 = (await ok(op, WARN, { last: 1 })).exitWarnings
  t.same(ids(b1), [inOrder[1]])
  t.match(b1.pageInfo, { hasNextPage: false, hasPreviousPage: true })
  const b2 = (await ok(op, WARN, { last: 1, before: b1.pageInfo.startCursor })).exitWarnings
  t.same(ids(b2), [inOrder[0]])
  t.equal(b2.pageInfo.hasPreviousPage, false)
  t.same(b2.edges[0].cursor, f1.edges[0].cursor, 'the same cursor for the same warning either way')
  t.equal(code(await op.gql(WARN, { first: 1, last: 1 })), 'BAD_USER_INPUT')
  // Another village's user sees none of them, and may not ask for this village.
  t.same((await ok(siblingViewer, WARN, {})).exitWarnings.edges, [])
  t.equal(code(await siblingViewer.gql(WARN, { c: VILLAGE })), 'FORBIDDEN')
})

t.test('village and county exits: only below 2% poverty incidence, at the levels the contract sets; poverty lines are data', async (t) => {
  const clock = testClock()
  const { as, sequenced } = await buildApp(t, { clock: clock.fn, database: await freshDatabase() })
  const village = '411224101210' // 骆家池村
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: village })
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const countyAdmin = as({ sub: uniqueSub('cadmin'), role: 'ADMIN', region: COUNTY })
  const cr = as({ sub: uniqueSub('cr'), role: 'REVIEWER', region: COUNTY })
  const tr = as({ sub: uniqueSub('tr'), role: 'REVIEWER', region: TOWNSHIP })
  const cityReviewer = as({ sub: uniqueSub('cityr'), role: 'REVIEWER', region: '4112' })
  const EXIT_VILLAGE = 'mutation ($c: String!, $y: Int!) { exitVillage(code: $c, year: $y) { code exitYear version } }'
  const EXIT_COUNTY = 'mutation ($c: String!, $y: Int!) { exitCounty(code: $c, year: $y) { code exitYear } }'
  const UPDATE = 'mutation ($c: String!, $v: Int!, $i: RegionPatch!) { updateRegion(code: $c, expectedVersion: $v, input: $i) { version } }'
  await exitReady(op, village) // 3 poor persons
  await exitReady(op, village) // 6
  const v1 = (await ok(admin, UPDATE, { c: village, v: 1, i: { isPoor: true } })).updateRegion.version

  t.equal(code(await cr.gql(EXIT_VILLAGE, { c: village, y: 2019 })), 'BAD_USER_INPUT', 'no rural population on record')
  const v2 = (await ok(admin, UPDATE, { c: village, v: v1, i: { ruralPopulation: 300 } })).updateRegion.version
  const refused = await cr.gql(EXIT_VILLAGE, { c: village, y: 2019 })
  t.equal(code(refused), 'BAD_USER_INPUT')
  t.match(refused.errors?.[0]?.message, /2\.00%/, 'the refusal states the incidence (6 ÷ 300)')
  t.match(refused.errors?.[0]?.extensions.fields?.[0], { path: 'code', message: /6 poor persons ÷ rural population 300/ })
  await ok(admin, UPDATE, { c: village, v: v2, i: { ruralPopulation: 301 } })
  t.equal(code(await tr.gql(EXIT_VILLAGE, { c: village, y: 2019 })), 'FORBIDDEN', 'township level may not')
  t.equal(code(await as({ sub: uniqueSub('ocr'), role: 'REVIEWER', region: OTHER_COUNTY }).gql(EXIT_VILLAGE, { c: village, y: 2019 })), 'FORBIDDEN', 'outside the area')
  t.equal(code(await cr.gql(EXIT_VILLAGE, { c: TOWNSHIP, y: 2019 })), 'BAD_USER_INPUT', 'not a village code')
  t.match((await ok(cr, EXIT_VILLAGE, { c: village, y: 2019 })).exitVillage, { code: village, exitYear: 2019 })
  t.equal(code(await cr.gql(EXIT_VILLAGE, { c: village, y: 2019 })), 'CONFLICT', 'already exited')
  t.equal(code(await cr.gql(EXIT_VILLAGE, { c: '411224101211', y: 2019 })), 'CONFLICT', 'a village not registered as poor')
  await sequenced()
  const log = await ok(admin, 'query ($f: AuditFilter) { auditLog(filter: $f, first: 5) { edges { node { action after } } } }', { f: { entity: 'Region', entityId: village } })
  t.match(log.auditLog.edges[0].node, { action: 'region.exit', after: { exitYear: 2019, poorPersons: 6, ruralPopulation: 301 } })

  // The county (卢氏县, registered poor) exits at city level.
  t.equal(code(await cr.gql(EXIT_COUNTY, { c: COUNTY, y: 2019 })), 'FORBIDDEN', 'county level may not')
  t.equal(code(await cityReviewer.gql(EXIT_COUNTY, { c: COUNTY, y: 2019 })), 'BAD_USER_INPUT', 'no rural population yet')
  const county = (await ok(admin, 'query { region(code: "411224") { version } }', {})).region
  await ok(admin, UPDATE, { c: COUNTY, v: county.version, i: { ruralPopulation: 330000 } })
  t.match((await ok(cityReviewer, EXIT_COUNTY, { c: COUNTY, y: 2019 })).exitCounty, { code: COUNTY, exitYear: 2019 })

  // Poverty lines: ADMIN at city level; the new line moves INCOME.
  const SET = 'mutation ($y: Int!, $a: Int!) { setPovertyLine(year: $y, amount: $a) { year amount } }'
  t.equal(code(await countyAdmin.gql(SET, { y: 2019, a: 6000 })), 'FORBIDDEN')
  t.equal(code(await cr.gql(SET, { y: 2019, a: 6000 })), 'FORBIDDEN')
  const bad = await admin.gql(SET, { y: 1999, a: 0 })
  t.same(bad.errors?.[0]?.extensions.fields?.map(f => f.path), ['year', 'amount'])
  const h = await exitReady(op, village)
  t.same((await ok(admin, SET, { y: 2019, a: 6000 })).setPovertyLine, { year: 2019, amount: 6000 })
  const income = (await ok(op, CRITERIA, { h, y: 2019 })).exitCriteria[0]
  t.match(income, { criterion: 'INCOME', passed: false, evidence: { povertyLine: 6000 } })
  t.same((await ok(op, 'query { povertyLines { year amount } }', {})).povertyLines.find((l: any) => l.year === 2019), { year: 2019, amount: 6000 })
})
