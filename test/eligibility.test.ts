import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { recordRead } from '../src/modules/audit/audit-service.js'
import { householdInput, nationalId } from './fixtures.js'
import { buildApp, freshDatabase, uniqueSub, USING_PG, type Client } from './helper.js'

const VILLAGE = '411224101201' // 龙王庙村, 卢氏县
const SIBLING = '411224101202' // the same township
const OTHER_COUNTY_VILLAGE = '411221100001' // 渑池县

async function create (client: Client, village: string, over: Record<string, unknown> = {}): Promise<{ id: string, members: Array<{ id: string, nationalId: string }> }> {
  const res = await client.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id members { id nationalId } } }', { i: householdInput(village, over) })
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data.createHousehold
}

t.test('eligibility: registered persons answer their household status and attribute, in the order asked, and nothing more', async (t) => {
  const statements: string[] = []
  const database = await freshDatabase({ onQuery: (q) => { statements.push(q) } })
  const { as } = await buildApp(t, { database })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const general = await create(op, VILLAGE)
  const dibao = await create(op, VILLAGE, { attribute: 'DIBAO' })
  const exited = await create(op, VILLAGE)
  await database.db.execute(sql`UPDATE households SET status = 'EXITED', exit_year = 2019 WHERE id = ${exited.id}`)
  const closed = await create(op, VILLAGE)
  t.notOk((await op.gql(`mutation { closeHousehold(id: "${closed.id}", reason: MOVED_AWAY) { status } }`)).errors)
  const removedFrom = await create(op, VILLAGE)
  t.notOk((await op.gql(`mutation { removeMember(id: "${removedFrom.members[1]!.id}", reason: MARRIED_OUT) { active } }`)).errors)
  t.notOk((await op.gql(`mutation { updateMember(id: "${removedFrom.members[2]!.id}", input: { deceasedAt: "2020-02-03" }) { deceasedAt } }`)).errors)
  const sibling = await create(as({ sub: uniqueSub('op'), role: 'OPERATOR', region: SIBLING }), SIBLING)
  const elsewhere = await create(as({ sub: uniqueSub('op'), role: 'OPERATOR', region: OTHER_COUNTY_VILLAGE }), OTHER_COUNTY_VILLAGE)
  const unknown = nationalId('1990-01-01', 'FEMALE')

  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const headX = general.members[0]!.nationalId
  const asked = [
    general.members[0]!.nationalId, unknown, dibao.members[1]!.nationalId, exited.members[2]!.nationalId,
    closed.members[0]!.nationalId, removedFrom.members[1]!.nationalId, removedFrom.members[2]!.nationalId, removedFrom.members[0]!.nationalId,
    sibling.members[0]!.nationalId, elsewhere.members[0]!.nationalId, headX
  ]
  statements.length = 0
  const res = await admin.post('/api/v1/eligibility', { nationalIds: asked })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], 'application/json')
  const reg = (householdStatus: string, attribute: string): object => ({ registered: true, householdStatus, attribute })
  const no = { registered: false, householdStatus: null, attribute: null }
  t.same(res.json(), {
    results: [
      reg('POOR', 'GENERAL'), no, reg('POOR', 'DIBAO'), reg('EXITED', 'GENERAL'),
      no, // a closed household's former member
      no, // removed from the household
      no, // deceased
      reg('POOR', 'GENERAL'), reg('POOR', 'GENERAL'), reg('POOR', 'GENERAL'),
      reg('POOR', 'GENERAL') // asked twice: answered twice
    ].map((r, i) => ({ nationalId: asked[i], ...r }))
  }, 'exactly the four fields, in the order asked')
  t.equal(statements.filter(s => /\bmembers\b/.test(s)).length, 1, 'one statement looks the persons up')

  // The ID is echoed as sent (a lower-case x is accepted).
  const withX = (() => { for (;;) { const id = nationalId('1966-06-06'); if (id.endsWith('X')) return id } })()
  const x = await admin.post('/api/v1/eligibility', { nationalIds: [withX.toLowerCase()] })
  t.same(x.json().results, [{ nationalId: withX.toLowerCase(), ...no }])

  // 100 IDs: still one statement.
  statements.length = 0
  const hundred = Array.from({ length: 100 }, (_, i) => (i % 10 === 0 ? general.members[0]!.nationalId : nationalId()))
  const big = await admin.post('/api/v1/eligibility', { nationalIds: hundred })
  t.equal(big.statusCode, 200)
  t.equal(big.json().results.filter((r: { registered: boolean }) => r.registered).length, 10)
  t.equal(statements.filter(s => /\bmembers\b/.test(s)).length, 1, 'no statement per ID')

  // The area rule: persons registered outside the caller's area are not registered for it.
  const countyHealth = as({ sub: uniqueSub('hospital'), role: 'EXCHANGE', region: '411224', dept: 'health' })
  const county = await countyHealth.post('/api/v1/eligibility', { nationalIds: [elsewhere.members[0]!.nationalId, general.members[0]!.nationalId] })
  t.equal(county.statusCode, 200)
  t.same(county.json().results.map((r: { registered: boolean }) => r.registered), [false, true])
  const villageAdmin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: SIBLING })
  const sib = await villageAdmin.post('/api/v1/eligibility', { nationalIds: [general.members[0]!.nationalId, sibling.members[0]!.nationalId] })
  t.same(sib.json().results.map((r: { registered: boolean }) => r.registered), [false, true], 'a sibling village is outside the area')
  const civil = as({ sub: uniqueSub('dibao'), role: 'EXCHANGE', region: '4112', dept: 'civil_affairs' })
  t.same((await civil.post('/api/v1/eligibility', { nationalIds: [elsewhere.members[0]!.nationalId] })).json().results[0].registered, true)
})

t.test('eligibility: only ADMIN and the health and civil-affairs departments may ask', async (t) => {
  const { as } = await buildApp(t)
  const ids = { nationalIds: [nationalId()] }
  for (const claims of [
    { role: 'OPERATOR', region: VILLAGE }, { role: 'VIEWER', region: '411224' }, { role: 'REVIEWER', region: '4112' },
    { role: 'AUDITOR', region: '4112' }, { role: 'EXCHANGE', region: '4112', dept: 'education' }, { role: 'EXCHANGE', region: '4112', dept: 'hr' }
  ]) {
    const res = await as({ sub: uniqueSub(), ...claims }).post('/api/v1/eligibility', ids)
    t.equal(res.statusCode, 403, `${claims.role} ${'dept' in claims ? claims.dept : ''}`)
    t.match(res.headers['content-type'], 'application/problem+json')
    t.match(res.json(), { status: 403, code: 'FORBIDDEN' })
  }
  for (const dept of ['health', 'civil_affairs']) {
    t.equal((await as({ sub: uniqueSub(), role: 'EXCHANGE', region: '4112', dept }).post('/api/v1/eligibility', ids)).statusCode, 200, dept)
  }
})

t.test('eligibility: bad input is 400 naming each bad field, and writes nothing', async (t) => {
  const { as, database, app } = await buildApp(t)
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const audits = async (): Promise<number> => Number((await queryRows<{ n: string }>(database.db, sql`SELECT count(*) AS n FROM audit_events`))[0]!.n)
  const before = await audits()
  const good = nationalId()
  const badCheck = good.slice(0, 17) + (good[17] === '0' ? '1' : '0')
  const paths = async (body: unknown): Promise<string[]> => {
    const res = await admin.post('/api/v1/eligibility', body)
    t.equal(res.statusCode, 400, JSON.stringify(body).slice(0, 80))
    t.match(res.headers['content-type'], 'application/problem+json')
    t.match(res.json(), { status: 400, code: 'BAD_USER_INPUT' })
    return res.json().errors.map((e: { path: string }) => e.path)
  }
  t.same(await paths({ nationalIds: [good, '41122419800517001', good, badCheck, '4112241980051700AX', '411224198002300013'] }),
    ['body.nationalIds.1', 'body.nationalIds.3', 'body.nationalIds.4', 'body.nationalIds.5'], 'too short, bad check digit, bad characters, no such date')
  const res = await admin.post('/api/v1/eligibility', { nationalIds: [badCheck] })
  t.match(res.json().errors[0].message, /check digit/)
  t.notMatch(res.body, badCheck, 'the message does not quote the ID')
  t.same(await paths({ nationalIds: [] }), ['body.nationalIds'])
  t.same(await paths({ nationalIds: Array.from({ length: 1001 }, () => good) }), ['body.nationalIds'])
  t.same(await paths({}), ['body.nationalIds'])
  t.same(await paths({ nationalIds: [good], extra: 1 }), ['body.extra'])
  t.same(await paths({ nationalIds: [good, { id: good }] }), ['body.nationalIds.1'])
  t.same(await paths({ nationalIds: ['4'.repeat(40)] }), ['body.nationalIds.0'])
  const text = await app.inject({ method: 'POST', url: '/api/v1/eligibility', headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' }, payload: '{"nationalIds": [' })
  t.equal(text.statusCode, 400)
  t.equal(await audits(), before, 'no audit entry for a refused request')
  t.equal((await admin.post('/api/v1/eligibility', { nationalIds: Array.from({ length: 1000 }, () => nationalId()) })).statusCode, 200, '1,000 IDs are accepted')
})

t.test('eligibility: every call writes one audit entry (who, how many asked, how many registered) and never an ID', async (t) => {
  const { as, database } = await buildApp(t)
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const h = await create(op, VILLAGE)
  const sub = uniqueSub('hospital')
  const hospital = as({ sub, role: 'EXCHANGE', region: '4112', dept: 'health' })
  const asked = [h.members[0]!.nationalId, nationalId(), h.members[1]!.nationalId]
  const last = async (): Promise<bigint> => BigInt((await queryRows<{ s: string | null }>(database.db, sql`SELECT max(id) AS s FROM audit_events`))[0]!.s ?? 0)
  const before = await last()
  t.equal((await hospital.post('/api/v1/eligibility', { nationalIds: asked })).statusCode, 200)
  const rows = await queryRows<Record<string, unknown>>(database.db, sql`SELECT * FROM audit_events WHERE id > ${before.toString()} ORDER BY id`)
  t.equal(rows.length, 1, 'one entry per call')
  t.match(rows[0], { actor_sub: sub, actor_role: 'EXCHANGE', action: 'eligibility.check', entity: 'EligibilityCheck', region_code: '4112', before: null, after: { dept: 'health', asked: 3, registered: 2 } })
  const stored = JSON.stringify(rows[0])
  const { Sealer } = await import('../src/shared/sealing.js')
  const { TEST_DATA_KEY } = await import('./helper.js')
  const sealer = new Sealer(Buffer.from(TEST_DATA_KEY, 'base64'))
  for (const id of asked) {
    t.notOk(stored.includes(id) || stored.includes(id.slice(6, 14) + id.slice(14)), 'no national ID in the clear')
    t.notOk(stored.includes(sealer.lookupHash(id)), 'nor its keyed hash')
  }
  // The chain stays valid with read entries in it.
  const auditor = as({ sub: uniqueSub(), role: 'AUDITOR', region: '4112' })
  t.same((await auditor.gql('{ verifyAuditChain { valid } }')).data, { verifyAuditChain: { valid: true } })
})

t.test('eligibility: concurrent calls share audit commits (one entry each), and no answer goes out without its entry', async (t) => {
  const statements: string[] = []
  const database = await freshDatabase({ onQuery: (q) => { statements.push(q) } })
  const { as } = await buildApp(t, { database })
  const hospital = as({ sub: uniqueSub('hospital'), role: 'EXCHANGE', region: '4112', dept: 'health' })
  const entries = async (): Promise<number> => Number((await queryRows<{ n: string }>(database.db, sql`SELECT count(*) AS n FROM audit_events WHERE action = 'eligibility.check'`))[0]!.n)
  t.equal((await hospital.post('/api/v1/eligibility', { nationalIds: [nationalId()] })).statusCode, 200) // token ready, statement prepared
  const before = await entries()
  statements.length = 0
  const calls = 20
  const answers = await Promise.all(Array.from({ length: calls }, async () => await hospital.post('/api/v1/eligibility', { nationalIds: [nationalId(), nationalId()] })))
  t.same(answers.map(a => a.statusCode), Array(calls).fill(200))
  t.equal(await entries(), before + calls, 'one entry per call')
  const commits = statements.filter(s => /^insert into "audit_events"/i.test(s)).length
  // PGlite is one connection: a lookup cannot finish while a commit runs, so entries rarely meet there.
  if (USING_PG) t.ok(commits >= 1 && commits < calls, `entries of concurrent calls committed together (${commits} commits for ${calls} calls)`)
  else t.ok(commits >= 1 && commits <= calls, `${commits} commits for ${calls} calls`)
  const auditor = as({ sub: uniqueSub(), role: 'AUDITOR', region: '4112' })
  t.same((await auditor.gql('{ verifyAuditChain { valid } }')).data, { verifyAuditChain: { valid: true } }, 'the chain stays whole')

  // An audit entry that cannot be written: the call fails and discloses nothing.
  await database.db.execute(sql.raw('ALTER TABLE audit_events ADD CONSTRAINT test_no_reads CHECK (action <> \'eligibility.check\') NOT VALID'))
  const failed = await Promise.all([1, 2, 3].map(async () => await hospital.post('/api/v1/eligibility', { nationalIds: [nationalId()] })))
  await database.db.execute(sql.raw('ALTER TABLE audit_events DROP CONSTRAINT test_no_reads'))
  for (const res of failed) {
    t.equal(res.statusCode, 500)
    t.match(res.headers['content-type'], 'application/problem+json')
    t.notOk('results' in res.json(), 'no results without an audit entry')
  }
  t.equal((await hospital.post('/api/v1/eligibility', { nationalIds: [nationalId()] })).statusCode, 200, 'and the next call is audited again')
})

t.test('a group of read entries is one INSERT of its own: no BEGIN or COMMIT round trips around it', async (t) => {
  const statements: string[] = []
  const database = await freshDatabase({ onQuery: (q) => { statements.push(q.trim().toLowerCase()) } })
  const actor = { sub: uniqueSub('hospital'), role: 'EXCHANGE' }
  const read = { action: 'eligibility.check' as const, entity: 'EligibilityCheck', regionCode: '4112', after: { dept: 'health', asked: 1, registered: 0 } }
  await Promise.all(Array.from({ length: 5 }, async (_, i) => { await recordRead(database.db, actor, new Date(), { ...read, entityId: `check-${i}` }) }))
  const inserts = statements.filter(s => s.startsWith('insert into "audit_events"')).length
  t.ok(inserts >= 1 && inserts <= 5, `${inserts} inserts for 5 entries`)
  // drizzle logs BEGIN and COMMIT on PostgreSQL (PGlite's transactions bypass the query log).
  t.same(statements.filter(s => /^(begin|commit)\b/.test(s)), [], 'no transaction statements')
  t.equal(statements.length, inserts, 'nothing but the inserts')
  t.equal(Number((await queryRows<{ n: string }>(database.db, sql`SELECT count(*) AS n FROM audit_events WHERE actor_sub = ${actor.sub}`))[0]!.n), 5, 'every entry committed')
})
