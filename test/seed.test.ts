import { sql } from 'drizzle-orm'
import { queryRows } from '../src/db/index.js'
import t from 'tap'
import { POVERTY_LINES, seedReference } from '../src/db/seed.js'
import { testDatabase } from './helper.js'

const countBy = async (): Promise<Record<string, number>> => {
  const { db } = await testDatabase()
  const rows = await queryRows<{ level: string, n: string }>(db, sql`SELECT level, count(*)::text AS n FROM regions WHERE code LIKE '41%' GROUP BY level`)
  return Object.fromEntries(rows.map(r => [r.level, Number(r.n)]))
}

t.test('the seed holds Sanmenxia\'s real hierarchy', async (t) => {
  t.same(await countBy(), { PROVINCE: 1, CITY: 1, COUNTY: 7, TOWNSHIP: 81, VILLAGE: 1381 })
  const { db } = await testDatabase()
  const rows = await queryRows<{ code: string, name: string, is_poor: boolean, is_deep_poverty: boolean, parent_code: string }>(db, 
    sql`SELECT code, name, is_poor, is_deep_poverty, parent_code FROM regions WHERE code IN ('41', '4112', '411224', '411203', '411224101201') ORDER BY code`)
  t.same(rows.map(r => [r.code, r.name, r.is_poor, r.is_deep_poverty, r.parent_code]), [
    ['41', '河南省', false, false, null],
    ['4112', '三门峡市', false, false, '41'],
    ['411203', '陕州区', false, false, '4112'],
    ['411224', '卢氏县', true, true, '4112'],
    ['411224101201', '龙王庙村村委会', false, false, '411224101']
  ])
  const orphans = await queryRows(db, sql`SELECT c.code FROM regions c LEFT JOIN regions p ON p.code = c.parent_code WHERE c.parent_code IS NOT NULL AND p.code IS NULL`)
  t.equal(orphans.length, 0, 'every region\'s parent exists')
})

t.test('the poverty lines of 2014–2020', async (t) => {
  const { db } = await testDatabase()
  const rows = await queryRows<{ year: number, amount: number }>(db, sql`SELECT year, amount FROM poverty_lines ORDER BY year`)
  t.same(rows, POVERTY_LINES)
})

t.test('seeding again changes nothing and keeps edits', async (t) => {
  const { db } = await testDatabase()
  await queryRows(db, sql`UPDATE regions SET rural_population = 1234 WHERE code = '411224101201'`)
  await seedReference(db, '4112')
  t.same(await countBy(), { PROVINCE: 1, CITY: 1, COUNTY: 7, TOWNSHIP: 81, VILLAGE: 1381 })
  const rows = await queryRows<{ rural_population: number }>(db, sql`SELECT rural_population FROM regions WHERE code = '411224101201'`)
  t.equal(rows[0]?.rural_population, 1234)
})
