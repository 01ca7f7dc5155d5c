import t from 'tap'
import { asc, eq, sql } from 'drizzle-orm'
import { generateDemoData, generateDemoProjects } from '../src/db/demo-data.js'
import { exitReviews, householdStatusChanges, households, incomes, measures, members, povertyLines, regions } from '../src/db/schema/index.js'
import { evaluateExitCriteria } from '../src/shared/exit-criteria.js'
import { parseNationalId } from '../src/shared/national-id.js'
import { validateMeasure } from '../src/shared/measure-details.js'
import { Sealer } from '../src/shared/sealing.js'
import { queryRows, type Db } from '../src/db/index.js'
import { freshDatabase } from './helper.js'

const sealer = new Sealer(Buffer.alloc(32, 7))
const OPTS = { households: 40, region: '411224', seed: 20190101 }

async function count (db: Db, table: typeof households | typeof members | typeof incomes | typeof measures): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(table)
  return Number(row!.n)
}

async function snapshot (db: Db): Promise<{ numbers: string[], names: string[] }> {
  const hs = await db.select({ no: households.householdNo }).from(households).orderBy(asc(households.householdNo))
  const ms = await db.select({ no: households.householdNo, name: members.name, birth: members.birthDate })
    .from(members).innerJoin(households, eq(households.id, members.householdId))
    .orderBy(asc(households.householdNo), asc(members.birthDate), asc(members.name))
  return { numbers: hs.map(h => h.no), names: ms.map(m => `${m.no}:${m.name}:${m.birth}`) }
}

t.test('generates consistent, valid demo data', async (t) => {
  const { db } = await freshDatabase()
  const before = { households: await count(db, households), members: await count(db, members), incomes: await count(db, incomes), measures: await count(db, measures) }
  const result = await generateDemoData(db, sealer, OPTS)
  t.equal(result.households, 40)
  t.equal(await count(db, households) - before.households, result.households)
  t.equal(await count(db, members) - before.members, result.members)
  t.equal(await count(db, incomes) - before.incomes, result.incomes)
  t.equal(await count(db, measures) - before.measures, result.measures)
  t.equal(result.incomes, 80, 'two income years per household')
  t.ok(result.members >= 40 && result.members <= 240)

  const villages = new Set((await db.select({ code: regions.code }).from(regions).where(eq(regions.level, 'VILLAGE'))).map(r => r.code).filter(c => c.startsWith('411224')))
  const hs = await db.select().from(households)
  for (const h of hs) {
    t.ok(villages.has(h.regionCode), 'household in a village under 411224')
    t.match(h.householdNo, new RegExp(`^${h.regionCode}\\d{4}$`))
  }
  t.equal(new Set(hs.map(h => h.householdNo)).size, hs.length, 'household numbers are unique')

  const ms = await db.select().from(members)
  for (const h of hs) {
    const heads = ms.filter(m => m.householdId === h.id && m.active && m.relation === 'HEAD')
    t.equal(heads.length, 1, 'exactly one active head')
  }
  const now = new Date()
  let bad = 0
  for (const m of ms) {
    const id = sealer.open(m.nationalIdSealed)
    const parsed = parseNationalId(id, now)
    if (!parsed.ok || parsed.birthDate !== m.birthDate || parsed.sex !== m.sex || sealer.lookupHash(id) !== m.nationalIdHash ||
      id.slice(0, 6) !== m.regionCode.slice(0, 6) || m.regionCode !== hs.find(h => h.id === m.householdId)!.regionCode) bad++
  }
  t.equal(bad, 0, 'every national ID is valid and matches birth date, sex, hash and county')
  t.equal(new Set(ms.map(m => m.nationalIdHash)).size, ms.length, 'national IDs are unique')

  for (const i of await db.select().from(incomes)) {
    const living = ms.filter(m => m.householdId === i.householdId && m.active && m.deceasedAt === null).length
    t.equal(i.householdSize, living)
    t.equal(i.perCapitaNet, Math.round((i.wage + i.business + i.property + i.transfer - i.expenses) / living * 100) / 100)
  }

  const ns = await db.select().from(measures)
  let invalid = 0
  for (const m of ns) {
    const check = validateMeasure({ category: m.category, kind: m.kind, status: m.status, startDate: m.startDate, endDate: m.endDate, amount: m.amount, details: m.details }, 'm')
    if (check.fields.length > 0) { invalid++; t.comment(JSON.stringify(check.fields)) }
  }
  t.equal(invalid, 0, 'every measure passes validateMeasure')

  // No exits on paper: every EXITED household has an APPROVED review for its exit year, a status change, and meets the criteria.
  const exited = hs.filter(h => h.status === 'EXITED')
  t.ok(exited.length > 0, 'some households exited')
  const reviews = await db.select().from(exitReviews)
  const changes = await db.select().from(householdStatusChanges)
  for (const h of exited) {
    t.ok(reviews.some(r => r.householdId === h.id && r.status === 'APPROVED' && r.year === h.exitYear), 'an approved review')
    t.ok(changes.some(c => c.householdId === h.id && c.toStatus === 'EXITED' && c.year === h.exitYear), 'a status change')
    const lines = new Map((await db.select().from(povertyLines)).map(l => [l.year, l.amount]))
    const result = evaluateExitCriteria({
      year: h.exitYear!,
      household: h,
      members: ms.filter(m => m.householdId === h.id && m.active),
      perCapitaNet: (await db.select().from(incomes)).find(i => i.householdId === h.id && i.year === h.exitYear)?.perCapitaNet ?? null,
      povertyLine: lines.get(h.exitYear!) ?? null
    })
    t.ok(result.every(c => c.passed), 'the criteria hold for the exit year')
  }
  t.equal(reviews.filter(r => r.status === 'APPROVED').length, exited.length)

  // A second run continues the numbering and keeps IDs unique.
  const again = await generateDemoData(db, sealer, { ...OPTS, households: 5, seed: 7 })
  t.equal(again.households, 5)
  const all = await db.select({ no: households.householdNo }).from(households)
  t.equal(new Set(all.map(h => h.no)).size, all.length)
})

t.test('the same seed gives the same data', async (t) => {
  const a = await freshDatabase()
  const b = await freshDatabase()
  const ra = await generateDemoData(a.db, sealer, OPTS)
  const rb = await generateDemoData(b.db, sealer, OPTS)
  t.same(ra, rb)
  const sa = await snapshot(a.db)
  const sb = await snapshot(b.db)
  t.same(sa.numbers, sb.numbers)
  t.same(sa.names, sb.names)
  t.ok(sa.numbers.length >= 40)
})

t.test('the embedded first start loads 200 demo households into an empty registry, once', async (t) => {
  const { loadDemoDataIfEmpty } = await import('../src/infra/migrate.js')
  const database = await freshDatabase()
  const config = { demoData: true, dataKey: Buffer.alloc(32, 7), regionSeed: '4112' }
  t.equal(await loadDemoDataIfEmpty(database, { ...config, demoData: false }), false, 'DEMO_DATA=false loads nothing')
  t.equal(await loadDemoDataIfEmpty(database, config), true)
  t.equal(await loadDemoDataIfEmpty(database, config), false, 'not again once the registry has households')
  const [row] = await queryRows<{ n: number }>(database.db, sql`SELECT count(*)::int AS n FROM households WHERE region_code LIKE '411224%'`)
  t.equal(row?.n, 200)
})

t.test('demo projects: every county with households gets projects with allocations from several sources, beneficiaries of their area and payments within the allocation', async (t) => {
  const { db } = await freshDatabase()
  await generateDemoData(db, sealer, { households: 30, region: '411224101', seed: 7 })
  await generateDemoData(db, sealer, { households: 20, region: '411282100', seed: 8 })
  const counts = await generateDemoProjects(db, sealer, { region: '4112', seed: 7, perCounty: 10 })
  t.equal(counts.projects, 20, 'ten per county')
  t.ok(counts.allocations > 0 && counts.beneficiaries > 0 && counts.payments > 0, JSON.stringify(counts))
  const perCounty = await queryRows<{ county: string, n: number, sources: number }>(db, sql`SELECT substr(p.region_code, 1, 6) AS county, count(DISTINCT p.id)::int AS n, count(DISTINCT a.source)::int AS sources
    FROM projects p LEFT JOIN fund_allocations a ON a.project_id = p.id GROUP BY 1 ORDER BY 1`)
  t.same(perCounty.map(r => r.county), ['411224', '411282'])
  t.ok(perCounty.every(r => r.sources >= 2), 'several fund sources in each county')
  const [bad] = await queryRows<{ n: number }>(db, sql`SELECT (
    (SELECT count(*) FROM projects p WHERE p.paid > p.allocated
      OR p.allocated <> (SELECT coalesce(sum(amount), 0) FROM fund_allocations WHERE project_id = p.id)
      OR p.paid <> (SELECT coalesce(sum(amount), 0) FROM fund_payments WHERE project_id = p.id)
      OR p.code !~ ('^' || substr(p.region_code, 1, 6) || '-2019-[0-9]{4}$'))
    + (SELECT count(*) FROM project_beneficiaries b JOIN projects p ON p.id = b.project_id JOIN households h ON h.id = b.household_id WHERE h.region_code NOT LIKE p.region_code || '%')
    + (SELECT count(*) FROM fund_payments f WHERE NOT EXISTS (SELECT 1 FROM project_beneficiaries b WHERE b.project_id = f.project_id AND b.household_id = f.household_id))
    + (SELECT count(*) FROM fund_payments f JOIN projects p ON p.id = f.project_id WHERE p.status NOT IN ('IN_PROGRESS', 'COMPLETED'))
    + (SELECT count(*) FROM fund_payments f WHERE f.account_sealed NOT LIKE 'v1.%'))::int AS n`)
  t.equal(bad!.n, 0, 'sums equal the rows, paid within allocated, codes per county, beneficiaries in area, payments only to beneficiaries of paying projects, accounts sealed')
  const names = await queryRows<{ name: string }>(db, sql`SELECT name FROM projects`)
  t.ok(names.every(r => /[\u4e00-\u9fff]/.test(r.name)), 'Chinese names')
  const [sealedRow] = await queryRows<{ account_sealed: string }>(db, sql`SELECT account_sealed FROM fund_payments LIMIT 1`)
  t.match(sealer.open(sealedRow!.account_sealed), /^62\d{17}$/)
  // Run again: codes continue the county's sequence.
  await generateDemoProjects(db, sealer, { region: '411224', seed: 9, perCounty: 3 })
  const [{ n }] = await queryRows<{ n: number }>(db, sql`SELECT count(DISTINCT code)::int AS n FROM projects`) as [{ n: number }]
  t.equal(n, 23)
})
