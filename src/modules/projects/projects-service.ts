import type { Deps } from '../../shared/context.js'
import type { DbOrTx } from '../../db/index.js'
import { isIsoDate, isoDay } from '../../shared/dates.js'
import { AppError, badInput, conflict, notFound, type FieldError } from '../../shared/errors.js'
import { groupRows, isUuid } from '../../shared/ids.js'
import { connection, idPage, type Connection, type PageArgs } from '../../shared/pagination.js'
import { authorize, regionFilter } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { isRegionCode } from '../../shared/region-code.js'
import { FUND_SOURCES, MEASURE_CATEGORIES, PROJECT_STATUSES } from '../../shared/labels.js'
import { checkName } from '../../shared/text.js'
import { recordAudit } from '../audit/audit-service.js'
import { RegionsService, type Region } from '../regions/regions-service.js'
import { applyPayment, checkYuan, inputPaths, paymentView, type PaymentView } from './payments.js'
import * as repo from './projects-repository.js'

export { FUND_SOURCES, MEASURE_CATEGORIES, PROJECT_STATUSES }
export type ProjectStatus = typeof PROJECT_STATUSES[number]
export type FundSource = typeof FUND_SOURCES[number]

/**
 * What `setProjectStatus` may change a status to. APPROVED is reached only through
 * `approveProject` (a county reviewer's decision); COMPLETED and CANCELLED are final.
 */
export const NEXT_STATUSES: Record<ProjectStatus, readonly ProjectStatus[]> = {
  PLANNED: ['CANCELLED'],
  APPROVED: ['IN_PROGRESS', 'CANCELLED'],
  IN_PROGRESS: ['COMPLETED', 'CANCELLED'],
  COMPLETED: [],
  CANCELLED: []
}

/** Statuses in which funds may still be allocated and households linked. */
const OPEN_STATUSES: ReadonlySet<string> = new Set(['PLANNED', 'APPROVED', 'IN_PROGRESS'])

/** Project codes as given: letters, digits and dashes, up to 40 characters. */
const CODE = /^[A-Za-z0-9][A-Za-z0-9-]{0,39}$/
/** At most this many households per linkBeneficiaries call. */
export const MAX_LINK = 1000

export interface ProjectInput {
  regionCode: string
  name: string
  category: string
  plannedStart: string
  plannedEnd?: string | null
  budget: number
  code?: string | null
}

export interface AllocationInput { source: string, amount: number, documentNo: string, date: string }

export interface PaymentInput {
  householdId: string
  memberId?: string | null
  amount: number
  date: string
  account?: string | null
  reference?: string | null
}

export interface ProjectFilter { regionCode?: string | null, status?: string | null, category?: string | null }

export type ProjectView = Omit<repo.ProjectRow, 'createdAt' | 'updatedAt' | 'approvedAt'> & { approvedAt: string | null, createdAt: string }
export type AllocationView = Omit<repo.AllocationRow, 'regionCode' | 'createdAt'>
export interface BeneficiaryLinkView { projectId: string, householdId: string, measureId: string | null, linkedAt: string }

export type ProjectDocument = Omit<ProjectView, 'createdAt'> & {
  beneficiaries: Array<Omit<BeneficiaryLinkView, 'projectId'>>
  allocations: Array<Omit<AllocationView, 'projectId'>>
  payments: Array<Omit<PaymentView, 'projectId'>>
}

export function projectView (row: repo.ProjectRow): ProjectView {
  const { createdAt, updatedAt: _u, approvedAt, ...rest } = row
  return { ...rest, approvedAt: approvedAt?.toISOString() ?? null, createdAt: createdAt.toISOString() }
}

const allocationView = ({ regionCode: _r, createdAt: _c, ...rest }: repo.AllocationRow): AllocationView => rest
const linkView = (r: repo.BeneficiaryRow): BeneficiaryLinkView => ({ projectId: r.projectId, householdId: r.householdId, measureId: r.measureId, linkedAt: r.createdAt.toISOString() })
/** The project as the audit trail keeps it. */
const projectAudit = ({ createdAt: _c, updatedAt: _u, ...rest }: repo.ProjectRow): Record<string, unknown> => rest

const isUniqueViolation = (err: unknown, constraint: string): boolean => {
  for (let e = err as { cause?: unknown, constraint?: string } | undefined, i = 0; e !== undefined && e !== null && i < 5; e = e.cause as typeof e, i++) {
    if (e.constraint === constraint) return true
  }
  return false
}

export interface ProjectStatusCounts { total: number, planned: number, approved: number, inProgress: number, completed: number, cancelled: number }
export interface SourceAmount { source: FundSource, amount: number }

/** A region's fund figures (contract §10; definitions in docs/projects-funds.md). */
export interface FundFigures {
  /** The year of the projects' planned start; null: every year. */
  year: number | null
  projects: ProjectStatusCounts
  budget: number
  allocated: number
  /** Every source, in FUND_SOURCES order (0 where none). */
  allocatedBySource: SourceAmount[]
  paid: number
  /** paid ÷ allocated; null when nothing is allocated. */
  paidShare: number | null
  beneficiaryHouseholds: number
  paidHouseholds: number
  /** paid ÷ beneficiaryHouseholds; null when there are none. */
  paidPerBeneficiaryHousehold: number | null
}

export interface FundStatistics extends FundFigures {
  region: Region
  /** The same for each child region (their own breakdown empty). */
  breakdown: FundStatistics[]
}

/** Yuan sums arrive as exact decimal strings. */
const yuan = (v: string | number | null | undefined): number => Math.round(Number(v ?? 0) * 100) / 100

export class ProjectsService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  /** The project in the caller's area, or NOT_FOUND (also for ids outside it). */
  async find (id: string): Promise<repo.ProjectRow> {
    authorize(this.principal, 'project.read')
    const [row] = isUuid(id) ? await repo.findByIds(this.deps.db, this.principal, [id]) : []
    if (row === undefined) throw notFound('Project')
    return row
  }

  async get (id: string): Promise<ProjectView> {
    return projectView(await this.find(id))
  }

  /** The REST document: the project with its beneficiaries, allocations and payments. */
  async document (id: string): Promise<ProjectDocument> {
    const { createdAt: _c, ...project } = await this.get(id)
    const [links] = await this.beneficiaryLinks([id])
    const [allocations] = await this.allocations([id])
    const [payments] = await this.payments([id])
    return {
      ...project,
      beneficiaries: links!.map(({ projectId: _p, ...l }) => l),
      allocations: allocations!.map(({ projectId: _p, ...a }) => a),
      payments: payments!.map(({ projectId: _p, ...x }) => x)
    }
  }

  async byIds (ids: readonly string[]): Promise<Array<ProjectView | null>> {
    authorize(this.principal, 'project.read')
    const rows = await repo.findByIds(this.deps.db, this.principal, ids.filter(isUuid))
    const byId = new Map(rows.map(r => [r.id, r]))
    return ids.map(id => { const r = byId.get(id); return r === undefined ? null : projectView(r) })
  }

  async list (filter: ProjectFilter | null | undefined, args: PageArgs, paths: { region: string } & Partial<Record<keyof PageArgs, string>> = { region: 'filter.regionCode' }): Promise<Connection<ProjectView>> {
    authorize(this.principal, 'project.read')
    const page = idPage(args, paths)
    const q: repo.ProjectQuery = { status: filter?.status, category: filter?.category, regionCode: regionFilter(this.principal, 'project.read', filter?.regionCode, paths.region) }
    const rows = await repo.list(this.deps.db, this.principal, q, page, page.size + 1)
    return connection(rows.map(projectView), page, r => [r.id], async () => await repo.countMatching(this.deps.db, this.principal, q))
  }

  async create (input: ProjectInput): Promise<ProjectView> {
    authorize(this.principal, 'project.write')
    const fields: FieldError[] = []
    const region = input.regionCode
    if (!isRegionCode(region) || ![6, 9, 12].includes(region.length)) {
      throw badInput([{ path: 'input.regionCode', message: 'must be the code of a county (6 digits), township (9) or village (12)' }])
    }
    // A project at county level needs a county-level writer: the area rule says so, as a township's area holds no county.
    authorize(this.principal, 'project.write', region)
    await new RegionsService(this.deps, this.principal).get(region, 'input.regionCode').catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'NOT_FOUND') throw badInput([{ path: 'input.regionCode', message: 'is not a known region' }])
      throw err
    })
    const name = input.name.trim()
    if (name === '' || name.length > 200) fields.push({ path: 'input.name', message: 'must be 1–200 characters' })
    else checkName(name, 'input.name', fields)
    if (!(MEASURE_CATEGORIES as readonly string[]).includes(input.category)) fields.push({ path: 'input.category', message: `must be one of ${MEASURE_CATEGORIES.join(', ')}` })
    if (!isIsoDate(input.plannedStart)) fields.push({ path: 'input.plannedStart', message: 'must be a date YYYY-MM-DD' })
    if (input.plannedEnd != null) {
      if (!isIsoDate(input.plannedEnd)) fields.push({ path: 'input.plannedEnd', message: 'must be a date YYYY-MM-DD' })
      else if (isIsoDate(input.plannedStart) && input.plannedEnd < input.plannedStart) fields.push({ path: 'input.plannedEnd', message: 'must not be before plannedStart' })
    }
    checkYuan(input.budget, 'input.budget', fields)
    const code = input.code?.trim() || null
    if (code !== null && !CODE.test(code)) fields.push({ path: 'input.code', message: 'must be 1–40 letters, digits or dashes, starting with a letter or digit' })
    if (fields.length > 0) throw badInput(fields)
    const now = this.deps.clock()
    const prefix = `${region.slice(0, 6)}-${input.plannedStart.slice(0, 4)}-`
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.deps.db.transaction(async (tx) => {
          if (code !== null && await repo.codeExists(tx, code)) throw badInput([{ path: 'input.code', message: 'is already taken' }])
          const row = await repo.insert(tx, {
            code: code ?? `${prefix}${String(await repo.lastSequence(tx, prefix) + 1).padStart(4, '0')}`,
            name,
            category: input.category,
            regionCode: region,
            plannedStart: input.plannedStart,
            plannedEnd: input.plannedEnd ?? null,
            budget: input.budget,
            createdAt: now,
            updatedAt: now
          })
          await recordAudit(tx, this.principal, now, { action: 'project.create', entity: 'Project', entityId: row.id, regionCode: row.regionCode, after: projectAudit(row) })
          return projectView(row)
        })
      } catch (err) {
        if (!isUniqueViolation(err, 'projects_code_key')) throw err
        // Two creations took the same code at once: a given code is taken; a generated one is drawn again.
        if (code !== null || attempt >= 4) throw badInput([{ path: 'input.code', message: 'is already taken' }])
      }
    }
  }

  /** PLANNED → APPROVED, by a REVIEWER or ADMIN at county level or above. */
  async approve (id: string): Promise<ProjectView> {
    authorize(this.principal, 'project.approve')
    const current = await this.find(id)
    authorize(this.principal, 'project.approve', current.regionCode)
    if (current.status !== 'PLANNED') throw conflict(`Only a PLANNED project can be approved (this one is ${current.status})`)
    const now = this.deps.clock()
    return await this.write(current, current.version, { status: 'APPROVED', approvedAt: now, approvedBy: this.principal.sub }, 'project.approve', now)
  }

  async setStatus (id: string, status: string, expectedVersion: number): Promise<ProjectView> {
    authorize(this.principal, 'project.write')
    if (!(PROJECT_STATUSES as readonly string[]).includes(status)) throw badInput([{ path: 'status', message: `must be one of ${PROJECT_STATUSES.join(', ')}` }])
    if (status === 'APPROVED') throw badInput([{ path: 'status', message: 'a project is approved with approveProject (by a county reviewer)' }])
    if (!Number.isInteger(expectedVersion) || expectedVersion < 1) throw badInput([{ path: 'expectedVersion', message: 'must be a positive integer' }])
    const current = await this.find(id)
    authorize(this.principal, 'project.write', current.regionCode)
    if (current.version !== expectedVersion) throw conflict(`The project was changed since version ${expectedVersion}`)
    const from = current.status as ProjectStatus
    if (!NEXT_STATUSES[from].includes(status as ProjectStatus)) throw conflict(`A project cannot go from ${from} to ${status}`)
    const now = this.deps.clock()
    const today = isoDay(now)
    const changes: repo.ProjectChanges = { status }
    if (status === 'IN_PROGRESS') changes.actualStart = today
    if (status === 'COMPLETED' || (status === 'CANCELLED' && current.actualStart !== null)) changes.actualEnd = today
    return await this.write(current, expectedVersion, changes, 'project.status', now)
  }

  private async write (current: repo.ProjectRow, expectedVersion: number, changes: repo.ProjectChanges, action: string, now: Date): Promise<ProjectView> {
    return await this.deps.db.transaction(async (tx) => {
      const row = await repo.update(tx, this.principal, current.id, expectedVersion, changes, now)
      if (row === null) throw conflict(`The project was changed since version ${expectedVersion}`)
      await recordAudit(tx, this.principal, now, { action, entity: 'Project', entityId: row.id, regionCode: row.regionCode, before: projectAudit(current), after: projectAudit(row) })
      return projectView(row)
    })
  }

  /** A project the caller may link households to (in area, neither completed nor cancelled), or the error naming `path`. */
  async findOpen (id: string, path: string): Promise<repo.ProjectRow> {
    const [project] = isUuid(id) ? await repo.findByIds(this.deps.db, this.principal, [id]) : []
    if (project === undefined) throw badInput([{ path, message: 'is not a project in your area' }])
    authorize(this.principal, 'project.write', project.regionCode)
    if (!OPEN_STATUSES.has(project.status)) throw conflict(`The project is ${project.status}`)
    return project
  }

  async link (projectId: string, householdIds: readonly string[]): Promise<ProjectView> {
    authorize(this.principal, 'project.write')
    const project = await this.find(projectId)
    authorize(this.principal, 'project.write', project.regionCode)
    if (!OPEN_STATUSES.has(project.status)) throw conflict(`Households are linked only to open projects (this one is ${project.status})`)
    if (householdIds.length === 0 || householdIds.length > MAX_LINK) throw badInput([{ path: 'householdIds', message: `must list 1–${MAX_LINK} households` }])
    const ids = [...new Set(householdIds)]
    const found = new Map((await repo.households(this.deps.db, this.principal, ids.filter(isUuid))).map(h => [h.id, h]))
    const fields: FieldError[] = []
    householdIds.forEach((id, i) => {
      const h = found.get(id)
      if (h === undefined) fields.push({ path: `householdIds.${i}`, message: 'is not a household in your area' })
      else if (!h.regionCode.startsWith(project.regionCode)) fields.push({ path: `householdIds.${i}`, message: "is outside the project's area" })
      else if (h.status === 'CLOSED') fields.push({ path: `householdIds.${i}`, message: 'is closed' })
    })
    if (fields.length > 0) throw badInput(fields)
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const locked = await repo.lock(tx, this.principal, project.id)
      if (locked === null || !OPEN_STATUSES.has(locked.status)) throw conflict('The project was changed meanwhile; reload it')
      await this.linkIn(tx, locked, ids.map(householdId => ({ householdId, measureId: null })), now)
      return projectView(locked)
    })
  }

  /** Links households (and the measures made for them) inside `tx`, one audit entry per link made or changed. */
  async linkIn (tx: DbOrTx, project: repo.ProjectRow, links: Array<{ householdId: string, measureId: string | null }>, now: Date): Promise<void> {
    const made = await repo.link(tx, links.map(l => ({ projectId: project.id, householdId: l.householdId, regionCode: project.regionCode, measureId: l.measureId, createdAt: now })))
    await recordAudit(tx, this.principal, now, made.map(r => ({
      action: 'project.link',
      entity: 'Project',
      entityId: project.id,
      regionCode: project.regionCode,
      after: { householdId: r.householdId, measureId: r.measureId }
    })))
  }

  async allocate (projectId: string, input: AllocationInput): Promise<AllocationView> {
    authorize(this.principal, 'project.write')
    const project = await this.find(projectId)
    authorize(this.principal, 'project.write', project.regionCode)
    const fields: FieldError[] = []
    if (!(FUND_SOURCES as readonly string[]).includes(input.source)) fields.push({ path: 'input.source', message: `must be one of ${FUND_SOURCES.join(', ')}` })
    checkYuan(input.amount, 'input.amount', fields)
    const documentNo = input.documentNo.trim()
    if (documentNo === '' || documentNo.length > 100) fields.push({ path: 'input.documentNo', message: 'must be 1–100 characters' })
    else checkName(documentNo, 'input.documentNo', fields)
    if (!isIsoDate(input.date)) fields.push({ path: 'input.date', message: 'must be a date YYYY-MM-DD' })
    if (fields.length > 0) throw badInput(fields)
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const locked = await repo.lock(tx, this.principal, project.id)
      if (locked === null) throw notFound('Project')
      if (!OPEN_STATUSES.has(locked.status)) throw conflict(`Funds are allocated only to open projects (this one is ${locked.status})`)
      const row = await repo.insertAllocation(tx, { projectId: locked.id, regionCode: locked.regionCode, source: input.source, amount: input.amount, documentNo, date: input.date, createdAt: now })
      const updated = await repo.addToSum(tx, locked.id, 'allocated', input.amount, now)
      await recordAudit(tx, this.principal, now, {
        action: 'project.allocate',
        entity: 'FundAllocation',
        entityId: row.id,
        regionCode: locked.regionCode,
        after: { ...allocationView(row), projectAllocated: updated.allocated }
      })
      return allocationView(row)
    })
  }

  /** A payment by GraphQL or REST: the rule is `applyPayment`'s (payments.ts). */
  async pay (projectId: string, input: PaymentInput): Promise<PaymentView> {
    authorize(this.principal, 'project.write')
    const project = await this.find(projectId)
    authorize(this.principal, 'project.write', project.regionCode)
    const at = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const outcome = await applyPayment(tx, { principal: this.principal, sealer: this.deps.sealer, at }, { ...input, projectId: project.id }, inputPaths('input'))
      if (!outcome.ok) throw outcome.error
      return paymentView(outcome.payment, this.principal, this.deps.sealer)
    })
  }

  /**
   * Fund figures of each region in `codes` for each year (null: every year), in the
   * caller's area. The caller has checked the regions (StatisticsService, fundStatistics).
   */
  async fundFigures (codes: readonly string[], years: ReadonlyArray<number | null>): Promise<Map<string, FundFigures>> {
    authorize(this.principal, 'statistics.read')
    const { totals, sources } = await repo.fundFigures(this.deps.db, this.principal, codes, years.map(y => y ?? 0))
    const key = (code: string, year: number | null): string => `${code}/${year ?? 0}`
    const bySource = new Map<string, Map<string, number>>()
    for (const r of sources) {
      const k = key(r.code, r.year)
      if (!bySource.has(k)) bySource.set(k, new Map())
      bySource.get(k)!.set(r.source, yuan(r.amount))
    }
    const rows = new Map(totals.map(r => [key(r.code, r.year), r]))
    const result = new Map<string, FundFigures>()
    for (const code of codes) {
      for (const year of years) {
        const r = rows.get(key(code, year))
        const allocated = yuan(r?.allocated)
        const paid = yuan(r?.paid)
        const households = r?.beneficiary_households ?? 0
        const split = bySource.get(key(code, year))
        result.set(key(code, year), {
          year,
          projects: { total: r?.total ?? 0, planned: r?.planned ?? 0, approved: r?.approved ?? 0, inProgress: r?.in_progress ?? 0, completed: r?.completed ?? 0, cancelled: r?.cancelled ?? 0 },
          budget: yuan(r?.budget),
          allocated,
          allocatedBySource: FUND_SOURCES.map(source => ({ source, amount: split?.get(source) ?? 0 })),
          paid,
          paidShare: allocated === 0 ? null : paid / allocated,
          beneficiaryHouseholds: households,
          paidHouseholds: r?.paid_households ?? 0,
          paidPerBeneficiaryHousehold: households === 0 ? null : Math.round(paid / households * 100) / 100
        })
      }
    }
    return result
  }

  /** `fundStatistics(regionCode, year)`: a region in the caller's area, with its breakdown per child region. */
  async fundStatistics (regionCode: string, year: number | null | undefined, paths = { regionCode: 'regionCode', year: 'year' }): Promise<FundStatistics> {
    authorize(this.principal, 'statistics.read')
    const code = regionFilter(this.principal, 'statistics.read', regionCode, paths.regionCode)
    const thisYear = this.deps.clock().getUTCFullYear()
    if (year != null && (!Number.isInteger(year) || year < 2000 || year > thisYear + 10)) throw badInput([{ path: paths.year, message: `must be a year from 2000 to ${thisYear + 10}` }])
    const regions = new RegionsService(this.deps, this.principal)
    const region = await regions.get(code, paths.regionCode)
    const children = (await regions.childrenOf([code]))[0] ?? []
    const figures = await this.fundFigures([code, ...children.map(c => c.code)], [year ?? null])
    const of = (r: Region): FundFigures => figures.get(`${r.code}/${year ?? 0}`)!
    return { region, ...of(region), breakdown: children.map(c => ({ region: c, ...of(c), breakdown: [] })) }
  }

  // Batched reads for loaders: one scoped statement for all the projects asked.

  async beneficiaryLinks (projectIds: readonly string[]): Promise<BeneficiaryLinkView[][]> {
    authorize(this.principal, 'project.read')
    const rows = await repo.beneficiariesOf(this.deps.db, this.principal, projectIds)
    return groupRows(projectIds, rows, r => r.projectId, linkView)
  }

  async allocations (projectIds: readonly string[]): Promise<AllocationView[][]> {
    authorize(this.principal, 'project.read')
    const rows = await repo.allocationsOf(this.deps.db, this.principal, projectIds)
    return groupRows(projectIds, rows, r => r.projectId, allocationView)
  }

  async payments (projectIds: readonly string[]): Promise<PaymentView[][]> {
    authorize(this.principal, 'project.read')
    const rows = await repo.paymentsOf(this.deps.db, this.principal, projectIds)
    return groupRows(projectIds, rows, r => r.projectId, r => paymentView(r, this.principal, this.deps.sealer))
  }
}
