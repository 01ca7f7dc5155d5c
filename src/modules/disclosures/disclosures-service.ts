import type { Deps } from '../../shared/context.js'
import { badInput, notFound } from '../../shared/errors.js'
import { LABELS } from '../../shared/labels.js'
import { regionFilter } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { codeLength, levelOf, type AdminLevel } from '../../shared/region-code.js'
import * as repo from './disclosures-repository.js'

/** Years a disclosure may be asked for. */
export const DISCLOSURE_YEARS = { min: 2000, max: 2100 } as const
/** Projects read per statement: a county's 1,000 projects are one or two pages. */
export const PAGE = 500

export const FUND_SOURCES = repo.FUND_SOURCES
/** 资金来源 in Chinese (the disclosure's column headers). */
export const SOURCE_LABELS: Record<repo.FundSource, string> = LABELS.FundSource
/** 项目状态 in Chinese. */
const STATUS_LABELS: Record<string, string> = LABELS.ProjectStatus

/** Fen (integer) of a decimal text in yuan with at most 2 decimals, exactly. */
export function fenOf (yuan: string): number {
  const [whole = '0', frac = ''] = yuan.split('.')
  const sign = whole.startsWith('-') ? -1 : 1
  return sign * (Math.abs(Number(whole)) * 100 + Number((frac + '00').slice(0, 2)))
}
export const yuanOf = (fen: number): number => fen / 100

export interface DisclosedVillage { code: string, name: string, paid: number, beneficiaryHouseholds: number }

/** One project as the public sees it: what was planned, funded and paid, and how many households it helps — no person. */
export interface DisclosedProject {
  code: string
  name: string
  category: string
  categoryLabel: string
  status: string
  statusLabel: string
  region: { code: string, name: string }
  plannedStart: string
  plannedEnd: string | null
  budget: number
  /** Allocated in the year, by source (yuan). */
  allocations: Record<repo.FundSource, number>
  allocated: number
  paid: number
  beneficiaryHouseholds: number
  /** Township and village disclosures: payments and beneficiary households per village. */
  villages?: DisclosedVillage[]
}

export interface DisclosureTotals {
  projects: number
  allocations: Record<repo.FundSource, number>
  allocated: number
  paid: number
  beneficiaryHouseholds: number
}

export interface Disclosure {
  region: { code: string, name: string, fullName: string, level: AdminLevel }
  year: number
  /** Township and village disclosures break each project's payments down by village. */
  perVillage: boolean
  /** The projects, a page at a time (read as the reply is written). */
  pages: AsyncGenerator<DisclosedProject[]>
}

/** Adds up the projects' figures in fen, exactly, as they stream past. */
export class Totals {
  private projects = 0
  private readonly sources = FUND_SOURCES.map(() => 0)
  private paid = 0
  private households = 0

  add (p: DisclosedProject): void {
    this.projects++
    FUND_SOURCES.forEach((s, i) => { this.sources[i]! += Math.round(p.allocations[s] * 100) })
    this.paid += Math.round(p.paid * 100)
    this.households += p.beneficiaryHouseholds
  }

  get value (): DisclosureTotals {
    return {
      projects: this.projects,
      allocations: Object.fromEntries(FUND_SOURCES.map((s, i) => [s, yuanOf(this.sources[i]!)])) as Record<repo.FundSource, number>,
      allocated: yuanOf(this.sources.reduce((a, b) => a + b, 0)),
      paid: yuanOf(this.paid),
      beneficiaryHouseholds: this.households
    }
  }
}

const PROJECT_LEVELS: readonly AdminLevel[] = ['COUNTY', 'TOWNSHIP', 'VILLAGE']

/**
 * 公告公示: the funds of a county's, township's or village's projects for a year, for
 * publication (contract §10). Any reader role, for a region in the caller's area. What
 * it contains is public by design: projects, amounts by source, payments summed per
 * village, counts of households — never a person, an ID, a phone, an account or health data.
 */
export class DisclosuresService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  async funds (regionCode: string, year: number, paths = { region: 'querystring.region', year: 'querystring.year' }): Promise<Disclosure> {
    const code = regionFilter(this.principal, 'disclosure.read', regionCode, paths.region)
    const level = levelOf(code)
    if (!PROJECT_LEVELS.includes(level)) throw badInput([{ path: paths.region, message: 'must be a county, township or village (6, 9 or 12 digits)' }])
    if (!Number.isInteger(year) || year < DISCLOSURE_YEARS.min || year > DISCLOSURE_YEARS.max) {
      throw badInput([{ path: paths.year, message: `must be a year from ${DISCLOSURE_YEARS.min} to ${DISCLOSURE_YEARS.max}` }])
    }
    const ancestors = (['PROVINCE', 'CITY', 'COUNTY', 'TOWNSHIP', 'VILLAGE'] as const).map(codeLength).filter(n => n <= code.length).map(n => code.slice(0, n))
    const names = await repo.namesOf(this.deps.db, ancestors)
    const name = names.get(code)
    if (name === undefined) throw notFound('Region')
    const perVillage = level !== 'COUNTY'
    return {
      region: { code, name, fullName: ancestors.map(c => names.get(c) ?? '').join(''), level },
      year,
      perVillage,
      pages: this.pages(code, year, perVillage)
    }
  }

  private async * pages (code: string, year: number, perVillage: boolean): AsyncGenerator<DisclosedProject[]> {
    let after: string | null = null
    for (;;) {
      const rows = await repo.projectsPage(this.deps.db, this.principal, code, year, after, PAGE)
      if (rows.length === 0) return
      const villages = perVillage ? await repo.villagesOf(this.deps.db, rows.map(r => r.id), year) : []
      const byProject = new Map<string, DisclosedVillage[]>()
      for (const v of villages) {
        const list = byProject.get(v.projectId) ?? []
        list.push({ code: v.code, name: v.name, paid: yuanOf(fenOf(v.paid)), beneficiaryHouseholds: v.households })
        byProject.set(v.projectId, list)
      }
      yield rows.map(r => {
        const allocations = Object.fromEntries(FUND_SOURCES.map((s, i) => [s, yuanOf(fenOf(r.allocations[i] ?? '0'))])) as Record<repo.FundSource, number>
        return {
          code: r.code,
          name: r.name,
          category: r.category,
          categoryLabel: (LABELS.MeasureCategory as Record<string, string>)[r.category] ?? r.category,
          status: r.status,
          statusLabel: STATUS_LABELS[r.status] ?? r.status,
          region: { code: r.regionCode, name: r.regionName },
          plannedStart: r.plannedStart,
          plannedEnd: r.plannedEnd,
          budget: yuanOf(fenOf(r.budget)),
          allocations,
          allocated: yuanOf(r.allocations.reduce((sum, a) => sum + fenOf(a), 0)),
          paid: yuanOf(fenOf(r.paid)),
          beneficiaryHouseholds: r.beneficiaryHouseholds,
          ...(perVillage ? { villages: byProject.get(r.id) ?? [] } : {})
        }
      })
      if (rows.length < PAGE) return
      after = rows[rows.length - 1]!.code
    }
  }
}
