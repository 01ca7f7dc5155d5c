import { sql } from 'drizzle-orm'
import t from 'tap'
import { openDatabase, queryRows } from '../src/db/index.js'
import { changesInArea, changesInAreaQuery } from '../src/modules/audit/audit-repository.js'
import { recordAudit } from '../src/modules/audit/audit-service.js'
import type { Principal } from '../src/shared/principal.js'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { buildApp, machinePgDatabase, uniqueSub, type Client, type TestApp } from './helper.js'
import { planNodes } from './plans.js'

const VILLAGE = '411224101201'
const SIBLING = '411224101202'
const OTHER_COUNTY_VILLAGE = '411221100001'

interface Change { seq: string, at: string, entity: string, id: string, op: string }

async function gql (client: Client, query: string, variables?: Record<string, unknown>): Promise<any> {
  const res = await client.gql(query, variables)
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data
}

/** The app whose audit entries `feed` waits for: readers see sequenced changes only. */
let current: TestApp
async function feed (client: Client, query = ''): Promise<{ items: Change[], next: string | null }> {
  await current.sequenced()
  const res = await client.get(`/api/v1/changes${query}`)
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json()
}

t.test('changes: every change of records in area, oldest first, resumable with after; reads and other areas left out', async (t) => {
  current = await buildApp(t)
  const { as } = current
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const reader = as({ sub: uniqueSub('reader'), role: 'OPERATOR', region: VILLAGE })
  const start = (await feed(reader)).items.at(-1)?.seq ?? '0'

  const h = (await gql(op, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id version members { id } } }', { i: householdInput(VILLAGE) })).createHousehold
  await gql(op, `mutation { updateHousehold(id: "${h.id}", expectedVersion: 1, input: { foodSecure: true }) { version } }`)
  const m = (await gql(op, `mutation ($i: MemberInput!) { addMember(householdId: "${h.id}", input: $i) { id } }`, { i: memberInput({ relation: 'CHILD' }) })).addMember
  await gql(op, `mutation { removeMember(id: "${m.id}", reason: MOVED) { id } }`)
  await gql(op, `mutation { recordIncome(householdId: "${h.id}", input: { year: 2019, wage: 6000, business: 0, property: 0, transfer: 0, expenses: 0 }) { year } }`)
  await gql(op, `mutation { recordIncome(householdId: "${h.id}", input: { year: 2019, wage: 7000, business: 0, property: 0, transfer: 0, expenses: 0 }) { year } }`)
  const measure = (await gql(op, `mutation { addMeasure(householdId: "${h.id}", input: { category: INDUSTRY, kind: "solar", startDate: "2019-01-01" }) { id } }`)).addMeasure
  // Reads are audited but are no changes.
  t.equal((await as({ sub: uniqueSub(), role: 'ADMIN', region: VILLAGE }).post('/api/v1/eligibility', { nationalIds: [nationalId()] })).statusCode, 200)
  t.equal((await op.get('/api/v1/households/export')).statusCode, 200)
  await gql(op, `mutation { closeHousehold(id: "${h.id}", reason: MOVED_AWAY) { status } }`)
  // Changes elsewhere.
  await gql(as({ sub: uniqueSub(), role: 'OPERATOR', region: SIBLING }), 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(SIBLING) })
  const far = (await gql(as({ sub: uniqueSub(), role: 'OPERATOR', region: OTHER_COUNTY_VILLAGE }), 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(OTHER_COUNTY_VILLAGE) })).createHousehold

  const all = await feed(reader, `?after=${start}`)
  t.equal(all.next, null, 'caught up')
  // The household's helper (HelperInput): a helper record and its assignment, made with the household, and the assignment ended when it closes.
  const helper = all.items.find(c => c.entity === 'Helper')?.id
  const assignment = all.items.find(c => c.entity === 'HelperAssignment')?.id
  t.same(all.items.map(c => [c.entity, c.id, c.op]), [
    ['Helper', helper, 'create'],
    ['HelperAssignment', assignment, 'create'],
    ['Household', h.id, 'create'],
    ['Household', h.id, 'update'],
    ['Member', m.id, 'create'],
    ['Member', m.id, 'delete'],
    ['Income', `${h.id}:2019`, 'create'],
    ['Income', `${h.id}:2019`, 'update'],
    ['Measure', measure.id, 'create'],
    ['HelperAssignment', assignment, 'update'],
    ['Household', h.id, 'update'] // closed: still on record, as CLOSED
  ], 'the village\'s changes in order; no read entries, no sibling, no other county')
  t.ok(all.items.every((c, i) => /^\d+$/.test(c.seq) && (i === 0 || BigInt(all.items[i - 1]!.seq) < BigInt(c.seq))), 'seq ascending')
  t.ok(all.items.every(c => new Date(c.at).toISOString() === c.at), 'at is an ISO instant')
  t.same(Object.keys(all.items[0]!).sort(), ['at', 'entity', 'id', 'op', 'seq'])

  // Resumable: pages of 3 with next, then the rest; the pages add up to the whole.
  const seen: Change[] = []
  let after = start
  let pages = 0
  for (;;) {
    const page = await feed(reader, `?after=${after}&limit=3`)
    pages++
    seen.push(...page.items)
    if (page.next === null) break
    t.equal(page.items.length, 3)
    t.equal(page.next, page.items.at(-1)!.seq, 'next is the last seq of the page')
    after = page.next
  }
  t.equal(pages, 4)
  t.same(seen, all.items)
  t.same(await feed(reader, `?after=${all.items.at(-1)!.seq}`), { items: [], next: null }, 'nothing after the last change')
  t.same((await feed(reader, `?after=${all.items.at(-2)!.seq}&limit=1`)), { items: [all.items.at(-1)], next: null }, 'a full last page says null when nothing follows')

  // A county reader sees its villages, not the other county.
  const county = await feed(as({ sub: uniqueSub(), role: 'VIEWER', region: '411224' }), `?after=${start}&limit=1000`)
  t.ok(county.items.some(c => c.id === h.id))
  t.ok(county.items.length > all.items.length, 'the sibling village is in the county')
  t.notOk(county.items.some(c => c.id === far.id), 'the other county is not')
  const sibling = await feed(as({ sub: uniqueSub(), role: 'OPERATOR', region: SIBLING }), `?after=${start}&limit=1000`)
  t.notOk(sibling.items.some(c => c.id === h.id || c.id === m.id), 'a sibling village sees none of this village\'s changes')
})

t.test('changes: default and maximum page, roles, bad input', async (t) => {
  current = await buildApp(t)
  const { as, database } = current
  const village = '411224101204'
  await database.db.transaction(async (tx) => {
    await recordAudit(tx, { sub: 'seed', role: 'ADMIN' }, new Date(), Array.from({ length: 150 }, (_, i) => ({
      action: 'household.update', entity: 'Household', entityId: `h-${i}`, regionCode: village, before: { i }, after: { i }
    })))
  })
  const reader = as({ sub: uniqueSub(), role: 'AUDITOR', region: village })
  const first = await feed(reader)
  t.equal(first.items.length, 100, 'default limit 100')
  t.equal(first.next, first.items[99]!.seq)
  t.same(first.items.map(c => c.id), Array.from({ length: 100 }, (_, i) => `h-${i}`))
  const rest = await feed(reader, `?after=${first.next}&limit=1000`)
  t.same(rest.items.map(c => c.id), Array.from({ length: 50 }, (_, i) => `h-${100 + i}`))
  t.equal(rest.next, null)
  t.equal((await feed(reader, '?after=')).items.length, 100, 'an empty after is the beginning')

  // op: an entry with no before state made its record, whatever its verb; remove/delete take one away.
  await database.db.transaction(async (tx) => {
    await recordAudit(tx, { sub: 'seed', role: 'REVIEWER' }, new Date(), [
      { action: 'exit.propose', entity: 'ExitReview', entityId: 'r-1', regionCode: village, after: { status: 'PROPOSED' } },
      { action: 'exit.verify', entity: 'ExitReview', entityId: 'r-1', regionCode: village, before: { status: 'PROPOSED' }, after: { status: 'VERIFIED' } },
      { action: 'thing.delete', entity: 'Thing', entityId: 't-1', regionCode: village, before: { a: 1 } }
    ])
  })
  t.same((await feed(reader, `?after=${rest.items.at(-1)!.seq}`)).items.map(c => [c.id, c.op]), [['r-1', 'create'], ['r-1', 'update'], ['t-1', 'delete']])

  for (const claims of [{ role: 'EXCHANGE', region: '4112', dept: 'health' }, { role: 'EXCHANGE', region: '4112', dept: 'civil_affairs' }]) {
    const res = await as({ sub: uniqueSub(), ...claims }).get('/api/v1/changes')
    t.equal(res.statusCode, 403)
    t.match(res.json(), { code: 'FORBIDDEN' })
  }
  for (const role of ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR']) {
    t.equal((await as({ sub: uniqueSub(), role, region: village }).get('/api/v1/changes?limit=1')).statusCode, 200, role)
  }
  for (const [query, paths] of [
    ['?limit=0', ['querystring.limit']], ['?limit=1001', ['querystring.limit']], ['?limit=ten', ['querystring.limit']], ['?limit=1.5', ['querystring.limit']],
    ['?after=-1', ['querystring.after']], ['?after=abc', ['querystring.after']], ['?after=9999999999999999999', ['querystring.after']],
    ['?since=1', ['querystring.since']]
  ] as const) {
    const res = await reader.get(`/api/v1/changes${query}`)
    t.equal(res.statusCode, 400, query)
    t.match(res.headers['content-type'], 'application/problem+json')
    t.same(res.json().errors.map((e: { path: string }) => e.path), paths, query)
  }
})

t.test('changes: each position says whether its entry is a change; a poll behind many reads looks up the changes alone (the plan, on the machine\'s PostgreSQL, 30,000 reads)', async (t) => {
  // The sequencer's marks, through the app: a change and a read of one village.
  current = await buildApp(t)
  const sub = uniqueSub('op')
  const op = current.as({ sub, role: 'OPERATOR', region: VILLAGE })
  await gql(op, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(VILLAGE) })
  t.equal((await op.get('/api/v1/households/export')).statusCode, 200)
  await current.sequenced()
  const marks = await queryRows<{ action: string, change: boolean }>(current.database.db, sql`SELECT e.action, l.change FROM audit_log l JOIN audit_events e ON e.id = l.entry_id AND e.at = l.at
    WHERE e.actor_sub = ${sub} AND e.action IN ('household.create', 'household.export') ORDER BY l.seq`)
  t.same(marks, [{ action: 'household.create', change: true }, { action: 'household.export', change: false }])

  const { url } = await machinePgDatabase()
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 1 }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  // A city's log: 30,000 eligibility checks, a change before them, one after them, and a
  // read sequenced before positions said what they were (change null): left out by its action.
  await database.db.execute(sql`INSERT INTO audit_events (at, actor_sub, actor_role, action, entity, entity_id, region_code)
    SELECT now(), 'load', 'EXCHANGE', CASE WHEN g IN (1, 30002) THEN 'household.update' ELSE 'eligibility.check' END, 'Household', 'e-' || g, '4112' FROM generate_series(1, 30002) g`)
  await database.db.execute(sql`INSERT INTO audit_log (seq, entry_id, at, region_code, leaf_hash, change)
    SELECT row_number() OVER (ORDER BY id), id, at, region_code, sha256(id::text::bytea), CASE WHEN entity_id = 'e-2' THEN NULL ELSE action <> 'eligibility.check' END FROM audit_events`)
  await database.db.execute(sql`ANALYZE audit_events`)
  await database.db.execute(sql`ANALYZE audit_log`)
  const reader: Principal = { sub: 'reader', role: 'VIEWER', regionCode: '4112', level: 'CITY', dept: null }
  t.same((await changesInArea(database.db, reader, 1n, 101)).map(c => c.entityId), ['e-30002'], 'the poll after the first change finds the one after the reads')
  const nodes = await planNodes(database.db, changesInAreaQuery(reader, 1n, 101), true)
  const lookups = nodes.filter(n => n['Relation Name']?.startsWith('audit_events_') === true).reduce((most, n) => Math.max(most, n['Actual Loops'] ?? 0), 0)
  t.ok(lookups <= 2, `entries looked up: ${lookups} (the change after the reads, and the read of unknown kind), not one per read`)
  const ofChanges = (await queryRows<{ name: string }>(database.db, sql`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_log_changes_idx'::regclass`)).map(r => r.name)
  const used = nodes.flatMap(n => n['Index Name'] ?? [])
  t.ok(used.some(name => ofChanges.includes(name)), `by the index of changes (${used.join(', ')})`)
})
