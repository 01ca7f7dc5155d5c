/**
 * The scale benchmark's fast generator (bench/scale-data.ts): COPY into a database of the
 * machine's PostgreSQL (COPY FROM STDIN is a server's; whichever variant of the suite
 * runs), the same households as the demo generator, records the service reads.
 */
import t from 'tap'
import { asc, eq } from 'drizzle-orm'
import pg from 'pg'
import { fillRegistry } from '../bench/scale-data.js'
import { generateDemoData } from '../src/db/demo-data.js'
import { openDatabase, type Db } from '../src/db/index.js'
import { households, members } from '../src/db/schema/index.js'
import { parseNationalId } from '../src/shared/national-id.js'
import { Sealer } from '../src/shared/sealing.js'
import { buildApp, freshDatabase, machinePgDatabase, TEST_DATA_KEY } from './helper.js'

const sealer = new Sealer(Buffer.from(TEST_DATA_KEY, 'base64'))
const N = 200
const OPTS = { seed: 11, year: 2020 }

/** Household numbers with their members' names, birth dates and relations: what the plan decides (ids and seals aside). */
async function plan (db: Db): Promise<string[]> {
  const rows = await db.select({ no: households.householdNo, status: households.status, name: members.name, birth: members.birthDate, relation: members.relation })
    .from(members).innerJoin(households, eq(households.id, members.householdId))
    .orderBy(asc(households.householdNo), asc(members.birthDate), asc(members.name), asc(members.relation))
  return rows.map(r => `${r.no} ${r.status} ${r.name} ${r.birth} ${r.relation}`)
}

t.test('fills an empty registry with the demo generator\'s households, valid and readable by the service', async (t) => {
  const { url } = await machinePgDatabase()
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  t.teardown(async () => { await admin.end() })
  const schema = async (): Promise<string[]> => (await admin.query<{ d: string }>(`
    SELECT pg_get_indexdef(indexrelid) d FROM pg_index WHERE indrelid::regclass::text IN ('households', 'members', 'incomes', 'measures', 'exit_reviews')
    UNION ALL SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE contype IN ('p', 'u', 'f')
    ORDER BY 1`)).rows.map(r => r.d)
  const before = await schema()

  const result = await fillRegistry(url, sealer, { households: N, segment: 64, ...OPTS })
  t.equal(result.households, N)
  const counted = (await admin.query<{ h: number, m: number, i: number, x: number }>(`SELECT (SELECT count(*)::int FROM households) h, (SELECT count(*)::int FROM members) m,
    (SELECT count(*)::int FROM incomes) i, (SELECT count(*)::int FROM measures) x`)).rows[0]!
  t.same(counted, { h: N, m: result.members, i: result.incomes, x: result.measures }, 'every planned row is stored')
  t.same(await schema(), before, 'keys, indexes and foreign keys rebuilt as they were')
  const analyzed = (await admin.query<{ n: number }>("SELECT count(*)::int n FROM pg_stat_user_tables WHERE relname IN ('households', 'members') AND last_analyze IS NOT NULL")).rows[0]!
  t.equal(analyzed.n, 2, 'analyzed at the end')

  // The same households as the demo generator's with the same seed (rows written by COPY instead of INSERT).
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 2 }, { error: (o: unknown) => { t.fail(String(o)) } })
  t.teardown(async () => { await database.close() })
  const demo = await freshDatabase()
  await generateDemoData(demo.db, sealer, { households: N, region: '4112', ...OPTS })
  t.same(await plan(database.db), await plan(demo.db), 'the demo generator\'s plan for the same seed')

  // National IDs: valid (check digit), of the member's birth date, sex and county, sealed and hashed as the service does.
  const ms = await database.db.select().from(members)
  const hs = new Map((await database.db.select().from(households)).map(h => [h.id, h]))
  let bad = 0
  for (const m of ms) {
    const id = sealer.open(m.nationalIdSealed)
    const parsed = parseNationalId(id, new Date())
    if (!parsed.ok || parsed.birthDate !== m.birthDate || parsed.sex !== m.sex || sealer.lookupHash(id) !== m.nationalIdHash ||
      id.slice(0, 6) !== m.regionCode.slice(0, 6) || hs.get(m.householdId)?.regionCode !== m.regionCode) bad++
  }
  t.equal(bad, 0, 'every national ID valid and consistent with its member and household')
  t.equal(new Set(ms.map(m => m.nationalIdHash)).size, ms.length, 'national IDs unique')

  // Refused on a registry that has households: it fills empty ones only.
  await t.rejects(fillRegistry(url, sealer, { households: 10, ...OPTS }), /not empty/)

  // The service reads them, within area rules.
  const { as } = await buildApp(t, { database })
  const someone = ms.find(m => m.relation === 'HEAD')!
  const household = hs.get(someone.householdId)!
  const county = household.regionCode.slice(0, 6)
  const operator = as({ sub: 'scale-operator', role: 'OPERATOR', region: county })
  const one = await operator.gql<{ household: { householdNo: string, members: Array<{ id: string, nationalId: string }> } }>(
    'query ($id: ID!) { household(id: $id) { householdNo members { id nationalId } } }', { id: household.id })
  t.equal(one.errors, undefined)
  t.equal(one.data.household.householdNo, household.householdNo)
  t.equal(one.data.household.members.find(m => m.id === someone.id)?.nationalId, sealer.open(someone.nationalIdSealed), 'the service opens the sealed ID')
  const page = await operator.gql<{ households: { totalCount: number } }>('query ($r: String!) { households(filter: { regionCode: $r }, first: 5) { totalCount } }', { r: county })
  t.equal(page.data.households.totalCount, [...hs.values()].filter(h => h.regionCode.startsWith(county)).length, 'the county\'s households listed')
  const check = await as({ sub: 'scale-hospital', role: 'EXCHANGE', region: '4112', dept: 'health' }).post('/api/v1/eligibility', { nationalIds: [sealer.open(someone.nationalIdSealed)] })
  t.equal(check.statusCode, 200)
  t.match(check.json(), { results: [{ registered: true }] }, 'found by its keyed hash')

  const other = as({ sub: 'scale-other', role: 'OPERATOR', region: county === '411221' ? '411222' : '411221' })
  const hidden = await other.gql('query ($id: ID!) { household(id: $id) { id } }', { id: household.id })
  t.match(hidden.errors?.[0]?.extensions.code, /^(FORBIDDEN|NOT_FOUND)$/, 'another county\'s operator cannot read it')
  const changed = await other.gql('mutation ($id: ID!) { updateMember(id: $id, input: { employmentMonths: 3 }) { id } }', { id: someone.id })
  t.match(changed.errors?.[0]?.extensions.code, /^(FORBIDDEN|NOT_FOUND)$/, 'nor change it')
  t.equal((await database.db.select().from(members).where(eq(members.id, someone.id)))[0]!.version, 1)
})
