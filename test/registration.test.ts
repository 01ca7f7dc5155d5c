/**
 * The registration oracle (issue 17 item 4): the one-household rule and unique household
 * numbers are global, but a refusal for a record outside the caller's area says neither
 * which input nor where, is audited in a transaction of its own, and is limited per user
 * and day (REGISTRATION_REFUSALS_PER_DAY), beyond which the user is refused and an alert logged.
 */
import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows, type Database } from '../src/db/index.js'
import { Sealer } from '../src/shared/sealing.js'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { buildApp, freshDatabase, TEST_DATA_KEY, testConfig, uniqueSub, type Client } from './helper.js'

const VILLAGE = '411224101201' // 龙王庙村, 杜关镇, 卢氏县
const SIBLING = '411224101202' // 郭家村, the same township
const ELSEWHERE = '411282100001' // 南田社区, 城关镇, 灵宝市 (another county)

const CREATE = 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id householdNo members { id nationalId } } }'
const ADD = 'mutation ($h: ID!, $i: MemberInput!) { addMember(householdId: $h, input: $i) { id } }'
const sealer = new Sealer(Buffer.from(TEST_DATA_KEY, 'base64'))

/** The registry's rows (not the audit trail): a refusal writes none of them. */
async function registry (database: Database): Promise<unknown> {
  return await queryRows(database.db, sql`SELECT (SELECT count(*) FROM households) AS h, (SELECT count(*) FROM members) AS m,
    (SELECT max(updated_at) FROM households) AS hu, (SELECT max(updated_at) FROM members) AS mu`)
}

async function refusals (database: Database, sub: string): Promise<Array<{ region_code: string, entity: string, after: { refused: Array<Record<string, string>> } }>> {
  return await queryRows(database.db, sql`SELECT region_code, entity, after FROM audit_events WHERE action = 'registration.refuse' AND actor_sub = ${sub} ORDER BY id`)
}

async function create (client: Client, village: string, over: Record<string, unknown> = {}): Promise<any> {
  const res = await client.gql(CREATE, { i: householdInput(village, over) })
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data.createHousehold
}

t.test('a person or household number registered outside the area: one unnamed CONFLICT, audited by keyed hash, nothing else written', async (t) => {
  const { as, database, sequenced } = await buildApp(t, { database: await freshDatabase() })
  const there = as({ sub: uniqueSub('op-lingbao'), role: 'OPERATOR', region: ELSEWHERE })
  const registered = await create(there, ELSEWHERE, { householdNo: `LB-${uniqueSub('no')}` })
  const theirs = registered.members[1].nationalId as string

  const sub = uniqueSub('op-lushi')
  const op = as({ sub, role: 'OPERATOR', region: '411224' })
  const mine = await create(op, VILLAGE)

  const before = await registry(database)
  const input = householdInput(SIBLING)
  ;(input.members as Array<Record<string, unknown>>)[1]!.nationalId = theirs
  const refused = await op.gql(CREATE, { i: input })
  t.equal(refused.errors?.[0]?.extensions.code, 'CONFLICT')
  t.equal(refused.errors?.[0]?.extensions.fields, undefined, 'no field named')
  const text = JSON.stringify(refused)
  for (const secret of [theirs, 'members.1', ELSEWHERE, '411282', '灵宝', registered.id]) t.notOk(text.includes(secret), `the answer does not say ${secret}`)

  const added = await op.gql(ADD, { h: mine.id, i: memberInput({ nationalId: theirs, relation: 'OTHER' }) })
  t.equal(added.errors?.[0]?.extensions.code, 'CONFLICT', 'addMember: the same')
  t.equal(added.errors?.[0]?.extensions.fields, undefined)
  t.equal(added.errors?.[0]?.message, refused.errors?.[0]?.message, 'one message, whatever the input')

  const number = await op.gql(CREATE, { i: householdInput(SIBLING, { householdNo: registered.householdNo }) })
  t.equal(number.errors?.[0]?.extensions.code, 'CONFLICT', 'a household number taken elsewhere: the same')
  t.equal(number.errors?.[0]?.message, refused.errors?.[0]?.message)
  t.notOk(JSON.stringify(number).includes('householdNo'), 'the field is not named')

  t.same(await registry(database), before, 'no household or member written')
  const audited = await refusals(database, sub)
  t.same(audited.map(a => a.region_code), [SIBLING, VILLAGE, SIBLING], 'one entry per refusal, in the caller\'s target region (never where the record is)')
  t.same(audited.map(a => a.after.refused), [[{ nationalIdHash: sealer.lookupHash(theirs) }], [{ nationalIdHash: sealer.lookupHash(theirs) }], [{ householdNo: registered.householdNo }]])
  t.notOk(JSON.stringify(audited).includes(theirs), 'the audit keeps the keyed hash, not the ID')
  await sequenced()
  const feed = (await op.get('/api/v1/changes?limit=1000')).json() as { items: Array<{ entity: string }> }
  t.notOk(feed.items.some(c => c.entity === 'Registration'), 'a refusal is no change: not in the change feed')
})

t.test('inside the caller\'s area the refusal still names the field (the caller may read that record anyway), and is not counted', async (t) => {
  const { as, database } = await buildApp(t, { database: await freshDatabase() })
  const sub = uniqueSub('op')
  const op = as({ sub, role: 'OPERATOR', region: '411224101' })
  const first = await create(op, VILLAGE, { householdNo: `LS-${uniqueSub('no')}` })
  const input = householdInput(SIBLING, { householdNo: first.householdNo })
  ;(input.members as Array<Record<string, unknown>>)[2]!.nationalId = first.members[2].nationalId
  const res = await op.gql(CREATE, { i: input })
  t.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.same(res.errors?.[0]?.extensions.fields?.map(f => f.path), ['input.householdNo', 'input.members.2.nationalId'])
  const add = await op.gql(ADD, { h: first.id, i: memberInput({ nationalId: first.members[1].nationalId, relation: 'OTHER' }) })
  t.same(add.errors?.[0]?.extensions.fields?.map(f => f.path), ['input.nationalId'])
  t.same(await refusals(database, sub), [], 'not audited as a probe')
})

t.test('REGISTRATION_REFUSALS_PER_DAY: beyond it the user may not register until the next UTC day (FORBIDDEN) and an alert is logged', async (t) => {
  const lines: string[] = []
  let now = new Date('2026-03-10T10:00:00Z')
  const { as, database } = await buildApp(t, {
    database: await freshDatabase(),
    config: testConfig({ REGISTRATION_REFUSALS_PER_DAY: '3' }),
    clock: () => now,
    log: line => lines.push(line)
  })
  const there = as({ sub: uniqueSub('op-lingbao'), role: 'OPERATOR', region: ELSEWHERE })
  const registered = await create(there, ELSEWHERE)
  const sub = uniqueSub('prober')
  const prober = as({ sub, role: 'OPERATOR', region: '411224' })
  const probe = async (): Promise<string | undefined> => {
    const input = householdInput(VILLAGE)
    ;(input.members as Array<Record<string, unknown>>)[1]!.nationalId = registered.members[1].nationalId
    return (await prober.gql(CREATE, { i: input })).errors?.[0]?.extensions.code
  }
  const alerts = (): Array<Record<string, unknown>> => lines.map(l => JSON.parse(l)).filter(l => l.alert === 'registration-probing')

  t.same([await probe(), await probe()], ['CONFLICT', 'CONFLICT'])
  t.same(alerts(), [], 'no alert below the limit')
  t.equal(await probe(), 'CONFLICT', 'the third refusal is still answered')
  t.match(alerts(), [{ level: 50, sub, refusals: 3, limit: 3, msg: /^ALERT: / }], 'reaching the limit logs an alert (error level)')

  const mine = await create(as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE }), VILLAGE)
  const before = await registry(database)
  t.equal(await probe(), 'FORBIDDEN', 'beyond the limit: refused before the registry is consulted')
  const clean = await prober.gql(CREATE, { i: householdInput(VILLAGE) })
  t.equal(clean.errors?.[0]?.extensions.code, 'FORBIDDEN', 'even a clean registration, for the rest of the day')
  t.match(clean.errors?.[0]?.message, /Too many registrations refused today/)
  t.equal((await prober.gql(ADD, { h: mine.id, i: memberInput({ nationalId: nationalId(), relation: 'OTHER' }) })).errors?.[0]?.extensions.code, 'FORBIDDEN', 'addMember too')
  t.equal(alerts().length, 4, 'each refusal beyond the limit logs the alert again')
  t.equal((await refusals(database, sub)).length, 3, 'beyond the limit nothing is looked up, so nothing more to audit')
  t.same(await registry(database), before, 'the registry unchanged by the refused requests')

  const other = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224' })
  t.equal((await other.gql(CREATE, { i: householdInput(VILLAGE) })).errors, undefined, 'another user keeps their own budget')

  now = new Date('2026-03-11T00:00:01Z')
  t.equal(await probe(), 'CONFLICT', 'the next day the budget starts afresh')
  t.equal((await prober.gql(CREATE, { i: householdInput(VILLAGE) })).errors, undefined, 'and the user may register again')
})
