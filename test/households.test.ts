import { eq, sql } from 'drizzle-orm'
import fc from 'fast-check'
import t from 'tap'
import { generateDemoData } from '../src/db/demo-data.js'
import { queryRows, type Database } from '../src/db/index.js'
import { members } from '../src/db/schema/index.js'
import { memberAudit } from '../src/modules/members/members-service.js'
import { Sealer } from '../src/shared/sealing.js'
import { HOUSEHOLD_FIELDS, householdInput, MEMBER_FIELDS, memberInput, nationalId } from './fixtures.js'
import { buildApp, freshDatabase, TEST_DATA_KEY, uniqueSub, type Client } from './helper.js'

const VILLAGE = '411224101201' // 龙王庙村, 杜关镇, 卢氏县
const SIBLING = '411224101202' // 郭家村, the same township
const OTHER_COUNTY = '411282' // 灵宝市

const CREATE = `mutation ($i: HouseholdInput!) { createHousehold(input: $i) { ${HOUSEHOLD_FIELDS} members { ${MEMBER_FIELDS} } } }`
const GET = `query ($id: ID!) { household(id: $id) { ${HOUSEHOLD_FIELDS} members(includeRemoved: true) { ${MEMBER_FIELDS} } measures { id category kind amount details member { name } } incomes { year perCapitaNet householdSize } } }`
const UPDATE = 'mutation ($id: ID!, $v: Int!, $i: HouseholdPatch!) { updateHousehold(id: $id, expectedVersion: $v, input: $i) { version phone housingSafe otherCauses } }'

/** Everything the registry holds, to prove a refused request changed nothing. */
async function snapshot (database: Database): Promise<unknown> {
  return await queryRows(database.db, sql`SELECT
    (SELECT count(*) FROM households) AS h, (SELECT max(updated_at) FROM households) AS hu,
    (SELECT count(*) FROM members) AS m, (SELECT max(updated_at) FROM members) AS mu,
    (SELECT count(*) FROM incomes) AS i, (SELECT count(*) FROM measures) AS me, (SELECT max(updated_at) FROM measures) AS meu,
    (SELECT count(*) FROM audit_events) AS a`)
}

async function create (client: Client, village = VILLAGE, over: Record<string, unknown> = {}): Promise<any> {
  const res = await client.gql(CREATE, { i: householdInput(village, over) })
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data.createHousehold
}

t.test('an operator registers, reads, pages through, updates and closes households', async (t) => {
  const { as, database } = await buildApp(t, { database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await create(op)
  t.match(h, {
    householdNo: `${VILLAGE}0001`, status: 'POOR', attribute: 'GENERAL', mainCause: 'ILLNESS', otherCauses: ['LACK_OF_FUNDS'],
    identificationYear: 2016, housingSafe: true, drinkingWaterSafe: false, phone: '13812345678', bankAccount: '6222020200112233445',
    helper: { name: '李四', unit: '卢氏县扶贫办', phone: '13900001111' }, headName: '王建国', version: 1, region: { code: VILLAGE, name: '龙王庙村村委会' }
  })
  t.same(h.members.map((m: any) => [m.name, m.relation, m.sex, m.birthDate]), [
    ['王建国', 'HEAD', 'MALE', '1975-03-02'], ['李秀英', 'SPOUSE', 'FEMALE', '1978-11-20'], ['王小明', 'CHILD', 'MALE', '2008-09-01']
  ], 'head first, then eldest first; sex and birth date from the ID')
  t.match(h.members[2], { schooling: 'JUNIOR_HIGH', employment: 'UNEMPLOYED', wantsWork: false, healthConditions: [], active: true })

  const second = await create(op)
  t.equal(second.householdNo, `${VILLAGE}0002`, 'numbers are generated per village')
  const third = await create(op, VILLAGE, { householdNo: 'LS-2016-77', mainCause: 'EDUCATION' })
  t.equal(third.householdNo, 'LS-2016-77')

  const page1 = await op.gql('query ($a: String) { households(first: 2, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }')
  t.equal(page1.data.households.totalCount, 3)
  t.equal(page1.data.households.edges.length, 2)
  t.equal(page1.data.households.pageInfo.hasNextPage, true)
  const page2 = await op.gql('query ($a: String) { households(first: 2, after: $a) { pageInfo { hasNextPage } edges { node { id } } } }', { a: page1.data.households.pageInfo.endCursor })
  t.equal(page2.data.households.edges.length, 1)
  t.equal(page2.data.households.pageInfo.hasNextPage, false)
  const ids = [...page1.data.households.edges, ...page2.data.households.edges].map((e: any) => e.node.id)
  t.same([...ids].sort(), [h.id, second.id, third.id].sort())
  const byCause = await op.gql('{ households(filter: { mainCause: EDUCATION }) { totalCount edges { node { id } } } }')
  t.same(byCause.data.households.edges.map((e: any) => e.node.id), [third.id])
  const byName = await op.gql('{ households(filter: { nameContains: "秀英" }) { totalCount } }')
  t.equal(byName.data.households.totalCount, 3)
  const byWildcard = await op.gql('{ households(filter: { nameContains: "%" }) { totalCount } }')
  t.equal(byWildcard.data.households.totalCount, 0, 'LIKE wildcards are taken literally')

  const updated = await op.gql(UPDATE, { id: h.id, v: 1, i: { phone: '13700001111', housingSafe: false, otherCauses: [] } })
  t.same(updated.data.updateHousehold, { version: 2, phone: '13700001111', housingSafe: false, otherCauses: [] })
  const before = await snapshot(database)
  const stale = await op.gql(UPDATE, { id: h.id, v: 1, i: { phone: '13600000000' } })
  t.equal(stale.errors?.[0]?.extensions.code, 'CONFLICT')
  t.same(await snapshot(database), before, 'a stale version writes nothing')

  const closed = await op.gql(`mutation { closeHousehold(id: "${second.id}", reason: MOVED_AWAY) { status closeReason members(includeRemoved: true) { active } } }`)
  t.match(closed.data.closeHousehold, { status: 'CLOSED', closeReason: 'MOVED_AWAY', members: [{ active: false }, { active: false }, { active: false }] })
  const again = await op.gql(UPDATE, { id: second.id, v: 2, i: { phone: '13600000000' } })
  t.equal(again.errors?.[0]?.extensions.code, 'CONFLICT', 'a closed household is read-only')

  const audit = await queryRows<{ action: string }>(database.db, sql`SELECT action FROM audit_events ORDER BY id`)
  // The fixtures' helper (HelperInput) becomes one helper record, created with the first household and reused by the others;
  // closing a household ends its helper's assignment.
  t.same(audit.map(a => a.action), ['helper.create', 'helperAssignment.create', 'household.create', 'helperAssignment.create', 'household.create',
    'helperAssignment.create', 'household.create', 'household.update', 'helperAssignment.end', 'household.close'])
  const [helpers] = await queryRows<{ n: number }>(database.db, sql`SELECT count(*)::int AS n FROM helpers`)
  t.equal(helpers?.n, 1, 'one helper record for the three households')
})

t.test('members: add, update, remove with a reason (kept for history); one active household per person', async (t) => {
  const { as, database } = await buildApp(t, { database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224101' })
  const h = await create(op)
  const grandmaId = nationalId('1940-02-29', 'FEMALE')
  const added = await op.gql(`mutation ($i: MemberInput!) { addMember(householdId: "${h.id}", input: $i) { ${MEMBER_FIELDS} household { id } } }`,
    { i: memberInput({ nationalId: grandmaId, name: '赵桂兰', relation: 'GRANDPARENT', laborCapacity: 'LOST', sex: 'FEMALE', healthConditions: ['DISABLED'], disabilityGrade: 2 }) })
  t.match(added.data.addMember, { nationalId: grandmaId, birthDate: '1940-02-29', disabilityGrade: 2, household: { id: h.id } })
  const memberId = added.data.addMember.id

  const found = await op.gql(`{ memberByNationalId(nationalId: "${grandmaId.toLowerCase()}") { id name } }`)
  t.same(found.data.memberByNationalId, { id: memberId, name: '赵桂兰' }, 'found by the keyed hash, lower-case x accepted')

  const upd = await op.gql(`mutation { updateMember(id: "${memberId}", expectedVersion: 1, input: { deceasedAt: "2019-12-01", pensionInsurance: true }) { deceasedAt pensionInsurance version } }`)
  t.same(upd.data.updateMember, { deceasedAt: '2019-12-01', pensionInsurance: true, version: 2 })
  const staleMember = await op.gql(`mutation { updateMember(id: "${memberId}", expectedVersion: 1, input: { dibao: true }) { version } }`)
  t.equal(staleMember.errors?.[0]?.extensions.code, 'CONFLICT')

  // The same person cannot be registered in a second household while active in the first.
  const dup = await op.gql(CREATE, { i: householdInput('411224101202', { members: [memberInput({ nationalId: grandmaId, sex: 'FEMALE' })] }) })
  t.equal(dup.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.same(dup.errors?.[0]?.extensions.fields?.map(f => f.path), ['input.members.0.nationalId'])

  const removed = await op.gql(`mutation { removeMember(id: "${memberId}", reason: DECEASED) { active removalReason } }`)
  t.same(removed.data.removeMember, { active: false, removalReason: 'DECEASED' })
  const view = await op.gql(GET, { id: h.id })
  t.equal(view.data.household.members.length, 4, 'the removed member is kept for history')
  const active = await op.gql(`{ household(id: "${h.id}") { members { id } } }`)
  t.equal(active.data.household.members.length, 3)
  const headId = h.members[0].id
  const headRemoval = await op.gql(`mutation { removeMember(id: "${headId}", reason: MOVED) { active } }`)
  t.same(headRemoval.errors?.[0]?.extensions.fields?.map(f => f.path), ['id'], 'the head goes last')
  const reRegistered = await op.gql(CREATE, { i: householdInput('411224101202', { members: [memberInput({ nationalId: grandmaId, sex: 'FEMALE' })] }) })
  t.equal(reRegistered.errors, undefined, 'once removed, the person may be registered elsewhere')

  const rows = await queryRows<Record<string, unknown>>(database.db, sql`SELECT * FROM members`)
  const audits = await queryRows<Record<string, unknown>>(database.db, sql`SELECT * FROM audit_events`)
  const raw = JSON.stringify([rows, audits])
  t.notOk(raw.includes(grandmaId), 'no plaintext national ID in the members or audit tables')
  t.notOk(raw.includes(h.members[0].nationalId), 'nor any other member\'s')
  t.notOk(JSON.stringify(await queryRows(database.db, sql`SELECT * FROM households`)).includes('6222020200112233445'), 'no plaintext bank account')
})

t.test('audit payloads of member writes hold the keyed hash of the national ID, never the ID nor its masked form beside the birth date', async (t) => {
  const { as, database } = await buildApp(t, { database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await create(op)
  const id = nationalId('1952-07-14', 'MALE')
  const added = await op.gql(`mutation ($i: MemberInput!) { addMember(householdId: "${h.id}", input: $i) { id } }`, { i: memberInput({ nationalId: id, name: '王老汉', relation: 'PARENT', laborCapacity: 'WEAK', sex: 'MALE' }) })
  const memberId = added.data.addMember.id
  await op.gql(`mutation { updateMember(id: "${memberId}", expectedVersion: 1, input: { dibao: true }) { version } }`)
  const sealer = new Sealer(Buffer.from(TEST_DATA_KEY, 'base64'))
  const audits = await queryRows<{ action: string, before: unknown, after: unknown }>(database.db, sql`SELECT action, before, after FROM audit_events WHERE action IN ('household.create', 'member.add', 'member.update') ORDER BY id`)
  t.same(audits.map(a => a.action), ['household.create', 'member.add', 'member.update'])
  const payload = JSON.stringify(audits)
  for (const m of [...h.members.map((x: { nationalId: string }) => x.nationalId), id]) {
    t.notOk(payload.includes(m), 'no national ID in the clear')
    t.notOk(payload.includes(m.slice(0, 6) + '*'), 'no masked national ID (its first 6 and last 4 beside the birth date would be the whole ID)')
    t.ok(payload.includes(sealer.lookupHash(m)), 'the keyed hash names the person')
  }
  // (The hashes are hex, which may hold a run of digits: taken out first.)
  t.notMatch(payload.replace(/"[0-9a-f]{64}"/g, '""'), /\d{17}[\dXx]|\d{6}\*{8}/, 'nothing shaped like an ID, clear or masked')
})

t.test('bad input is BAD_USER_INPUT naming each field, and nothing is stored', async (t) => {
  const { as, database } = await buildApp(t, { database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224' })
  const before = await snapshot(database)
  const goodId = nationalId('1990-01-01', 'MALE')
  const badCheck = goodId.slice(0, 17) + (goodId[17] === '0' ? '1' : '0')
  const res = await op.gql(CREATE, {
    i: householdInput('411224101201', {
      identificationYear: 2009,
      phone: 'call me',
      bankAccount: '12ab',
      cultivatedLandMu: -1,
      members: [
        memberInput({ nationalId: badCheck }),
        memberInput({ nationalId: nationalId('1992-02-02', 'FEMALE'), relation: 'HEAD', sex: 'MALE' }),
        memberInput({ nationalId: nationalId('2001-01-01'), relation: 'CHILD', disabilityGrade: 7 })
      ]
    })
  })
  t.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.same(res.errors?.[0]?.extensions.fields?.map(f => f.path).sort(), [
    'input.bankAccount', 'input.cultivatedLandMu', 'input.identificationYear', 'input.members', 'input.members.0.nationalId',
    'input.members.1.sex', 'input.members.2.disabilityGrade', 'input.phone'
  ])
  t.notOk(JSON.stringify(res.errors).includes(badCheck), 'the error does not echo the ID')
  const township = await op.gql(CREATE, { i: householdInput('411224101') })
  t.same(township.errors?.[0]?.extensions.fields?.map(f => f.path), ['input.regionCode'], 'households live in villages')
  const unknownVillage = await op.gql(CREATE, { i: householdInput('411224101999') })
  t.same(unknownVillage.errors?.[0]?.extensions.fields?.map(f => f.path), ['input.regionCode'])
  const wrongEnum = await op.gql(CREATE, { i: householdInput('411224101201', { attribute: 'RICH' }) })
  t.same(wrongEnum.errors?.[0]?.extensions.fields?.map(f => f.path), ['i.attribute'])
  const h = await create(op)
  const after = await snapshot(database)
  const income = await op.gql(`mutation { recordIncome(householdId: "${h.id}", input: { year: 2031, wage: -5, business: 0, property: 0, transfer: 10, expenses: 0.001, transferItems: { pension: 3 } }) { year } }`)
  t.same(income.errors?.[0]?.extensions.fields?.map(f => f.path).sort(), ['input.expenses', 'input.transferItems', 'input.wage', 'input.year'])
  const measure = await op.gql(`mutation { addMeasure(householdId: "${h.id}", input: { category: FINANCE, kind: "microcredit", startDate: "2019-02-30", details: { bank: "农信社" } }) { id } }`)
  t.equal(measure.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.ok(measure.errors?.[0]?.extensions.fields?.some(f => f.path === 'input.startDate'))
  t.ok(measure.errors?.[0]?.extensions.fields?.some(f => f.path === 'input.details.principal'))
  const notAMember = await op.gql(`mutation { addMeasure(householdId: "${h.id}", input: { category: HEALTH, kind: "family_doctor_contract", startDate: "2019-01-01", memberId: "00000000-0000-4000-8000-000000000000" }) { id } }`)
  t.same(notAMember.errors?.[0]?.extensions.fields?.map(f => f.path), ['input.memberId'])
  t.same(await snapshot(database), after, 'refused writes store nothing')
})

t.test('incomes (one per year, replaced) and measures (validated per category, derived amounts)', async (t) => {
  const { as } = await buildApp(t, { database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await create(op)
  const record = 'mutation ($id: ID!, $i: IncomeInput!) { recordIncome(householdId: $id, input: $i) { year wage transfer transferItems perCapitaNet householdSize } }'
  const first = await op.gql(record, { id: h.id, i: { year: 2019, wage: 9000, business: 2000, property: 0, transfer: 1500, expenses: 1000, transferItems: { pension: 1200, ecological: 300 } } })
  t.same(first.data.recordIncome, { year: 2019, wage: 9000, transfer: 1500, transferItems: { pension: 1200, ecological: 300 }, perCapitaNet: 3833.33, householdSize: 3 })
  const replaced = await op.gql(record, { id: h.id, i: { year: 2019, wage: 12000, business: 0, property: 0, transfer: 0, expenses: 0, householdSize: 4 } })
  t.equal(replaced.data.recordIncome.perCapitaNet, 3000)
  await op.gql(record, { id: h.id, i: { year: 2018, wage: 6000, business: 0, property: 0, transfer: 0, expenses: 0 } })

  const child = h.members.find((m: any) => m.relation === 'CHILD')
  const add = 'mutation ($id: ID!, $i: MeasureInput!) { addMeasure(householdId: $id, input: $i) { id amount details version member { name } } }'
  const farmland = await op.gql(add, { id: h.id, i: { category: 'ECOLOGICAL', kind: 'returned_farmland', startDate: '2018-04-01', details: { areaMu: 3.5 } } })
  t.match(farmland.data.addMeasure, { amount: 5600, details: { areaMu: 3.5 }, member: null })
  const loan = await op.gql(add, { id: h.id, i: { category: 'FINANCE', kind: 'microcredit', startDate: '2018-05-01', endDate: '2021-05-01', fundingSource: '扶贫小额信贷', details: { bank: '卢氏县农村信用合作联社', principal: 50000, termMonths: 36, interestSubsidy: 2175 } } })
  t.equal(loan.data.addMeasure.amount, 50000)
  const school = await op.gql(add, { id: h.id, i: { category: 'EDUCATION', kind: 'rain_dew_plan', startDate: '2019-09-01', amount: 1500, memberId: child.id } })
  t.same(school.data.addMeasure.member, { name: '王小明' })
  const extended = await op.gql(`mutation ($d: JSON) { updateMeasure(id: "${loan.data.addMeasure.id}", expectedVersion: 1, input: { details: $d }) { amount version details } }`,
    { d: { bank: '卢氏县农村信用合作联社', principal: 50000, termMonths: 36, interestSubsidy: 2175, extension: { months: 6, approvedOn: '2021-04-20' } } })
  t.match(extended.data.updateMeasure, { amount: 50000, version: 2, details: { extension: { months: 6 } } })
  const stale = await op.gql(`mutation { updateMeasure(id: "${loan.data.addMeasure.id}", expectedVersion: 1, input: { status: COMPLETED }) { version } }`)
  t.equal(stale.errors?.[0]?.extensions.code, 'CONFLICT')

  const view = await op.gql(GET, { id: h.id })
  t.same(view.data.household.incomes.map((i: any) => [i.year, i.perCapitaNet, i.householdSize]), [[2019, 3000, 4], [2018, 2000, 3]])
  t.same(view.data.household.measures.map((m: any) => m.kind), ['returned_farmland', 'microcredit', 'rain_dew_plan'])
})

t.test('a user of a sibling village or another county can neither see nor change the record', async (t) => {
  const { as, database } = await buildApp(t, { database: await freshDatabase() })
  const owner = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await create(owner)
  const memberId = h.members[0].id
  const headId = h.members[0].nationalId
  await owner.gql(`mutation { addMeasure(householdId: "${h.id}", input: { category: INDUSTRY, kind: "livestock", startDate: "2019-01-01" }) { id } }`)
  const before = await snapshot(database)
  for (const [who, region, role] of [['sibling village', SIBLING, 'OPERATOR'], ['other county', OTHER_COUNTY, 'ADMIN'], ['other county auditor', OTHER_COUNTY, 'AUDITOR']] as const) {
    const other = as({ sub: uniqueSub(), role, region })
    const read = await other.gql(GET, { id: h.id })
    t.equal(read.data.household, null, `${who}: household(id) is null`)
    t.equal(read.errors?.[0]?.extensions.code, 'NOT_FOUND', `${who}: NOT_FOUND as for a missing id`)
    t.equal((await other.gql('{ households { totalCount } }')).data.households.totalCount, 0, `${who}: lists never contain it`)
    t.equal((await other.gql(`{ memberByNationalId(nationalId: "${headId}") { id } }`)).errors?.[0]?.extensions.code, 'NOT_FOUND', `${who}: not found by national ID`)
    const filter = await other.gql(`{ households(filter: { regionCode: "${VILLAGE}" }) { totalCount } }`)
    t.equal(filter.errors?.[0]?.extensions.code, 'FORBIDDEN', `${who}: naming the region is FORBIDDEN`)
    if (role === 'AUDITOR') continue
    const writes = [
      [UPDATE, { id: h.id, v: 1, i: { phone: '13000000000' } }],
      [`mutation { closeHousehold(id: "${h.id}", reason: MOVED_AWAY) { id } }`, {}],
      [`mutation ($i: MemberInput!) { addMember(householdId: "${h.id}", input: $i) { id } }`, { i: memberInput({ relation: 'CHILD' }) }],
      [`mutation { updateMember(id: "${memberId}", input: { dibao: true }) { id } }`, {}],
      [`mutation { removeMember(id: "${memberId}", reason: MOVED) { id } }`, {}],
      [`mutation { recordIncome(householdId: "${h.id}", input: { year: 2019, wage: 1, business: 0, property: 0, transfer: 0, expenses: 0 }) { year } }`, {}],
      [`mutation { addMeasure(householdId: "${h.id}", input: { category: INDUSTRY, kind: "solar", startDate: "2019-01-01" }) { id } }`, {}]
    ] as const
    for (const [query, variables] of writes) {
      const res = await other.gql(query, variables)
      t.equal(res.errors?.[0]?.extensions.code, 'NOT_FOUND', `${who}: ${query.slice(0, 40)} … NOT_FOUND`)
    }
    const place = await other.gql(CREATE, { i: householdInput(VILLAGE) })
    t.equal(place.errors?.[0]?.extensions.code, 'FORBIDDEN', `${who}: cannot register a household in the village`)
  }
  t.same(await snapshot(database), before, 'nothing changed')
})

t.test('VIEWER output is masked everywhere; VIEWER, REVIEWER, AUDITOR and EXCHANGE cannot write', async (t) => {
  const { as, database } = await buildApp(t, { database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await create(op)
  const viewer = as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: '411224' })
  const seen = await viewer.gql(GET, { id: h.id })
  const hh = seen.data.household
  t.equal(hh.phone, '138****5678')
  t.equal(hh.bankAccount, '***************3445')
  t.equal(hh.helper.phone, '139****1111')
  for (const [i, m] of hh.members.entries()) {
    t.equal(m.nationalId, h.members[i].nationalId.slice(0, 6) + '********' + h.members[i].nationalId.slice(14))
  }
  const listed = await viewer.gql('{ households { edges { node { phone members { nationalId } } } } }')
  t.equal(listed.data.households.edges[0].node.phone, '138****5678')
  t.match(listed.data.households.edges[0].node.members[0].nationalId, /^\d{6}\*{8}[\dX]{4}$/)
  const byId = await viewer.gql(`{ memberByNationalId(nationalId: "${h.members[0].nationalId}") { id nationalId birthDate } }`)
  t.match(byId.data.memberByNationalId.nationalId, /^\d{6}\*{8}[\dX]{4}$/)
  // The 8 hidden digits are the birth date: VIEWER sees its year only, wherever a member shows (contract §3).
  t.same(hh.members.map((m: { birthDate: string }) => m.birthDate), ['1975', '1978', '2008'], 'birth year only beside the masked ID')
  t.equal(byId.data.memberByNationalId.birthDate, '1975')
  const one = await viewer.gql(`{ memberByNationalId(nationalId: "${h.members[1].nationalId}") { birthDate household { members { birthDate } } } }`)
  t.same(one.data.memberByNationalId, { birthDate: '1978', household: { members: [{ birthDate: '1975' }, { birthDate: '1978' }, { birthDate: '2008' }] } })
  const birthOnly = await viewer.gql('{ households { edges { node { members { birthDate } } } } }')
  t.same(birthOnly.data.households.edges[0].node.members.map((m: { birthDate: string }) => m.birthDate), ['1975', '1978', '2008'], 'also when the ID is not asked')
  t.notMatch(JSON.stringify([seen, listed, byId, one, birthOnly]), /\d{4}-\d{2}-\d{2}/, 'no full birth date anywhere in VIEWER answers')
  const reviewer = as({ sub: uniqueSub('reviewer'), role: 'REVIEWER', region: '411224' })
  t.equal((await reviewer.gql(`{ memberByNationalId(nationalId: "${h.members[0].nationalId}") { birthDate } }`)).data.memberByNationalId.birthDate, '1975-03-02', 'other roles see the date')

  const before = await snapshot(database)
  for (const role of ['VIEWER', 'REVIEWER', 'AUDITOR']) {
    const u = as({ sub: uniqueSub(), role, region: '411224' })
    t.equal((await u.gql(UPDATE, { id: h.id, v: 1, i: { phone: '13000000000' } })).errors?.[0]?.extensions.code, 'FORBIDDEN', `${role} may not update`)
    t.equal((await u.gql(CREATE, { i: householdInput(VILLAGE) })).errors?.[0]?.extensions.code, 'FORBIDDEN', `${role} may not create`)
  }
  const exchange = as({ sub: uniqueSub(), role: 'EXCHANGE', region: '4112', dept: 'health' })
  t.equal((await exchange.gql(GET, { id: h.id })).errors?.[0]?.extensions.code, 'FORBIDDEN', 'EXCHANGE may not read records')
  t.same(await snapshot(database), before)
})

t.test('nested fields are batched: a page of households costs the same few statements whatever its size', async (t) => {
  let statements = 0
  // The import worker's poll (a transaction over exchange_jobs) may fall inside a count: it is not the page's.
  const database = await freshDatabase({ onQuery: (q) => { if (!q.includes('exchange_jobs') && !/^(begin|commit|rollback)\b/i.test(q.trim())) statements++ } })
  const { as } = await buildApp(t, { database })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224101' })
  for (let i = 0; i < 50; i++) {
    const h = await create(op, i % 2 === 0 ? VILLAGE : SIBLING)
    await op.gql(`mutation { recordIncome(householdId: "${h.id}", input: { year: 2019, wage: 5000, business: 0, property: 0, transfer: 0, expenses: 0 }) { year } }`)
    await op.gql(`mutation { addMeasure(householdId: "${h.id}", input: { category: INDUSTRY, kind: "livestock", startDate: "2019-01-01", memberId: "${h.members[1].id}" }) { id } }`)
  }
  const page = (n: number): string => `{ households(first: ${n}) { totalCount edges { node { id headName region { name parent { name } }
    members { name household { id } } measures { kind member { name } household { id } } incomes { perCapitaNet } } } } }`
  const count = async (n: number): Promise<number> => {
    statements = 0
    const res = await op.gql(page(n))
    t.equal(res.data.households.edges.length, n)
    return statements
  }
  const five = await count(5)
  const fifty = await count(50)
  t.equal(fifty, five, `the same number of statements for 5 and 50 households (${fifty})`)
  t.ok(fifty <= 12, `a handful of statements: ${fifty}`)
})

t.test('a member update is two statements: the prepared read, and the UPDATE with its audit entry in one statement, no transaction (docs/benchmarks.md, "Writes and the audit log")', async (t) => {
  const statements: string[] = []
  let counting = false
  // The import worker's poll (a transaction over exchange_jobs) may fall inside the count: it is not the write's.
  const database = await freshDatabase({ onQuery: (q) => { if (counting && !q.includes('exchange_jobs')) statements.push(q) } })
  const { as } = await buildApp(t, { database })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await create(op)
  const id = h.members[1].id
  for (const [n, input] of [[1, '{ employmentMonths: 3 }'], [2, '{ dibao: true, wantsWork: true }'], [3, '{ employmentMonths: 4 }']] as const) {
    statements.length = 0
    counting = true
    const res = await op.gql(`mutation { updateMember(id: "${id}", expectedVersion: ${n}, input: ${input}) { id version } }`)
    counting = false
    t.same(res.data.updateMember, { id, version: n + 1 })
    t.same(statements.map(q => q.trim().split(/\s+/)[0]!.toLowerCase()), ['select', 'with'], `update ${n}: the read, then the update with its audit entry`)
    t.match(statements[1], /^with "u" as \(update "members".*"a" as \(INSERT INTO "audit_events"/s)
  }
})

t.test('a member write\'s audit entry holds exactly the row before and after it, for any patch, with or without an expected version, and under races', async (t) => {
  const { as, database } = await buildApp(t, { database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await create(op)
  const id: string = h.members[1].id
  const stored = async (): Promise<Record<string, unknown>> => {
    const [row] = await database.db.select().from(members).where(eq(members.id, id))
    return JSON.parse(JSON.stringify(memberAudit(row!))) as Record<string, unknown>
  }
  const entries = async (): Promise<Array<{ before: any, after: any }>> =>
    await queryRows(database.db, sql`SELECT before, after FROM audit_events WHERE entity = 'Member' AND entity_id = ${id} AND action = 'member.update' ORDER BY id`)
  const patch = fc.record({
    employmentMonths: fc.integer({ min: 0, max: 12 }),
    monthlyIncome: fc.integer({ min: 0, max: 20_000 }),
    dibao: fc.boolean(),
    wantsWork: fc.boolean(),
    medicalInsurance: fc.boolean(),
    education: fc.constantFrom('小学', '初中', ' 高中 ', null),
    name: fc.constantFrom('李秀英', '李 秀英', ' 李秀兰')
  }, { requiredKeys: [] }).filter(p => Object.keys(p).length > 0)
  let last = await stored()
  await fc.assert(fc.asyncProperty(patch, fc.boolean(), async (input, withVersion) => {
    const version = last.version as number
    const res = await op.gql(`mutation ($id: ID!, $v: Int, $i: MemberPatch!) { updateMember(id: $id, expectedVersion: $v, input: $i) { version } }`, { id, v: withVersion ? version : null, i: input })
    t.equal(res.errors, undefined)
    const now = await stored()
    const entry = (await entries()).at(-1)!
    t.same(entry.before, last, 'before: the row as it was')
    t.same(entry.after, now, 'after: the row as it is')
    t.equal(now.version, version + 1)
    last = now
  }), { numRuns: 25 })

  // Writers without an expected version that race: each write applies, and the entries chain (each one's before is the one before's after).
  const before = (await entries()).length
  const results = await Promise.all(Array.from({ length: 8 }, async (_, k) =>
    await op.gql(`mutation ($id: ID!, $i: MemberPatch!) { updateMember(id: $id, input: $i) { version } }`, { id, i: { employmentMonths: k } })))
  t.same(results.map(r => r.errors), Array(8).fill(undefined), 'no conflict without an expected version (a lost race is read and tried again)')
  const raced = (await entries()).slice(before - 1)
  t.equal(raced.length, 9)
  for (let k = 1; k < raced.length; k++) t.same(raced[k]!.before, raced[k - 1]!.after, `entry ${k} follows entry ${k - 1}`)
  t.same(raced.at(-1)!.after, await stored())
})

t.test('member patches of more shapes than are kept prepared (256) all apply', async (t) => {
  const { as } = await buildApp(t, { database: await freshDatabase() })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await create(op)
  const id: string = h.members[1].id
  const fields = ['dibao', 'wantsWork', 'medicalInsurance', 'seriousIllnessInsurance', 'pensionInsurance', 'extremeSupport', 'employmentMonths', 'monthlyIncome', 'education']
  const value = (f: string, k: number): unknown => f === 'employmentMonths' ? k % 13 : f === 'monthlyIncome' ? k : f === 'education' ? (k % 2 === 0 ? '初中' : '小学') : k % 2 === 0
  const failures: unknown[] = []
  // Every non-empty subset of 9 fields: 511 shapes, one write each.
  for (let mask = 1; mask < 2 ** fields.length; mask++) {
    const input = Object.fromEntries(fields.filter((_, i) => (mask & (1 << i)) !== 0).map(f => [f, value(f, mask)]))
    const res = await op.gql('mutation ($id: ID!, $i: MemberPatch!) { updateMember(id: $id, input: $i) { version } }', { id, i: input })
    if (res.errors !== undefined) failures.push(res.errors)
  }
  t.same(failures, [], 'no write refused')
  const final = await op.gql(`{ household(id: "${h.id}") { members { id version } } }`)
  t.equal(final.data.household.members.find((m: { id: string }) => m.id === id).version, 2 ** fields.length, 'each applied once')
})

t.test('any choice of household, member, measure and income fields reads only those columns and answers as the full read does', async (t) => {
  const statements: string[] = []
  const database = await freshDatabase({ onQuery: (q) => { statements.push(q) } })
  const { as } = await buildApp(t, { database })
  await generateDemoData(database.db, new Sealer(Buffer.from(TEST_DATA_KEY, 'base64')), { households: 12, region: '411224101', seed: 5 })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224101' })
  const viewer = as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: '411224101' })
  const household = ['householdNo', 'status', 'attribute', 'mainCause', 'otherCauses', 'identificationYear', 'exitYear', 'returnYear', 'housingSafe', 'drinkingWaterSafe',
    'foodSecure', 'clothingSecure', 'phone', 'bankName', 'bankAccount', 'cultivatedLandMu', 'forestLandMu', 'returnedFarmlandMu', 'helper { name unit phone }', 'headName',
    'closeReason', 'version', 'region { code }', 'statusHistory { toStatus }', 'exitReviews { id }']
  const member = MEMBER_FIELDS.split(/\s+/).filter(f => f !== '')
  const measure = ['id', 'category', 'kind', 'status', 'startDate', 'endDate', 'amount', 'fundingSource', 'details', 'version', 'member { id name }', 'household { id }']
  const income = ['year', 'wage', 'business', 'property', 'transfer', 'transferItems', 'expenses', 'householdSize', 'perCapitaNet']
  const nested = (m: string[], x: string[], i: string[]): string => `members { ${m.join(' ')} } measures { ${x.join(' ')} } incomes { ${i.join(' ')} }`
  const ids = (await op.gql('{ households(first: 12) { edges { node { id } } } }')).data.households.edges.map((e: { node: { id: string } }) => e.node.id)
  const full = new Map<string, any>()
  for (const [who, client] of [['op', op], ['viewer', viewer]] as const) {
    for (const id of ids) full.set(who + id, (await client.gql(`query ($id: ID!) { household(id: $id) { ${household.join(' ')} ${nested(member, measure, income)} } }`, { id })).data.household)
  }
  t.ok([...full.values()].some(h => h.phone !== null && h.bankAccount !== null && h.helper !== null), 'phones, bank accounts and helpers among them')
  const pick = (o: Record<string, unknown>, fields: string[]): Record<string, unknown> => Object.fromEntries(fields.map(f => f.split(' ')[0]!).map(f => [f, o[f]]))
  // More choices than the shapes kept per database (64): the later ones are built for their request alone.
  await fc.assert(fc.asyncProperty(fc.constantFrom('op', 'viewer'), fc.subarray(household), fc.subarray(member, { minLength: 1 }), fc.subarray(measure, { minLength: 1 }), fc.subarray(income, { minLength: 1 }), fc.constantFrom(...ids),
    async (who, h, m, x, i, id) => {
      const res = await (who === 'op' ? op : viewer).gql(`query ($id: ID!) { household(id: $id) { ${h.join(' ')} ${nested(m, x, i)} } }`, { id })
      const all = full.get(who + id)
      t.same(res, { status: 200, data: { household: {
        ...pick(all, h),
        members: all.members.map((o: Record<string, unknown>) => pick(o, m)),
        measures: all.measures.map((o: Record<string, unknown>) => pick(o, x)),
        incomes: all.incomes.map((o: Record<string, unknown>) => pick(o, i))
      } } })
    }), { numRuns: 80 })
  statements.length = 0
  const page = await op.gql(`{ households(first: 12) { edges { node { id ${nested(['name'], ['kind'], ['year'])} } } } }`)
  const read = statements.find(q => /from "members"/i.test(q)) ?? ''
  t.match(read, /"members"\."name"/)
  t.notMatch(read, /"members"\."national_id_sealed"|"measures"\."details"|"incomes"\."wage"|"households"\."(bank_account_sealed|phone|helper_name|household_no)"/, 'columns not asked for are not read')
  t.same(page.data.households.edges.map((e: { node: any }) => e.node), ids.map((id: string) => ({ id, members: full.get('op' + id).members.map((o: any) => ({ name: o.name })), measures: full.get('op' + id).measures.map((o: any) => ({ kind: o.kind })), incomes: full.get('op' + id).incomes.map((o: any) => ({ year: o.year })) })), 'a page reads only the fields asked, too')
})

t.test('members, measures and incomes come in the household\'s own statement and answer exactly as when read alone', async (t) => {
  const statements: string[] = []
  const database = await freshDatabase({ onQuery: (q) => { if (!q.includes('exchange_jobs') && !/^(begin|commit|rollback)\b/i.test(q.trim())) statements.push(q) } })
  const { as } = await buildApp(t, { database })
  await generateDemoData(database.db, new Sealer(Buffer.from(TEST_DATA_KEY, 'base64')), { households: 40, region: '411224101', seed: 11 })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224101' })
  const viewer = as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: '411224101' })
  // A household with a member besides its head (some have only a head).
  const first = (await op.gql('{ households(first: 40) { edges { node { id members { id relation } } } } }')).data.households.edges
    .map((e: { node: { id: string, members: Array<{ id: string, relation: string }> } }) => e.node).find((h: { members: unknown[] }) => h.members.length > 1)
  const removed = first.members.find((m: { relation: string }) => m.relation !== 'HEAD')
  t.notOk((await op.gql(`mutation { removeMember(id: "${removed.id}", reason: MOVED) { id } }`)).errors)

  const NESTED = `members { ${MEMBER_FIELDS} }
    measures { id category kind status startDate endDate amount fundingSource details version } incomes { year wage business property transfer transferItems expenses householdSize perCapitaNet }`
  for (const [who, client] of [['OPERATOR', op], ['VIEWER (masked)', viewer]] as const) {
    statements.length = 0
    const page = await client.gql(`{ households(first: 40) { edges { node { id ${NESTED} } } } }`)
    t.notOk(page.errors)
    t.equal(statements.length, 1, `${who}: a page with its members, measures and incomes is one statement`)
    statements.length = 0
    const one = await client.gql(`query ($id: ID!) { household(id: $id) { ...N } } fragment N on Household { id ${NESTED} }`, { id: first.id })
    t.equal(statements.length, 1, `${who}: one household through a fragment, one statement`)
    // The same fields reached through Member.household are read by the loaders, one statement per field.
    const alone = await client.gql(`{ households(first: 40) { edges { node { id members(includeRemoved: true) { household { id ${NESTED} } } } } } }`)
    const nodes = page.data.households.edges.map((e: { node: { id: string } }) => e.node)
    t.equal(nodes.length, 40)
    t.ok(nodes.some((h: { measures: unknown[] }) => h.measures.length > 0) && nodes.some((h: { incomes: unknown[] }) => h.incomes.length > 0), 'measures and incomes among them')
    for (const [i, e] of alone.data.households.edges.entries()) {
      t.same(nodes[i], e.node.members[0].household, `${who}: household ${i} answers the same both ways`)
    }
    t.same(one.data.household, nodes.find((h: { id: string }) => h.id === first.id))
    {
      // The same field twice with different arguments: each read by its loader, both right.
      const h = (await client.gql(`{ household(id: "${first.id}") { members { id } all: members(includeRemoved: true) { id active } } }`)).data.household
      t.notOk(h.members.some((m: { id: string }) => m.id === removed.id), 'a removed member is left out by default')
      t.ok(h.all.some((m: { id: string, active: boolean }) => m.id === removed.id && !m.active), 'and listed with includeRemoved')
      t.equal(h.all.length, h.members.length + 1)
    }
    if (who.startsWith('VIEWER')) t.ok(nodes.every((h: { members: Array<{ nationalId: string }> }) => h.members.every(m => /^\d{6}\*{8}\d{3}[\dX]$/.test(m.nationalId))), 'national IDs masked for VIEWER')
  }
})
