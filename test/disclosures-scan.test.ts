/**
 * Nothing sensitive in any disclosure (contract §10): the demo data (households of a
 * county, and projects with allocations, beneficiaries and payments to those
 * households — the demo's own projects when it has them, and more made here through the
 * payment rule) is disclosed for every region that has any of it, every year, in every
 * format, and each answer is scanned for national IDs (18 characters with a valid check
 * digit, and every registered ID), phone numbers, bank accounts (every account on file
 * and any run of 13–30 digits; 12 digits only as a region code), the names of members
 * other than household heads, and health words (the labels' disability and illness
 * terms, in Chinese and English).
 */
import { sql } from 'drizzle-orm'
import t from 'tap'
import { generateDemoData } from '../src/db/demo-data.js'
import { queryRows } from '../src/db/index.js'
import { LABELS } from '../src/shared/labels.js'
import { nationalIdCheckDigit } from '../src/shared/national-id.js'
import { seedProject } from './disclosures-support.js'
import { buildApp, freshDatabase, uniqueSub } from './helper.js'

const COUNTY = '411224'
const HEALTH_WORDS = [
  ...Object.values(LABELS.HealthCondition), LABELS.PovertyCause.ILLNESS, LABELS.PovertyCause.DISABILITY,
  '残疾', '慢性病', '大病', '患病', '疾病', '病', '残',
  ...Object.keys(LABELS.HealthCondition), 'ILLNESS', 'DISABILITY', 'disab', 'illness', 'chronic', 'disease'
]

/** 18-character national IDs with a valid check digit anywhere in the text. */
function nationalIdsIn (text: string): string[] {
  return [...text.matchAll(/(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])/g)].map(m => m[1]!).filter(id => nationalIdCheckDigit(id.slice(0, 17)) === id[17]!.toUpperCase())
}

t.test('every disclosure of the demo data, at every region and year, in every format, holds no ID, phone, account, member name or health data', async (t) => {
  const database = await freshDatabase()
  const app = await buildApp(t, { database })
  const sealer = app.app.deps.sealer
  await generateDemoData(database.db, sealer, { households: 30, region: COUNTY, seed: 20_200_101 })

  // Projects over the demo's households, paid through the payment rule (accounts and all).
  const households = await queryRows<{ id: string, region_code: string, bank_account_sealed: string | null }>(database.db, sql`SELECT id, region_code, bank_account_sealed FROM households WHERE region_code LIKE ${COUNTY + '%'} ORDER BY region_code, id`)
  const byVillage = new Map<string, typeof households>()
  for (const h of households) byVillage.set(h.region_code, [...(byVillage.get(h.region_code) ?? []), h])
  const accounts = households.flatMap(h => h.bank_account_sealed === null ? [] : [sealer.open(h.bank_account_sealed)])
  let n = 0
  for (const [village, hs] of byVillage) {
    const level = [village, village.slice(0, 9), COUNTY][n++ % 3]!
    const beneficiaries = hs.slice(0, 3).map(h => ({ id: h.id, regionCode: village }))
    await seedProject(app, {
      regionCode: level,
      name: `示范项目${n}`,
      allocations: [{ source: 'CENTRAL', amount: 50000, date: '2019-02-01' }, { source: 'COUNTY', amount: 5000.5, date: '2018-06-01' }],
      households: beneficiaries,
      payments: beneficiaries.map((b, i) => ({ householdId: b.id, amount: 800 + i, date: i === 0 ? '2018-07-01' : '2019-07-01', account: accounts[i % Math.max(accounts.length, 1)] ?? '6222020200112233445' }))
    })
  }
  accounts.push(...(await queryRows<{ a: string }>(database.db, sql`SELECT account_sealed AS a FROM fund_payments WHERE account_sealed IS NOT NULL`)).map(r => sealer.open(r.a)))

  const members = await queryRows<{ id_sealed: string, name: string, relation: string }>(database.db, sql`SELECT national_id_sealed AS id_sealed, name, relation FROM members m WHERE m.region_code LIKE ${COUNTY + '%'}`)
  const ids = members.map(m => sealer.open(m.id_sealed))
  const heads = new Set(members.filter(m => m.relation === 'HEAD').map(m => m.name))
  // A member's name that is also a head's name (a namesake) cannot tell them apart: only names no head has.
  const others = [...new Set(members.filter(m => m.relation !== 'HEAD' && !heads.has(m.name)).map(m => m.name))]
  const phones = (await queryRows<{ p: string | null }>(database.db, sql`SELECT phone AS p FROM households UNION SELECT phone FROM helpers UNION SELECT phone FROM work_team_members`)).map(r => r.p).filter((p): p is string => p !== null && p !== '')
  const regionCodes = new Set((await queryRows<{ code: string }>(database.db, sql`SELECT code FROM regions WHERE code LIKE ${COUNTY + '%'}`)).map(r => r.code))
  t.ok(ids.length > 50 && others.length > 20 && accounts.length > 10, `${ids.length} IDs, ${others.length} names of members who are not heads, ${accounts.length} accounts, ${phones.length} phones to look for`)

  // Every region with a project, a beneficiary or a payment, at each of its levels, and every year with any fund.
  const regions = new Set<string>()
  for (const r of await queryRows<{ code: string }>(database.db, sql`SELECT region_code AS code FROM projects UNION SELECT household_region_code FROM fund_payments UNION SELECT h.region_code FROM project_beneficiaries b JOIN households h ON h.id = b.household_id`)) {
    for (const len of [6, 9, 12]) if (r.code.length >= len) regions.add(r.code.slice(0, len))
  }
  const years = (await queryRows<{ y: number }>(database.db, sql`SELECT DISTINCT extract(year FROM d)::int AS y FROM (SELECT date AS d FROM fund_allocations UNION SELECT date FROM fund_payments UNION SELECT planned_start FROM projects) x ORDER BY 1`)).map(r => r.y)
  t.ok(regions.size > 10 && years.length >= 2, `${regions.size} regions × years ${years.join(', ')} × 3 formats`)

  const reader = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: COUNTY })
  const found: string[] = []
  let scanned = 0
  let withProjects = 0
  for (const region of [...regions].sort()) {
    for (const year of years) {
      const answers = await Promise.all(['json', 'csv', 'html'].map(async format => [format, await reader.get(`/api/v1/disclosures/funds?region=${region}&year=${year}&format=${format}`)] as const))
      for (const [format, res] of answers) {
        if (res.statusCode !== 200) { found.push(`${region} ${year} ${format}: ${res.statusCode}`); continue }
        scanned++
        const body = res.body
        if (format === 'json' && res.json().projects.length > 0) withProjects++
        const where = `${region} ${year} ${format}`
        for (const id of nationalIdsIn(body)) found.push(`${where}: a national ID ${id.slice(0, 6)}…`)
        for (const id of ids) if (body.includes(id) || body.includes(id.slice(0, 14))) found.push(`${where}: a registered ID`)
        for (const m of body.matchAll(/(?<!\d)1[3-9]\d{9}(?!\d)/g)) found.push(`${where}: a phone-like number ${m[0].slice(0, 3)}…`)
        for (const p of phones) if (body.includes(p)) found.push(`${where}: a phone on file`)
        for (const m of body.matchAll(/(?<!\d)\d{12,30}(?!\d)/g)) if (!regionCodes.has(m[0])) found.push(`${where}: a run of ${m[0].length} digits`)
        for (const a of accounts) if (body.includes(a)) found.push(`${where}: an account on file`)
        for (const name of others) if (body.includes(name)) found.push(`${where}: the name of a member who is not the head`)
        for (const word of HEALTH_WORDS) if (body.includes(word)) found.push(`${where}: the health word ${word}`)
      }
    }
  }
  t.ok(withProjects >= regions.size / 2, `${withProjects} JSON disclosures list projects (a village helped only by a county or township project lists none of its own)`)
  t.ok(scanned === regions.size * years.length * 3, `${scanned} disclosures scanned`)
  t.same(found, [], 'nothing sensitive in any of them')
})
