/**
 * An independent count of the statistics figures in plain JavaScript, written from
 * contract §7 and docs/statistics.md over records read back through the API. Tests
 * compare the database's aggregates with it.
 */
import { sql } from 'drizzle-orm'
import { queryRows } from '../src/db/index.js'
import { fits } from '../src/modules/statistics/cause-measure-fit.js'
import type { PovertyCause } from '../src/shared/labels.js'
import type { Client, TestApp } from './helper.js'

export interface RefMember { laborCapacity: string, birthDate: string, wantsWork: boolean, employment: string, medicalInsurance: boolean, schooling: string, deceasedAt: string | null }
export interface RefMeasure { category: string, kind: string, status: string, startDate: string, endDate: string | null, amount: number | null, details: Record<string, unknown> | null }
export interface RefHousehold { status: string, exitYear: number | null, housingSafe: boolean, mainCause: string, members: RefMember[], measures: RefMeasure[] }
export interface RefRegion { code: string, level: string, isPoor: boolean, isDeepPoverty: boolean, exitYear: number | null }

/** The GraphQL selection the reference needs. */
export const REFERENCE_FIELDS = `status exitYear housingSafe mainCause
  members { laborCapacity birthDate wantsWork employment medicalInsurance schooling deceasedAt }
  measures { category kind status startDate endDate amount details }`

/** Every figure of RegionStatistics but region, year, targets and breakdown. */
export const FIGURES = `households { total poor exited returned closed } persons { total poor exited returned closed }
  exitedInYear personsExitedInYear industryCoverageRate industryStackingDegree employmentRate medicalInsuranceRate dropouts unsafeHousing
  povertyIncidence villages { poor deepPoverty exited exitedInYear } counties { poor deepPoverty exited exitedInYear }
  relocation { households persons personsInYear } forestRangerPosts microcredit { loans outstanding overdueLoans overdue }
  causeMeasureMatchRate basis { livingMembers insuredMembers ableHouseholds industryCoveredHouseholds industryMeasures
  employableMembers employedMembers causeHouseholds causeMatchedHouseholds }`

/** The regions at and below `code`, read from the table. */
export async function regionsUnder ({ database }: TestApp, code: string): Promise<RefRegion[]> {
  const rows = await queryRows<any>(database.db, sql`SELECT code, level, is_poor, is_deep_poverty, exit_year FROM regions WHERE code LIKE ${code + '%'}`)
  return rows.map(r => ({ code: r.code, level: r.level, isPoor: r.is_poor, isDeepPoverty: r.is_deep_poverty, exitYear: r.exit_year }))
}

/** Every household of the region read back through the API (all pages). */
export async function householdsOf (client: Client, code: string): Promise<RefHousehold[]> {
  const all: RefHousehold[] = []
  let after: string | null = null
  for (;;) {
    const res: any = await client.gql(`query ($c: String, $a: String) { households(filter: { regionCode: $c }, first: 200, after: $a) {
      pageInfo { hasNextPage endCursor } edges { node { ${REFERENCE_FIELDS} } } } }`, { c: code, a: after })
    if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
    all.push(...res.data.households.edges.map((e: any) => e.node))
    if (!res.data.households.pageInfo.hasNextPage) return all
    after = res.data.households.pageInfo.endCursor
  }
}

const PROGRAMME = ['POOR', 'RETURNED', 'EXITED']

export function reference (hs: RefHousehold[], year: number, ruralPopulation: number | null, regionCode: string, regions: RefRegion[]) {
  const dec31 = `${year}-12-31`
  const jan1 = `${year}-01-01`
  const living = (h: RefHousehold): RefMember[] => h.members.filter(m => m.deceasedAt === null)
  const count = <T>(list: T[], f: (x: T) => boolean): number => list.filter(f).length
  const sum = <T>(list: T[], f: (x: T) => number): number => list.reduce((a, x) => a + f(x), 0)
  const runs = (m: RefMeasure): boolean => m.status !== 'CANCELLED' && m.startDate <= dec31 && (m.endDate === null || m.endDate >= jan1)
  const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b)
  const byStatus = (f: (h: RefHousehold) => number) => ({
    total: sum(hs, f),
    poor: sum(hs.filter(h => h.status === 'POOR'), f),
    exited: sum(hs.filter(h => h.status === 'EXITED'), f),
    returned: sum(hs.filter(h => h.status === 'RETURNED'), f),
    closed: sum(hs.filter(h => h.status === 'CLOSED'), f)
  })
  const programme = hs.filter(h => PROGRAMME.includes(h.status))
  const able = programme.filter(h => living(h).some(m => ['SKILLED', 'ORDINARY', 'WEAK'].includes(m.laborCapacity)))
  const industry = (h: RefHousehold): number => count(h.measures, m => m.category === 'INDUSTRY' && runs(m))
  const covered = able.filter(h => industry(h) > 0)
  const employable = programme.flatMap(living).filter(m => {
    const age = year - Number(m.birthDate.slice(0, 4)) // on 31 December everyone has had this year's birthday
    return ['SKILLED', 'ORDINARY'].includes(m.laborCapacity) && m.wantsWork && age >= 16 && age <= 59
  })
  const movedIn = (h: RefHousehold): string | null => {
    const dates = h.measures.filter(m => m.category === 'RELOCATION' && m.status !== 'CANCELLED').map(m => (m.details?.moveInDate as string | undefined) ?? m.startDate).sort()
    return dates[0] ?? null
  }
  const relocated = hs.filter(h => { const d = movedIn(h); return d !== null && d <= dec31 })
  const loans = hs.flatMap(h => h.measures).filter(m => {
    if (m.category !== 'FINANCE' || m.kind !== 'microcredit' || m.status === 'CANCELLED' || m.startDate > dec31) return false
    const repaid = (m.details?.repaidOn as string | undefined) ?? (m.status === 'COMPLETED' ? m.endDate : null)
    return repaid === null || repaid > dec31
  })
  const overdue = loans.filter(m => m.details?.overdue === true)
  const matched = programme.filter(h => h.measures.some(m => runs(m) && fits(h.mainCause as PovertyCause, m.category, m.kind)))
  const persons = byStatus(h => living(h).length)
  const regionCounts = (level: string) => {
    const list = regions.filter(r => r.level === level && r.code.startsWith(regionCode) && (level === 'VILLAGE' || regionCode.length < 6))
    const poor = list.filter(r => r.isPoor)
    return {
      poor: poor.length,
      deepPoverty: count(list, r => r.isDeepPoverty),
      exited: count(poor, r => r.exitYear !== null && r.exitYear <= year),
      exitedInYear: count(poor, r => r.exitYear === year)
    }
  }
  const insured = sum(hs, h => count(living(h), m => m.medicalInsurance))
  const money = (n: number): number => Math.round(n * 100) / 100
  return {
    households: byStatus(() => 1),
    persons,
    exitedInYear: count(hs, h => h.exitYear === year),
    personsExitedInYear: sum(hs.filter(h => h.exitYear === year), h => living(h).length),
    industryCoverageRate: ratio(covered.length, able.length),
    industryStackingDegree: ratio(sum(covered, industry), covered.length),
    employmentRate: ratio(count(employable, m => m.employment !== 'UNEMPLOYED'), employable.length),
    medicalInsuranceRate: ratio(insured, persons.total),
    dropouts: sum(hs, h => count(living(h), m => m.schooling === 'DROPPED_OUT')),
    unsafeHousing: count(hs, h => ['POOR', 'RETURNED'].includes(h.status) && !h.housingSafe),
    povertyIncidence: ruralPopulation === null || ruralPopulation === 0 ? null : (persons.poor + persons.returned) / ruralPopulation,
    villages: regionCounts('VILLAGE'),
    counties: regionCounts('COUNTY'),
    relocation: {
      households: relocated.length,
      persons: sum(relocated, h => living(h).length),
      personsInYear: sum(relocated.filter(h => movedIn(h)!.startsWith(String(year))), h => living(h).length)
    },
    forestRangerPosts: sum(hs, h => count(h.measures, m => m.category === 'ECOLOGICAL' && m.kind === 'forest_ranger' && runs(m))),
    microcredit: {
      loans: loans.length,
      outstanding: money(sum(loans, m => m.amount ?? 0)),
      overdueLoans: overdue.length,
      overdue: money(sum(overdue, m => m.amount ?? 0))
    },
    causeMeasureMatchRate: ratio(matched.length, programme.length),
    basis: {
      livingMembers: persons.total,
      insuredMembers: insured,
      ableHouseholds: able.length,
      industryCoveredHouseholds: covered.length,
      industryMeasures: sum(covered, industry),
      employableMembers: employable.length,
      employedMembers: count(employable, m => m.employment !== 'UNEMPLOYED'),
      causeHouseholds: programme.length,
      causeMatchedHouseholds: matched.length
    }
  }
}
