import type { Deps } from '../../shared/context.js'
import { isIsoDate, isoDay } from '../../shared/dates.js'
import { badInput, conflict, forbidden, notFound, type FieldError } from '../../shared/errors.js'
import { groupByHousehold, groupRows, isUuid } from '../../shared/ids.js'
import { connection, idPage, type Connection, type PageArgs } from '../../shared/pagination.js'
import { authorize, can, regionFilter } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { isRegionCode, levelOf } from '../../shared/region-code.js'
import { checkName, checkPhone, checkText } from '../../shared/text.js'
import { recordAudit } from '../audit/audit-service.js'
import type { HouseholdRow } from '../households/households-repository.js'
import { HouseholdsService, type HouseholdView } from '../households/households-service.js'
import * as regions from '../regions/regions-repository.js'
import * as repo from './people-repository.js'
import { assignmentView, auditOf, helperView, visitView, type AssignmentView, type HelperView, type VisitView } from './people-views.js'

/** The free-text helper of a household's input (contract name HelperInput): a helper record is reused or created and assigned. */
export interface HelperInput { name?: string | null, unit?: string | null, phone?: string | null }
export interface HelperRecordInput { regionCode: string, name: string, unit?: string | null, phone?: string | null, homeRegionCode?: string | null }
export interface HelperPatch { name?: string | null, unit?: string | null, phone?: string | null, homeRegionCode?: string | null }
export interface HelperFilter { regionCode?: string | null, nameContains?: string | null }
/** 因村派人 coverage of a region (docs/people-sent.md). */
export interface PeopleSentCoverage {
  poorVillages: number
  poorVillagesWithTeam: number
  teamCoverageRate: number | null
  poorHouseholds: number
  poorHouseholdsWithHelper: number
  helperCoverageRate: number | null
  notVisitedIn90Days: number
}
export interface VisitInput { householdId: string, helperId: string, visitedOn: string, note?: string | null }

/** The days without a visit after which a household counts as not visited (统计: 90 days). */
export const NOT_VISITED_DAYS = 90
const MAX_NOTE = 1000
/** The first day anything of the programme is dated (精准识别 began in 2014). */
export const FIRST_DAY = '2014-01-01'

/** Validates a day: a real date from FIRST_DAY to today. */
export function checkDay (value: string | null | undefined, path: string, today: string, fields: FieldError[]): void {
  if (value == null) { fields.push({ path, message: 'is required' }); return }
  if (!isIsoDate(value)) fields.push({ path, message: 'must be a date (YYYY-MM-DD)' })
  else if (value < FIRST_DAY || value > today) fields.push({ path, message: `must be from ${FIRST_DAY} to today (${today})` })
}

/** Validates a person's name (required, 1–50) and unit (optional, at most 100), pushing problems under `path`. */
export function checkPerson (input: { name?: string | null, unit?: string | null, phone?: string | null }, path: string, fields: FieldError[], nameRequired: boolean): void {
  const name = input.name?.trim() ?? ''
  if (name === '') { if (nameRequired || input.name !== undefined) fields.push({ path: `${path}.name`, message: 'is required' }) } else if (name.length > 50) fields.push({ path: `${path}.name`, message: 'must be at most 50 characters' })
  else checkName(input.name, `${path}.name`, fields)
  if (input.unit != null && input.unit.trim().length > 100) fields.push({ path: `${path}.unit`, message: 'must be at most 100 characters' })
  else checkName(input.unit, `${path}.unit`, fields)
  checkPhone(input.phone, `${path}.phone`, fields)
}

const blankToNull = (v: string | null | undefined): string | null => (v == null || v.trim() === '' ? null : v.trim())

/**
 * 帮扶责任人 and 走访: helper records, their assignments to households (one current
 * assignment per household) and their visits. Read by every role that reads records,
 * written by OPERATOR and ADMIN in area (policy `people.*`).
 */
export class HelpersService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  private view (row: repo.HelperRow): HelperView { return helperView(row, this.principal) }
  private today (): string { return isoDay(this.deps.clock()) }

  async get (id: string): Promise<HelperView> {
    authorize(this.principal, 'people.read')
    const [row] = isUuid(id) ? await repo.findHelpers(this.deps.db, this.principal, [id]) : []
    if (row === undefined) throw notFound('Helper')
    return this.view(row)
  }

  async byIds (ids: readonly string[]): Promise<Array<HelperView | null>> {
    authorize(this.principal, 'people.read')
    const rows = await repo.findHelpers(this.deps.db, this.principal, ids.filter(isUuid))
    const byId = new Map(rows.map(r => [r.id, r]))
    return ids.map(id => { const r = byId.get(id); return r === undefined ? null : this.view(r) })
  }

  async list (filter: HelperFilter | null | undefined, args: PageArgs, paths: { region: string } & Partial<Record<keyof PageArgs, string>> = { region: 'filter.regionCode' }): Promise<Connection<HelperView>> {
    authorize(this.principal, 'people.read')
    const page = idPage(args, paths)
    const regionCode = regionFilter(this.principal, 'people.read', filter?.regionCode, paths.region)
    if (filter?.nameContains != null && filter.nameContains.length > 50) throw badInput([{ path: 'filter.nameContains', message: 'must be at most 50 characters' }])
    const q: repo.HelperQuery = { regionCode, nameContains: filter?.nameContains }
    const rows = await repo.listHelpers(this.deps.db, this.principal, q, page, page.size + 1)
    return connection(rows.map(r => this.view(r)), page, h => [h.id], async () => await repo.countHelpers(this.deps.db, this.principal, q))
  }

  /** Validates the helper's own region: a known region of any level (who it is, not where it may be seen). */
  private async checkHomeRegion (code: string | null | undefined, path: string, fields: FieldError[]): Promise<void> {
    if (code == null) return
    if (!isRegionCode(code) || !(await regions.exists(this.deps.db, code))) fields.push({ path, message: 'is not a known region' })
  }

  async create (input: HelperRecordInput): Promise<HelperView> {
    authorize(this.principal, 'people.write')
    const fields: FieldError[] = []
    if (!isRegionCode(input.regionCode) || !['COUNTY', 'TOWNSHIP', 'VILLAGE'].includes(levelOf(input.regionCode))) {
      fields.push({ path: 'input.regionCode', message: 'must be a county, township or village (6, 9 or 12 digits)' })
    } else {
      if (!can(this.principal, 'people.write', input.regionCode)) throw forbidden('The region is outside your area')
      if (!(await regions.exists(this.deps.db, input.regionCode))) fields.push({ path: 'input.regionCode', message: 'is not a known region' })
    }
    checkPerson(input, 'input', fields, true)
    await this.checkHomeRegion(input.homeRegionCode, 'input.homeRegionCode', fields)
    if (fields.length > 0) throw badInput(fields)
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => this.view(await this.insert(tx, input.regionCode, input, input.homeRegionCode ?? null, now)))
  }

  private async insert (tx: Deps['db'], regionCode: string, h: { name?: string | null, unit?: string | null, phone?: string | null }, homeRegionCode: string | null, now: Date): Promise<repo.HelperRow> {
    const row = await repo.insertHelper(tx, { regionCode, name: h.name!.trim(), unit: blankToNull(h.unit), phone: blankToNull(h.phone), homeRegionCode, createdAt: now, updatedAt: now })
    await recordAudit(tx, this.principal, now, { action: 'helper.create', entity: 'Helper', entityId: row.id, regionCode: row.regionCode, after: auditOf(row) })
    return row
  }

  async update (id: string, expectedVersion: number, input: HelperPatch): Promise<HelperView> {
    authorize(this.principal, 'people.write')
    const [current] = isUuid(id) ? await repo.findHelpers(this.deps.db, this.principal, [id]) : []
    if (current === undefined) throw notFound('Helper')
    // Visible (kept above the user's region, or assigned in it) is not enough to change it.
    if (!can(this.principal, 'people.write', current.regionCode)) throw forbidden('The helper is kept outside your area')
    const fields: FieldError[] = []
    checkPerson(input, 'input', fields, false)
    await this.checkHomeRegion(input.homeRegionCode, 'input.homeRegionCode', fields)
    if (fields.length > 0) throw badInput(fields)
    const changes: Parameters<typeof repo.updateHelper>[4] = {}
    if (input.name != null) changes.name = input.name.trim()
    if (input.unit !== undefined) changes.unit = blankToNull(input.unit)
    if (input.phone !== undefined) changes.phone = blankToNull(input.phone)
    if (input.homeRegionCode !== undefined) changes.homeRegionCode = input.homeRegionCode
    if (Object.keys(changes).length === 0) throw badInput([{ path: 'input', message: 'names no field to change' }])
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const row = await repo.updateHelper(tx, this.principal, id, expectedVersion, changes, now)
      if (row === null) throw conflict(`The helper was changed since version ${expectedVersion}`)
      await recordAudit(tx, this.principal, now, { action: 'helper.update', entity: 'Helper', entityId: id, regionCode: row.regionCode, before: auditOf(current), after: auditOf(row) })
      return this.view(row)
    })
  }

  // ── Assignments ────────────────────────────────────────────────────────────

  /**
   * Assigns the helper to the household from `startedOn` (default today). The household's
   * current assignment, if another helper's, ends that day; the same helper again is a
   * CONFLICT. Household and helper must be visible; the household in the writer's area.
   */
  async assign (householdId: string, helperId: string, startedOn: string | null | undefined): Promise<AssignmentView> {
    authorize(this.principal, 'people.write')
    const household = await new HouseholdsService(this.deps, this.principal).find(householdId)
    authorize(this.principal, 'people.write', household.regionCode)
    if (household.status === 'CLOSED') throw conflict('The household is closed')
    const [helper] = isUuid(helperId) ? await repo.findHelpers(this.deps.db, this.principal, [helperId]) : []
    if (helper === undefined) throw notFound('Helper')
    const today = this.today()
    const day = startedOn ?? today
    const fields: FieldError[] = []
    checkDay(day, 'startedOn', today, fields)
    if (fields.length > 0) throw badInput(fields)
    return await this.deps.db.transaction(async (tx) => await this.assignIn(tx, household, helper, day))
  }

  /** The assignment inside the caller's transaction (household locked meanwhile, so that two assignments cannot race). */
  async assignIn (tx: Deps['db'], household: HouseholdRow, helper: repo.HelperRow, day: string): Promise<AssignmentView> {
    await new HouseholdsService(this.deps, this.principal).lock(tx, household.id)
    const now = this.deps.clock()
    const current = await repo.currentAssignment(tx, this.principal, household.id)
    if (current !== null) {
      if (current.helperId === helper.id) throw conflict('The helper is already assigned to the household')
      if (current.startedOn > day) throw badInput([{ path: 'startedOn', message: `must not be before the current assignment's start (${current.startedOn})` }])
      await this.endIn(tx, current, day, now)
    }
    const row = await repo.insertAssignment(tx, { helperId: helper.id, householdId: household.id, regionCode: household.regionCode, startedOn: day, createdAt: now, updatedAt: now })
    await recordAudit(tx, this.principal, now, { action: 'helperAssignment.create', entity: 'HelperAssignment', entityId: row.id, regionCode: row.regionCode, after: auditOf(row) })
    return assignmentView(row)
  }

  private async endIn (tx: Deps['db'], current: repo.AssignmentRow, day: string, now: Date): Promise<repo.AssignmentRow> {
    const ended = await repo.endAssignment(tx, this.principal, current.id, day, now)
    if (ended === null) throw conflict('The assignment was ended meanwhile')
    await recordAudit(tx, this.principal, now, { action: 'helperAssignment.end', entity: 'HelperAssignment', entityId: current.id, regionCode: current.regionCode, before: auditOf(current), after: auditOf(ended) })
    return ended
  }

  async endAssignment (id: string, endedOn: string | null | undefined): Promise<AssignmentView> {
    authorize(this.principal, 'people.write')
    const current = isUuid(id) ? await repo.findAssignment(this.deps.db, this.principal, id) : null
    if (current === null) throw notFound('Helper assignment')
    authorize(this.principal, 'people.write', current.regionCode)
    if (current.endedOn !== null) throw conflict('The assignment has ended already')
    const today = this.today()
    const day = endedOn ?? today
    const fields: FieldError[] = []
    checkDay(day, 'endedOn', today, fields)
    if (fields.length === 0 && day < current.startedOn) fields.push({ path: 'endedOn', message: `must not be before the start (${current.startedOn})` })
    if (fields.length > 0) throw badInput(fields)
    return await this.deps.db.transaction(async (tx) => assignmentView(await this.endIn(tx, current, day, this.deps.clock())))
  }

  /**
   * A household's HelperInput (the contract name kept from the free-text fields):
   * validated into `fields`; returns what `applyHelperInput` needs, or undefined when
   * the input does not name the helper.
   */
  checkHelperInput (input: HelperInput | null | undefined, fields: FieldError[]): HelperInput | null | undefined {
    if (input === undefined) return undefined
    if (input === null || [input.name, input.unit, input.phone].every(v => v == null || v.trim() === '')) return null
    checkPerson(input, 'input.helper', fields, true)
    return input
  }

  /**
   * Applies a checked HelperInput to the household inside the caller's transaction:
   * null ends the current assignment; a helper is reused when one visible to the writer
   * and kept in the household's county has the same name, unit and phone, else created
   * (kept at the county when the writer's area covers it, else at the writer's own
   * region), and assigned from today unless it is the current helper already.
   */
  async applyHelperInput (tx: Deps['db'], household: HouseholdRow, input: HelperInput | null): Promise<void> {
    authorize(this.principal, 'people.write', household.regionCode)
    const now = this.deps.clock()
    const today = isoDay(now)
    if (input === null) {
      const current = await repo.currentAssignment(tx, this.principal, household.id)
      if (current !== null) await this.endIn(tx, current, today < current.startedOn ? current.startedOn : today, now)
      return
    }
    const county = household.regionCode.slice(0, 6)
    const wanted = { name: input.name!.trim(), unit: blankToNull(input.unit), phone: blankToNull(input.phone) }
    const helper = await repo.findSameHelper(tx, this.principal, county, wanted) ??
      await this.insert(tx, this.principal.regionCode.length <= 6 ? county : this.principal.regionCode, wanted, null, now)
    const current = await repo.currentAssignment(tx, this.principal, household.id)
    if (current?.helperId === helper.id) return
    await this.assignIn(tx, household, helper, current !== null && current.startedOn > today ? current.startedOn : today)
  }

  /** The current helper of each household (null when none). */
  async currentOf (householdIds: readonly string[]): Promise<Array<HelperView | null>> {
    authorize(this.principal, 'people.read')
    const assignments = await repo.assignmentsOfHouseholds(this.deps.db, this.principal, householdIds)
    const current = new Map(assignments.filter(a => a.endedOn === null).map(a => [a.householdId, a.helperId]))
    const found = await this.byIds([...new Set(current.values())])
    const byId = new Map(found.filter(h => h !== null).map(h => [h.id, h]))
    return householdIds.map(id => byId.get(current.get(id) ?? '') ?? null)
  }

  async assignmentsOfHouseholds (householdIds: readonly string[]): Promise<AssignmentView[][]> {
    authorize(this.principal, 'people.read')
    return groupByHousehold(householdIds, await repo.assignmentsOfHouseholds(this.deps.db, this.principal, householdIds), assignmentView)
  }

  async assignmentsOfHelpers (helperIds: readonly string[]): Promise<AssignmentView[][]> {
    authorize(this.principal, 'people.read')
    return groupRows(helperIds, await repo.assignmentsOfHelpers(this.deps.db, this.principal, helperIds), r => r.helperId, assignmentView)
  }

  // ── Visits ─────────────────────────────────────────────────────────────────

  /** Records a visit: the helper must have been assigned to the household on that day. */
  async recordVisit (input: VisitInput): Promise<VisitView> {
    authorize(this.principal, 'people.write')
    const household = await new HouseholdsService(this.deps, this.principal).find(input.householdId)
    authorize(this.principal, 'people.write', household.regionCode)
    const [helper] = isUuid(input.helperId) ? await repo.findHelpers(this.deps.db, this.principal, [input.helperId]) : []
    if (helper === undefined) throw notFound('Helper')
    const fields: FieldError[] = []
    checkDay(input.visitedOn, 'input.visitedOn', this.today(), fields)
    checkText(input.note, 'input.note', MAX_NOTE, fields)
    if (fields.length === 0 && !(await repo.wasAssigned(this.deps.db, this.principal, helper.id, household.id, input.visitedOn))) {
      fields.push({ path: 'input.helperId', message: `was not assigned to the household on ${input.visitedOn}` })
    }
    if (fields.length > 0) throw badInput(fields)
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const row = await repo.insertVisit(tx, {
        householdId: household.id, helperId: helper.id, regionCode: household.regionCode, visitedOn: input.visitedOn, note: blankToNull(input.note), recordedBy: this.principal.sub, createdAt: now
      })
      await recordAudit(tx, this.principal, now, { action: 'visit.create', entity: 'Visit', entityId: row.id, regionCode: row.regionCode, after: visitView(row) })
      return visitView(row)
    })
  }

  async visitsOfHouseholds (householdIds: readonly string[]): Promise<VisitView[][]> {
    authorize(this.principal, 'people.read')
    return groupByHousehold(householdIds, await repo.visitsOfHouseholds(this.deps.db, this.principal, householdIds), visitView)
  }

  async visitsOfHelpers (helperIds: readonly string[]): Promise<VisitView[][]> {
    authorize(this.principal, 'people.read')
    return groupRows(helperIds, await repo.visitsOfHelpers(this.deps.db, this.principal, helperIds), r => r.helperId, visitView)
  }

  // ── Households not visited ─────────────────────────────────────────────────

  /** The first day that counts as a recent visit when `days` days are allowed without one: visits after `today − days`. */
  sinceDay (days: number): string {
    return isoDay(new Date(Date.parse(this.today()) - days * 86_400_000))
  }

  /**
   * POOR and RETURNED households of the region (default: the caller's) with no visit in
   * the last `days` days (default 90), by id, with the day of their last visit.
   */
  async unvisited (regionCode: string | null | undefined, days: number | null | undefined, args: PageArgs, paths: { region: string, days: string } & Partial<Record<keyof PageArgs, string>> = { region: 'regionCode', days: 'days' }): Promise<Connection<HouseholdView & { lastVisitedOn: string | null }>> {
    authorize(this.principal, 'people.read')
    const page = idPage(args, paths)
    const region = regionFilter(this.principal, 'people.read', regionCode, paths.region)
    const d = days ?? NOT_VISITED_DAYS
    if (!Number.isInteger(d) || d < 1 || d > 3660) throw badInput([{ path: paths.days, message: 'must be a whole number of days from 1 to 3660' }])
    const q: repo.UnvisitedQuery = { regionCode: region, since: this.sinceDay(d) }
    const rows = await repo.listUnvisited(this.deps.db, this.principal, q, page, page.size + 1)
    const households = new HouseholdsService(this.deps, this.principal)
    return connection(rows.map(({ lastVisitedOn, ...h }) => Object.assign(households.view(h), { lastVisitedOn })), page, h => [h.id],
      async () => await repo.countUnvisited(this.deps.db, this.principal, q))
  }

  /**
   * The people-sent coverage of each region as of today (statistics' `peopleSent`),
   * counted over the caller's area in one statement; `codes` all lie in `within`.
   */
  async coverage (within: string, codes: readonly string[]): Promise<PeopleSentCoverage[]> {
    authorize(this.principal, 'statistics.read')
    const rows = await repo.coverage(this.deps.db, this.principal, within, codes, this.sinceDay(NOT_VISITED_DAYS))
    const byCode = new Map(rows.map(r => [r.code, r]))
    return codes.map(c => {
      const r = byCode.get(c)!
      return {
        poorVillages: r.poorVillages,
        poorVillagesWithTeam: r.poorVillagesWithTeam,
        teamCoverageRate: r.poorVillages === 0 ? null : r.poorVillagesWithTeam / r.poorVillages,
        poorHouseholds: r.poorHouseholds,
        poorHouseholdsWithHelper: r.poorHouseholdsWithHelper,
        helperCoverageRate: r.poorHouseholds === 0 ? null : r.poorHouseholdsWithHelper / r.poorHouseholds,
        notVisitedIn90Days: r.notVisited
      }
    })
  }
}
