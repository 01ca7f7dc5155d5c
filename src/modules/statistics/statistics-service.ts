import { withoutStatementTimeout } from '../../db/index.js'
import type { Deps } from '../../shared/context.js'
import { badInput, conflict, forbidden, type FieldError } from '../../shared/errors.js'
import { TARGET_INDICATORS } from '../../shared/labels.js'
import { hasDecimals } from '../../shared/numbers.js'
import { authorize, can } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { codeLength, isRegionCode, levelOf, ADMIN_LEVELS } from '../../shared/region-code.js'
import { recordAudit } from '../audit/audit-service.js'
import { ProjectsService, type FundFigures } from '../projects/projects-service.js'
import { RegionsService, type Region } from '../regions/regions-service.js'
import * as repo from './statistics-repository.js'

export interface StatusCounts { total: number, poor: number, exited: number, returned: number, closed: number }
/** Regions flagged poor (and deep poverty), and how many of those have exited by the year's end and in the year. */
export interface PovertyRegionCounts { poor: number, deepPoverty: number, exited: number, exitedInYear: number }
export interface RelocationFigures { households: number, persons: number, personsInYear: number }
export interface MicrocreditFigures { loans: number, outstanding: number, overdueLoans: number, overdue: number }
/** The numerators and divisors behind the rates, so that they can be summed and checked. */
export interface StatisticsBasis {
  livingMembers: number
  insuredMembers: number
  ableHouseholds: number
  industryCoveredHouseholds: number
  industryMeasures: number
  employableMembers: number
  employedMembers: number
  causeHouseholds: number
  causeMatchedHouseholds: number
}

export interface Figures {
  households: StatusCounts
  persons: StatusCounts
  exitedInYear: number
  personsExitedInYear: number
  industryCoverageRate: number | null
  industryStackingDegree: number | null
  employmentRate: number | null
  medicalInsuranceRate: number | null
  dropouts: number
  unsafeHousing: number
  povertyIncidence: number | null
  villages: PovertyRegionCounts
  counties: PovertyRegionCounts
  relocation: RelocationFigures
  forestRangerPosts: number
  microcredit: MicrocreditFigures
  causeMeasureMatchRate: number | null
  basis: StatisticsBasis
}

export type TargetIndicator = typeof TARGET_INDICATORS[number]

export interface TargetProgress {
  indicator: TargetIndicator
  target: number
  actual: number | null
  /** actual ÷ target; null when either is null or the target is 0. */
  achieved: number | null
}

export interface RegionStatistics extends Figures {
  region: Region
  year: number
  /** The fund figures of the region's projects whose planned start falls in the year (docs/projects-funds.md). */
  funds: FundFigures
  targets: TargetProgress[]
  /** The same figures per child region (their own breakdown is empty: ask for the child). */
  breakdown: RegionStatistics[]
}

export type PlanTarget = repo.PlanTargetRow

/** Each target column, the indicator it sets, and the actual figure it is compared with. */
const TARGETS: ReadonlyArray<{ indicator: TargetIndicator, column: keyof repo.PlanTargetValues, actual: (f: Figures) => number | null, kind: 'count' | 'rate' | 'degree' }> = [
  { indicator: 'PERSONS_EXITED', column: 'personsToExit', actual: f => f.personsExitedInYear, kind: 'count' },
  { indicator: 'VILLAGES_EXITED', column: 'villagesToExit', actual: f => f.villages.exitedInYear, kind: 'count' },
  { indicator: 'COUNTIES_EXITED', column: 'countiesToExit', actual: f => f.counties.exitedInYear, kind: 'count' },
  { indicator: 'PERSONS_RELOCATED', column: 'relocationPersons', actual: f => f.relocation.personsInYear, kind: 'count' },
  { indicator: 'FOREST_RANGER_POSTS', column: 'forestRangerPosts', actual: f => f.forestRangerPosts, kind: 'count' },
  { indicator: 'INDUSTRY_COVERAGE_RATE', column: 'industryCoverageRate', actual: f => f.industryCoverageRate, kind: 'rate' },
  { indicator: 'INDUSTRY_STACKING_DEGREE', column: 'industryStackingDegree', actual: f => f.industryStackingDegree, kind: 'degree' },
  { indicator: 'EMPLOYMENT_RATE', column: 'employmentRate', actual: f => f.employmentRate, kind: 'rate' },
  { indicator: 'MEDICAL_INSURANCE_RATE', column: 'medicalInsuranceRate', actual: f => f.medicalInsuranceRate, kind: 'rate' }
]

export type PlanTargetInput = { [K in keyof repo.PlanTargetValues]?: number | null }

/** The first year of the registry (精准识别 began in 2014). */
export const FIRST_YEAR = repo.FIRST_SUMMARY_YEAR
const MAX_TREND_YEARS = 10
const MAX_TARGET_YEAR = 2050
const MAX_COUNT = 100_000_000

const ratio = (num: number, den: number): number | null => (den === 0 ? null : num / den)
/** Yuan sums arrive as exact decimal strings; 2 decimals. */
const money = (v: number): number => Math.round(v * 100) / 100

function figuresOf (region: Region, v: (name: string) => number): Figures {
  const status = (prefix: string): StatusCounts => ({
    total: v(prefix), poor: v(`${prefix}_poor`), exited: v(`${prefix}_exited`), returned: v(`${prefix}_returned`), closed: v(`${prefix}_closed`)
  })
  const regions = (prefix: string): PovertyRegionCounts => ({
    poor: v(`${prefix}_poor`), deepPoverty: v(`${prefix}_deep_poverty`), exited: v(`${prefix}_exited`), exitedInYear: v(`${prefix}_exited_in_year`)
  })
  const persons = status('persons')
  const basis: StatisticsBasis = {
    livingMembers: persons.total,
    insuredMembers: v('insured_members'),
    ableHouseholds: v('able_households'),
    industryCoveredHouseholds: v('industry_covered'),
    industryMeasures: v('industry_measures'),
    employableMembers: v('employable_members'),
    employedMembers: v('employed_members'),
    causeHouseholds: v('cause_households'),
    causeMatchedHouseholds: v('cause_matched')
  }
  const rural = region.ruralPopulation
  return {
    households: status('households'),
    persons,
    exitedInYear: v('exited_in_year'),
    personsExitedInYear: v('persons_exited_in_year'),
    industryCoverageRate: ratio(basis.industryCoveredHouseholds, basis.ableHouseholds),
    industryStackingDegree: ratio(basis.industryMeasures, basis.industryCoveredHouseholds),
    employmentRate: ratio(basis.employedMembers, basis.employableMembers),
    medicalInsuranceRate: ratio(basis.insuredMembers, basis.livingMembers),
    dropouts: v('dropouts'),
    unsafeHousing: v('unsafe_housing'),
    povertyIncidence: rural === null || rural === 0 ? null : (persons.poor + persons.returned) / rural,
    villages: regions('villages'),
    counties: regions('counties'),
    relocation: { households: v('relocated_households'), persons: v('relocated_persons'), personsInYear: v('relocated_persons_in_year') },
    forestRangerPosts: v('forest_ranger_posts'),
    microcredit: {
      loans: v('microcredit_loans'), outstanding: money(v('microcredit_outstanding')), overdueLoans: v('microcredit_overdue_loans'), overdue: money(v('microcredit_overdue'))
    },
    causeMeasureMatchRate: ratio(basis.causeMatchedHouseholds, basis.causeHouseholds),
    basis
  }
}

function progress (f: Figures, target: PlanTarget | undefined): TargetProgress[] {
  if (target === undefined) return []
  return TARGETS.flatMap(({ indicator, column, actual }) => {
    const goal = target[column] as number | null
    if (goal === null) return []
    const a = actual(f)
    return [{ indicator, target: goal, actual: a, achieved: a === null || goal === 0 ? null : a / goal }]
  })
}

/**
 * Brings the summary of a region's villages up to date (docs/statistics.md): rebuilds the
 * villages that writes marked stale, and every village once a new year has begun.
 * Serialised by an advisory lock; nothing to do in the common case. Returns the number of
 * villages rebuilt. Run before every read, and by `npm run stats:refresh` after bulk loads.
 */
export async function refreshSummary (db: Deps['db'], code: string, thisYear: number): Promise<number> {
  const state = await repo.summaryState(db, code)
  if (!state.dirty && state.lastYear >= thisYear) return 0
  return await db.transaction(async (tx) => {
    let lastYear = await repo.lockSummary(tx)
    // Waiting for the lock is bounded by the statement timeout; the rebuild is not: after a
    // bulk load it is long by design (docs/benchmarks.md), and it runs one at a time.
    await withoutStatementTimeout(tx)
    if (lastYear < thisYear) {
      await repo.extendSummary(tx, thisYear)
      lastYear = thisYear
    }
    const villages = await repo.takeDirty(tx, code)
    await repo.rebuildVillages(tx, villages, lastYear)
    return villages.length
  })
}

export class StatisticsService {
  private readonly regions: RegionsService
  constructor (private readonly deps: Deps, private readonly principal: Principal) {
    this.regions = new RegionsService(deps, principal)
  }

  private thisYear (): number {
    return this.deps.clock().getUTCFullYear()
  }

  private checkYear (year: unknown, path: string, fields: FieldError[], last = this.thisYear()): void {
    if (typeof year !== 'number' || !Number.isInteger(year) || year < FIRST_YEAR || year > last) fields.push({ path, message: `must be a year from ${FIRST_YEAR} to ${last}` })
  }

  /** The region asked for: a well-formed code (BAD_USER_INPUT), in the caller's area (FORBIDDEN), known (NOT_FOUND). */
  private async region (code: string, path: string, action: 'statistics.read' | 'reference.edit', fields: FieldError[] = []): Promise<Region> {
    if (typeof code !== 'string' || !isRegionCode(code)) fields.push({ path, message: 'must be a 2, 4, 6, 9 or 12-digit administrative code' })
    if (fields.length > 0) throw badInput(fields)
    if (!can(this.principal, action, code)) throw forbidden('The region is outside your area')
    return await this.regions.get(code, path)
  }

  /** contract §7 for one year, with the breakdown per child region and the plan targets. */
  async statistics (regionCode: string, year: number, paths = { regionCode: 'regionCode', year: 'year' }): Promise<RegionStatistics> {
    authorize(this.principal, 'statistics.read')
    const fields: FieldError[] = []
    this.checkYear(year, paths.year, fields)
    const [result] = await this.compute(await this.region(regionCode, paths.regionCode, 'statistics.read', fields), [year])
    return result!
  }

  /** The same for several years at once (a dashboard's trend), in the order asked. */
  async trend (regionCode: string, years: readonly number[], paths = { regionCode: 'regionCode', years: 'years' }): Promise<RegionStatistics[]> {
    authorize(this.principal, 'statistics.read')
    const fields: FieldError[] = []
    if (!Array.isArray(years) || years.length === 0 || years.length > MAX_TREND_YEARS) {
      fields.push({ path: paths.years, message: `must list 1 to ${MAX_TREND_YEARS} years` })
    } else {
      years.forEach((y, i) => { this.checkYear(y, `${paths.years}.${i}`, fields) })
      if (new Set(years).size !== years.length) fields.push({ path: paths.years, message: 'lists a year twice' })
    }
    return await this.compute(await this.region(regionCode, paths.regionCode, 'statistics.read', fields), years)
  }

  private async compute (region: Region, years: readonly number[]): Promise<RegionStatistics[]> {
    const level = levelOf(region.code)
    const childLevel = ADMIN_LEVELS[ADMIN_LEVELS.indexOf(level) + 1]
    const children = childLevel === undefined ? [] : (await this.regions.childrenOf([region.code]))[0] ?? []
    const scope: repo.Scope = { code: region.code, childLength: childLevel === undefined ? region.code.length : codeLength(childLevel), years }
    await refreshSummary(this.deps.db, region.code, this.thisYear())
    const rowSets = [await repo.summaryFigures(this.deps.db, this.principal, scope), await repo.regionFigures(this.deps.db, scope)]
    const targets = await repo.targetsFor(this.deps.db, [region.code, ...children.map(c => c.code)], years)

    // (year, child) → figure → value; the total row has child null.
    const values = new Map<string, Map<string, number>>()
    for (const rows of rowSets) {
      for (const row of rows) {
        const key = `${row.year}/${row.child ?? ''}`
        let m = values.get(key)
        if (m === undefined) values.set(key, (m = new Map()))
        for (const [name, v] of Object.entries(row)) {
          if (name === 'year' || name === 'child') continue
          m.set(name, Number(v ?? 0))
        }
      }
    }
    const target = new Map(targets.map(t => [`${t.year}/${t.regionCode}`, t]))
    const funds = await new ProjectsService(this.deps, this.principal).fundFigures([region.code, ...children.map(c => c.code)], years)
    const build = (r: Region, year: number, childKey: string, breakdown: RegionStatistics[]): RegionStatistics => {
      const m = values.get(`${year}/${childKey}`)
      const f = figuresOf(r, name => m?.get(name) ?? 0)
      return { region: r, year, ...f, funds: funds.get(`${r.code}/${year}`)!, targets: progress(f, target.get(`${year}/${r.code}`)), breakdown }
    }
    return years.map(year => build(region, year, '', children.map(c => build(c, year, c.code, []))))
  }

  /** Plan targets of a region (in the caller's area) for the given years, or all years. */
  async targets (regionCode: string, years?: readonly number[] | null): Promise<PlanTarget[]> {
    authorize(this.principal, 'statistics.read')
    const fields: FieldError[] = []
    years?.forEach((y, i) => { this.checkYear(y, `years.${i}`, fields, MAX_TARGET_YEAR) })
    const region = await this.region(regionCode, 'regionCode', 'statistics.read', fields)
    const all = years ?? Array.from({ length: MAX_TARGET_YEAR - FIRST_YEAR + 1 }, (_, i) => FIRST_YEAR + i)
    return await repo.targetsFor(this.deps.db, [region.code], all)
  }

  /**
   * Sets a region's targets for a year (ADMIN at city level or above, region in area; audited).
   * Without expectedVersion it creates them (CONFLICT if they exist); with it, it updates
   * the fields given (null clears one) if the version still matches (CONFLICT otherwise).
   */
  async setTarget (regionCode: string, year: number, expectedVersion: number | null | undefined, input: PlanTargetInput): Promise<PlanTarget> {
    authorize(this.principal, 'reference.edit')
    const fields: FieldError[] = []
    this.checkYear(year, 'year', fields, MAX_TARGET_YEAR)
    const values = validateTargets(input, fields)
    const region = await this.region(regionCode, 'regionCode', 'reference.edit', fields)
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const before = await repo.findTarget(tx, region.code, year)
      const row = expectedVersion == null
        ? await repo.insertTarget(tx, { regionCode: region.code, year, ...values, updatedAt: now })
        : await repo.updateTarget(tx, region.code, year, expectedVersion, values, now)
      if (row === null) {
        throw conflict(expectedVersion == null
          ? `Targets for ${region.code} in ${year} exist already; pass their version as expectedVersion`
          : `Targets for ${region.code} in ${year} ${before === null ? 'do not exist; omit expectedVersion to create them' : `were changed since version ${expectedVersion}`}`)
      }
      await recordAudit(tx, this.principal, now, {
        action: before === null ? 'target.create' : 'target.update',
        entity: 'PlanTarget',
        entityId: `${region.code}/${year}`,
        regionCode: region.code,
        before: before === null ? null : auditView(before),
        after: auditView(row)
      })
      return row
    })
  }
}

function auditView (row: PlanTarget): Record<string, unknown> {
  const { updatedAt: _u, ...rest } = row
  return rest
}

function validateTargets (input: PlanTargetInput, fields: FieldError[]): repo.PlanTargetValues {
  const values: Record<string, number | null> = {}
  for (const { column, kind } of TARGETS) {
    const v = input[column]
    if (v === undefined) continue
    const path = `input.${column}`
    if (v === null) { values[column] = null; continue }
    if (kind === 'count' && (!Number.isInteger(v) || v < 0 || v > MAX_COUNT)) fields.push({ path, message: `must be a whole number from 0 to ${MAX_COUNT}` })
    else if (kind === 'rate' && (!Number.isFinite(v) || v < 0 || v > 1 || !hasDecimals(v, 4))) fields.push({ path, message: 'must be a share from 0 to 1 with at most 4 decimals' })
    else if (kind === 'degree' && (!Number.isFinite(v) || v < 0 || v > 100 || !hasDecimals(v, 2))) fields.push({ path, message: 'must be from 0 to 100 with at most 2 decimals' })
    else values[column] = v
  }
  if (Object.keys(input).length === 0) fields.push({ path: 'input', message: 'names no target' })
  return values as repo.PlanTargetValues
}
