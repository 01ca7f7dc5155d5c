import type { Deps } from '../../shared/context.js'
import { badInput, conflict, notFound } from '../../shared/errors.js'
import { evaluateExitCriteria, failedCriteria, type CriterionResult } from '../../shared/exit-criteria.js'
import { groupByHousehold, groupRows, isUuid } from '../../shared/ids.js'
import { connection, forwardFrom, idPage, type Connection, type IdRange, type PageArgs } from '../../shared/pagination.js'
import { authorize, regionFilter, type Action } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { isRegionCode, levelOf } from '../../shared/region-code.js'
import { recordAudit } from '../audit/audit-service.js'
import type { HouseholdRow } from '../households/households-repository.js'
import { HouseholdsService, type HouseholdView } from '../households/households-service.js'
import * as incomes from '../incomes/incomes-repository.js'
import * as members from '../members/members-repository.js'
import { RegionsService, type Region } from '../regions/regions-service.js'
import * as repo from './exits-repository.js'

export interface ExitReviewView {
  id: string
  householdId: string
  regionCode: string
  year: number
  status: string
  criteria: CriterionResult[]
  noticeEndsAt: string | null
  comment: string | null
  version: number
  createdAt: string
  updatedAt: string
}

export interface ExitReviewStepView {
  action: string
  fromStatus: string | null
  toStatus: string
  at: string
  actorSub: string
  actorRole: string
  comment: string | null
}

export interface ExitReviewFilter { regionCode?: string | null, status?: string | null, year?: number | null }

export interface ExitNotice {
  villageCode: string
  villageName: string
  headName: string | null
  householdSize: number
  year: number
  noticeStartsAt: string
  noticeEndsAt: string
}

export interface ExitWarning { household: HouseholdView, year: number, failed: CriterionResult[] }

/** Poverty incidence below which a village or county may exit (central China). */
export const EXIT_INCIDENCE_LIMIT = 0.02
const TEXT_MAX = 500
const DAY_MS = 86_400_000
const OPEN = new Set<string>(repo.OPEN_STATUSES)
const MAY_EXIT = new Set(['POOR', 'RETURNED'])
/** Exited households examined per query by the monitoring of exits. */
const MONITOR_BATCH = 500

export function reviewView (r: repo.ReviewRow): ExitReviewView {
  return {
    id: r.id,
    householdId: r.householdId,
    regionCode: r.regionCode,
    year: r.year,
    status: r.status,
    criteria: r.criteria as CriterionResult[],
    noticeEndsAt: r.noticeEndsAt?.toISOString() ?? null,
    comment: r.comment,
    version: r.version,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString()
  }
}

const stepView = (s: repo.StepRow): ExitReviewStepView => ({
  action: s.action,
  fromStatus: s.fromStatus,
  toStatus: s.toStatus,
  at: s.at.toISOString(),
  actorSub: s.actorSub,
  actorRole: s.actorRole,
  comment: s.comment
})

/** The criteria refused: BAD_USER_INPUT naming each failed criterion with its reason. */
function criteriaNotMet (failed: CriterionResult[], path: string): Error {
  return badInput(
    failed.map(f => ({ path, message: `${f.criterion}: ${f.detail}` })),
    `Exit criteria not met: ${failed.map(f => f.criterion).join(', ')}`
  )
}

/** Optional free text (comment) or required text (reason, objection), trimmed, at most 500 characters. */
function text (value: string | null | undefined, path: string, required: boolean): string | null {
  const v = value?.trim() ?? ''
  if (required && v === '') throw badInput([{ path, message: 'is required' }])
  if (v.length > TEXT_MAX) throw badInput([{ path, message: `must be at most ${TEXT_MAX} characters` }])
  return v === '' ? null : v
}

/**
 * Exits from poverty (contract §6): criteria, the review flow (propose → verify and
 * public notice → approve, or reject; objections during the notice), returns to
 * poverty, the monitoring of exited households and the exit of villages and counties.
 * Every step is written with its history entry and audit entry in one transaction.
 */
export class ExitsService {
  private readonly households: HouseholdsService
  private readonly regions: RegionsService

  constructor (private readonly deps: Deps, private readonly principal: Principal) {
    this.households = new HouseholdsService(deps, principal)
    this.regions = new RegionsService(deps, principal)
  }

  private checkYear (year: number, path: string, from = 2014): void {
    const thisYear = this.deps.clock().getUTCFullYear()
    if (!Number.isInteger(year) || year < from || year > thisYear) throw badInput([{ path, message: `must be a year from ${from} to ${thisYear}` }])
  }

  /** Evaluates the criteria on the household's current data (inside `db`, which may be a transaction). */
  private async evaluate (db: Deps['db'], household: HouseholdRow, year: number): Promise<CriterionResult[]> {
    // One after another: `db` may be a transaction, whose one client must not run queries concurrently.
    const people = await members.byHouseholds(db, this.principal, [household.id], false)
    const records = await incomes.byHouseholds(db, this.principal, [household.id])
    const line = await this.regions.povertyLine(year, db)
    return evaluateExitCriteria({
      year,
      household,
      members: people,
      perCapitaNet: records.find(r => r.year === year)?.perCapitaNet ?? null,
      povertyLine: line
    })
  }

  /** `exitCriteria(householdId, year)`: each criterion with its evidence. */
  async criteria (householdId: string, year: number): Promise<CriterionResult[]> {
    const household = await this.households.find(householdId)
    this.checkYear(year, 'year')
    return await this.evaluate(this.deps.db, household, year)
  }

  // ── Reads ──────────────────────────────────────────────────────────────────

  private async find (id: string): Promise<repo.ReviewRow> {
    authorize(this.principal, 'record.read')
    const [row] = isUuid(id) ? await repo.findByIds(this.deps.db, this.principal, [id]) : []
    if (row === undefined) throw notFound('Exit review')
    return row
  }

  async get (id: string): Promise<ExitReviewView> {
    return reviewView(await this.find(id))
  }

  async byHouseholds (householdIds: readonly string[]): Promise<ExitReviewView[][]> {
    authorize(this.principal, 'record.read')
    const rows = await repo.byHouseholds(this.deps.db, this.principal, householdIds)
    return groupByHousehold(householdIds, rows, reviewView)
  }

  async steps (reviewIds: readonly string[]): Promise<ExitReviewStepView[][]> {
    authorize(this.principal, 'record.read')
    const rows = await repo.stepsByReviews(this.deps.db, this.principal, reviewIds)
    return groupRows(reviewIds, rows, s => s.reviewId, stepView)
  }

  async list (filter: ExitReviewFilter | null | undefined, args: PageArgs): Promise<Connection<ExitReviewView>> {
    authorize(this.principal, 'record.read')
    const page = idPage(args)
    const q: repo.ReviewQuery = { ...filter, regionCode: regionFilter(this.principal, 'record.read', filter?.regionCode, 'filter.regionCode') }
    if (q.year != null) this.checkYear(q.year, 'filter.year')
    const rows = await repo.list(this.deps.db, this.principal, q, page, page.size + 1)
    return connection(rows.map(reviewView), page, r => [r.id], async () => await repo.countMatching(this.deps.db, this.principal, q))
  }

  /** Households under public notice in the region (only what a posted notice may show). */
  async notices (regionCode: string | null | undefined, year: number | null | undefined, paths = { region: 'regionCode', year: 'year' }): Promise<ExitNotice[]> {
    authorize(this.principal, 'record.read')
    const code = regionFilter(this.principal, 'record.read', regionCode, paths.region)
    if (year != null) this.checkYear(year, paths.year)
    const rows = await repo.notices(this.deps.db, this.principal, code, year ?? null, this.deps.clock())
    const byName = new Intl.Collator('zh-CN')
    return rows
      .sort((a, b) => (a.villageCode === b.villageCode ? byName.compare(a.headName ?? '', b.headName ?? '') : a.villageCode < b.villageCode ? -1 : 1))
      .map(r => ({
        villageCode: r.villageCode,
        villageName: r.villageName,
        headName: r.headName,
        householdSize: r.householdSize,
        year: r.year,
        noticeStartsAt: r.noticeStartsAt.toISOString(),
        noticeEndsAt: r.noticeEndsAt.toISOString()
      }))
  }

  /**
   * 返贫监测: exited households in the region whose latest data no longer meet the
   * criteria, evaluated for the year of their latest income record (or their exit
   * year when none is later). A connection ordered by household id, like the other
   * lists; the total is counted (every exited household in the region evaluated) only when asked.
   */
  async warnings (regionCode: string | null | undefined, args: PageArgs): Promise<Connection<ExitWarning>> {
    authorize(this.principal, 'record.read')
    const page = idPage(args)
    const code = regionFilter(this.principal, 'record.read', regionCode, 'regionCode')
    const lines = new Map((await this.regions.povertyLines()).map(l => [l.year, l.amount]))
    const found: ExitWarning[] = []
    for await (const warning of this.monitor(code, page, lines)) {
      found.push(warning)
      if (found.length > page.size) break
    }
    return connection(found, page, w => [w.household.id], async () => {
      let n = 0
      for await (const _ of this.monitor(code, forwardFrom(null), lines)) n++
      return n
    })
  }

  /** The warnings of the exited households in `range`, in its direction, evaluated in batches. */
  private async * monitor (regionCode: string, range: IdRange, lines: Map<number, number>): AsyncGenerator<ExitWarning> {
    let position = range
    for (;;) {
      const batch = await this.households.rows({ regionCode, status: 'EXITED' }, position, MONITOR_BATCH)
      if (batch.length === 0) return
      const ids = batch.map(h => h.id)
      const [people, records] = await Promise.all([
        members.byHouseholds(this.deps.db, this.principal, ids, false),
        incomes.byHouseholds(this.deps.db, this.principal, ids)
      ])
      const peopleOf = groupByHousehold(ids, people, m => m)
      const incomesOf = groupByHousehold(ids, records, r => r) // latest year first
      for (const [i, h] of batch.entries()) {
        const year = Math.max(incomesOf[i]![0]?.year ?? 0, h.exitYear ?? 0)
        const failed = failedCriteria(evaluateExitCriteria({
          year,
          household: h,
          members: peopleOf[i]!,
          perCapitaNet: incomesOf[i]!.find(r => r.year === year)?.perCapitaNet ?? null,
          povertyLine: lines.get(year) ?? null
        }))
        if (failed.length > 0) yield { household: this.households.view(h), year, failed }
      }
      if (batch.length < MONITOR_BATCH) return
      const last = batch.at(-1)!.id
      position = range.backward ? { ...range, beforeId: last } : { ...range, afterId: last }
    }
  }

  // ── The review flow ────────────────────────────────────────────────────────

  /** Writes the review's change, its history step and its audit entry inside `tx`. */
  private async step (tx: Deps['db'], current: repo.ReviewRow | null, next: repo.ReviewRow, action: string, comment: string | null): Promise<void> {
    const now = this.deps.clock()
    await repo.insertStep(tx, {
      reviewId: next.id,
      regionCode: next.regionCode,
      action,
      fromStatus: current?.status ?? null,
      toStatus: next.status,
      at: now,
      actorSub: this.principal.sub,
      actorRole: this.principal.role,
      comment
    })
    const audit = ({ createdAt: _c, updatedAt: _u, ...r }: repo.ReviewRow): Record<string, unknown> => r
    await recordAudit(tx, this.principal, now, {
      action: `exit.${action.toLowerCase()}`,
      entity: 'ExitReview',
      entityId: next.id,
      regionCode: next.regionCode,
      before: current === null ? null : audit(current),
      after: { ...audit(next), ...(comment !== null ? { stepComment: comment } : {}) }
    })
  }

  /** Moves the review from `current` (which must still be current) with `changes`. */
  private async advance (tx: Deps['db'], current: repo.ReviewRow, changes: repo.ReviewChanges, action: string, comment: string | null): Promise<repo.ReviewRow> {
    const next = await repo.update(tx, this.principal, current.id, current.version, { ...changes, comment }, this.deps.clock())
    if (next === null) throw conflict('The exit review was changed meanwhile; reload it')
    await this.step(tx, current, next, action, comment)
    return next
  }

  /** The review in area, for a step that needs `action` on it. */
  private async forStep (reviewId: string, action: Action): Promise<repo.ReviewRow> {
    authorize(this.principal, action)
    const review = await this.find(reviewId)
    authorize(this.principal, action, review.regionCode)
    return review
  }

  async propose (householdId: string, year: number): Promise<ExitReviewView> {
    authorize(this.principal, 'exit.propose')
    const household = await this.households.find(householdId)
    authorize(this.principal, 'exit.propose', household.regionCode)
    this.checkYear(year, 'year', household.identificationYear)
    if (!MAY_EXIT.has(household.status)) throw conflict(`A household with status ${household.status} cannot be proposed for exit`)
    const open = (await repo.byHouseholds(this.deps.db, this.principal, [household.id])).find(r => OPEN.has(r.status))
    if (open !== undefined) throw conflict(`The household already has an open exit review (${open.id}, ${open.status})`)
    const criteria = await this.evaluate(this.deps.db, household, year)
    const failed = failedCriteria(criteria)
    if (failed.length > 0) throw criteriaNotMet(failed, 'householdId')
    try {
      return await this.deps.db.transaction(async (tx) => {
        const now = this.deps.clock()
        const review = await repo.insert(tx, { householdId: household.id, regionCode: household.regionCode, year, status: 'PROPOSED', criteria, createdAt: now, updatedAt: now })
        await this.step(tx, null, review, 'PROPOSE', null)
        return reviewView(review)
      })
    } catch (err) {
      if ((err as { cause?: { constraint?: string } }).cause?.constraint === 'exit_reviews_open_household_key') throw conflict('The household already has an open exit review')
      throw err
    }
  }

  /**
   * Township verification: the criteria are evaluated again and the public notice starts
   * (EXIT_NOTICE_DAYS).
   */
  async verify (reviewId: string, comment: string | null | undefined): Promise<ExitReviewView> {
    const review = await this.forStep(reviewId, 'exit.verify')
    const note = text(comment, 'comment', false)
    if (review.status !== 'PROPOSED') throw conflict(`Only a PROPOSED review can be verified (this one is ${review.status})`)
    return await this.deps.db.transaction(async (tx) => {
      const { criteria } = await this.checkedCriteria(tx, review, 'reviewId')
      const noticeEndsAt = new Date(this.deps.clock().getTime() + this.deps.config.exitNoticeDays * DAY_MS)
      return reviewView(await this.advance(tx, review, { status: 'VERIFIED', criteria, noticeEndsAt }, 'VERIFY', note))
    })
  }

  /** An objection during the public notice sends the review back to PROPOSED. */
  async object (reviewId: string, objection: string): Promise<ExitReviewView> {
    const review = await this.forStep(reviewId, 'exit.propose')
    const note = text(objection, 'text', true)
    if (review.status !== 'VERIFIED') throw conflict(`Objections are raised during the public notice (this review is ${review.status})`)
    if (this.deps.clock() >= review.noticeEndsAt!) throw conflict(`The public notice ended at ${review.noticeEndsAt!.toISOString()}`)
    return await this.deps.db.transaction(async (tx) =>
      reviewView(await this.advance(tx, review, { status: 'PROPOSED', noticeEndsAt: null }, 'OBJECT', note)))
  }

  /**
   * County approval, once the notice has ended: the criteria are evaluated again on the
   * household's data (locked for the decision), and the household becomes EXITED.
   */
  async approve (reviewId: string, comment: string | null | undefined): Promise<ExitReviewView> {
    const review = await this.forStep(reviewId, 'exit.approve')
    const note = text(comment, 'comment', false)
    if (review.status !== 'VERIFIED') throw conflict(`Only a VERIFIED review can be approved (this one is ${review.status})`)
    if (this.deps.clock() < review.noticeEndsAt!) throw conflict(`The public notice runs until ${review.noticeEndsAt!.toISOString()}`)
    return await this.deps.db.transaction(async (tx) => {
      const { criteria, household } = await this.checkedCriteria(tx, review, 'reviewId')
      const next = await this.advance(tx, review, { status: 'APPROVED', criteria }, 'APPROVE', note)
      await this.households.writeIn(tx, household, household.version, { status: 'EXITED', exitYear: review.year }, 'household.exit', { year: review.year, reviewId: review.id, reason: note })
      return reviewView(next)
    })
  }

  /** Rejection with a reason: from PROPOSED by a verifier (township), from VERIFIED by an approver (county). */
  async reject (reviewId: string, reason: string): Promise<ExitReviewView> {
    authorize(this.principal, 'exit.verify')
    const review = await this.find(reviewId)
    const note = text(reason, 'reason', true)
    if (!OPEN.has(review.status)) throw conflict(`Only an open review can be rejected (this one is ${review.status})`)
    authorize(this.principal, review.status === 'PROPOSED' ? 'exit.verify' : 'exit.approve', review.regionCode)
    return await this.deps.db.transaction(async (tx) =>
      reviewView(await this.advance(tx, review, { status: 'REJECTED', noticeEndsAt: null }, 'REJECT', note)))
  }

  /** Evaluates the review's criteria again inside `tx` with the household locked; refuses when any fails. */
  private async checkedCriteria (tx: Deps['db'], review: repo.ReviewRow, path: string): Promise<{ criteria: CriterionResult[], household: HouseholdRow }> {
    const household = await this.households.lock(tx, review.householdId)
    if (!MAY_EXIT.has(household.status)) throw conflict(`The household's status is now ${household.status}`)
    const criteria = await this.evaluate(tx, household, review.year)
    const failed = failedCriteria(criteria)
    if (failed.length > 0) throw criteriaNotMet(failed, path)
    return { criteria, household }
  }

  /** 返贫: an exited household counts as poor again (county reviewers). */
  async markReturned (householdId: string, year: number, reason: string): Promise<HouseholdView> {
    authorize(this.principal, 'exit.approve')
    const household = await this.households.find(householdId)
    authorize(this.principal, 'exit.approve', household.regionCode)
    this.checkYear(year, 'year', household.exitYear ?? 2014)
    const note = text(reason, 'reason', true)
    if (household.status !== 'EXITED') throw conflict(`Only an EXITED household can return to poverty (this one is ${household.status})`)
    return await this.deps.db.transaction(async (tx) =>
      await this.households.writeIn(tx, household, household.version, { status: 'RETURNED', returnYear: year }, 'household.return', { year, reason: note }))
  }

  // ── Villages and counties ──────────────────────────────────────────────────

  /**
   * 贫困村出列 / 贫困县摘帽: records the exit year of a poor village (county level or
   * above) or county (city level or above) when its poverty incidence — living persons
   * of POOR and RETURNED households ÷ rural population — is below 2%.
   */
  async exitRegion (code: string, year: number, level: 'VILLAGE' | 'COUNTY'): Promise<Region> {
    const action: Action = level === 'VILLAGE' ? 'exit.approve' : 'exit.county'
    authorize(this.principal, action)
    if (!isRegionCode(code) || levelOf(code) !== level) throw badInput([{ path: 'code', message: `must be a ${level === 'VILLAGE' ? '12' : '6'}-digit ${level.toLowerCase()} code` }])
    const region = await this.regions.get(code)
    authorize(this.principal, action, region.code)
    this.checkYear(year, 'year')
    if (!region.isPoor) throw conflict(`${region.name} is not registered as poor`)
    if (region.exitYear !== null) throw conflict(`${region.name} already exited in ${region.exitYear}`)
    if (region.ruralPopulation === null || region.ruralPopulation === 0) {
      throw badInput([{ path: 'code', message: `${region.name} has no rural population on record; set it first (updateRegion)` }])
    }
    const poor = await repo.poorPersons(this.deps.db, this.principal, code)
    const incidence = poor / region.ruralPopulation
    const percent = (incidence * 100).toFixed(2)
    if (incidence >= EXIT_INCIDENCE_LIMIT) {
      throw badInput([{ path: 'code', message: `poverty incidence is ${percent}% (${poor} poor persons ÷ rural population ${region.ruralPopulation}); it must be below 2%` }],
        `Poverty incidence of ${region.name} is ${percent}%, not below 2%`)
    }
    return await this.regions.recordExit(region, year, { poorPersons: poor, ruralPopulation: region.ruralPopulation, incidence })
  }
}
