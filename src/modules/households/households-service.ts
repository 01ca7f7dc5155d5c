import { randomUUID } from 'node:crypto'
import type { Deps } from '../../shared/context.js'
import { badInput, conflict, forbidden, notFound, type FieldError } from '../../shared/errors.js'
import { groupByHousehold, isUuid } from '../../shared/ids.js'
import { maskBankAccount, maskPhone } from '../../shared/masking.js'
import { hasDecimals } from '../../shared/numbers.js'
import { attach, type Selection } from '../../shared/prefetch.js'
import { connection, forwardFrom, idPage, type Connection, type IdRange, type PageArgs } from '../../shared/pagination.js'
import { AREA, authorize, can, isMasked, regionFilter } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { isRegionCode, levelOf } from '../../shared/region-code.js'
import { checkName, checkPhone } from '../../shared/text.js'
import { recordAudit, recordRead } from '../audit/audit-service.js'
import * as incomes from '../incomes/incomes-repository.js'
import * as measures from '../measures/measures-repository.js'
import * as members from '../members/members-repository.js'
import { activeMembersTaken, assertMayRegister, isActiveMemberConflict, memberAudit, memberView, prepareMember, refuseTaken, type MemberInput, type Taken } from '../members/members-service.js'
import { incomeView, measureView } from '../record-views.js'
import { HelpersService, type HelperInput } from '../people/helpers-service.js'
import { currentHelperOfHousehold, helpersFromJsonRows } from '../people/people-repository.js'
import { helperView } from '../people/people-views.js'
import * as regions from '../regions/regions-repository.js'
import * as repo from './households-repository.js'

export interface HouseholdPatch {
  attribute?: string | null
  mainCause?: string | null
  otherCauses?: string[] | null
  housingSafe?: boolean | null
  drinkingWaterSafe?: boolean | null
  foodSecure?: boolean | null
  clothingSecure?: boolean | null
  phone?: string | null
  bankName?: string | null
  bankAccount?: string | null
  cultivatedLandMu?: number | null
  forestLandMu?: number | null
  returnedFarmlandMu?: number | null
  helper?: HelperInput | null
}

export interface HouseholdInput extends HouseholdPatch {
  regionCode: string
  householdNo?: string | null
  attribute: string
  mainCause: string
  identificationYear: number
  members: MemberInput[]
}

export interface HouseholdFilter {
  regionCode?: string | null
  status?: string | null
  attribute?: string | null
  mainCause?: string | null
  nameContains?: string | null
}

export interface HouseholdView extends Omit<repo.HouseholdRow, 'bankAccountSealed'> {
  bankAccount: string | null
}

/** What a household's status history records beside the change itself. */
export interface StatusHistoryNote { year?: number | null, reason?: string | null, reviewId?: string | null }

/** Households per export batch: each batch is one keyset query with its relations. */
export const EXPORT_BATCH = 500

/**
 * The household as a caller may see it: bank account opened (when read), and VIEWER
 * output masked. Built by assignment, not a spreading literal (see `memberView`).
 */
export function householdView (row: repo.HouseholdRow, p: Principal, sealer: Deps['sealer']): HouseholdView {
  const { bankAccountSealed, ...rest } = row
  // A row read with only the columns asked lacks the others (undefined): their fields are not asked.
  const masked = isMasked(p)
  const mask = (v: string | null, f: (s: string) => string): string | null => (typeof v === 'string' && masked ? f(v) : v)
  const view = rest as HouseholdView
  view.phone = mask(row.phone, maskPhone)
  if (bankAccountSealed !== undefined) view.bankAccount = mask(bankAccountSealed === null ? null : sealer.open(bankAccountSealed), maskBankAccount)
  return view
}

/**
 * The columns a nested read needs for the GraphQL fields asked of it (all when not
 * known): the fields named as columns, the column behind each other field (`renamed`),
 * and those its views and loaders always use. Names that are no column are ignored.
 */
function columnsFor (fields: readonly string[] | undefined, always: string[], renamed: Record<string, string | readonly string[]>): readonly string[] | undefined {
  return fields === undefined ? undefined : [...new Set([...always, ...fields.flatMap(f => renamed[f] ?? f)])]
}

/** The household columns behind its fields (the nested ones need its id). */
const HOUSEHOLD_COLUMNS = { region: 'regionCode', bankAccount: 'bankAccountSealed' }

/** A household read of all columns and nothing related. */
const WHOLE: repo.Read<repo.Related> = { shape: 'whole', related: () => ({}) }

/** What the audit trail keeps of a household: the bank account masked, never in the clear. */
function householdAudit (row: repo.HouseholdRow, sealer: Deps['sealer']): Record<string, unknown> {
  const { bankAccountSealed, createdAt: _c, updatedAt: _u, ...rest } = row
  return { ...rest, bankAccount: bankAccountSealed === null ? null : maskBankAccount(sealer.open(bankAccountSealed)) }
}

const ACCOUNT = /^\d{12,30}$/
const HOUSEHOLD_NO = /^[0-9A-Za-z-]{1,30}$/

/** Validates the household's own fields; returns the column changes. */
function householdChanges (input: HouseholdPatch, fields: FieldError[], sealer: Deps['sealer']): repo.HouseholdChanges {
  const changes: repo.HouseholdChanges = {}
  for (const key of ['attribute', 'mainCause', 'otherCauses', 'housingSafe', 'drinkingWaterSafe', 'foodSecure', 'clothingSecure'] as const) {
    const v = input[key]
    if (v === null) fields.push({ path: `input.${key}`, message: 'cannot be null' })
    else if (v !== undefined) (changes as Record<string, unknown>)[key] = v
  }
  if (input.otherCauses != null && new Set(input.otherCauses).size !== input.otherCauses.length) fields.push({ path: 'input.otherCauses', message: 'lists a cause twice' })
  const text = (key: 'bankName', max: number): void => {
    const v = input[key]
    if (v === undefined) return
    const before = fields.length
    if (v !== null && v.trim().length > max) fields.push({ path: `input.${key}`, message: `must be at most ${max} characters` })
    else checkName(v, `input.${key}`, fields)
    if (fields.length === before) changes[key] = v === null || v.trim() === '' ? null : v.trim()
  }
  text('bankName', 50)
  if (input.phone !== undefined) {
    const before = fields.length
    checkPhone(input.phone, 'input.phone', fields)
    if (fields.length === before) changes.phone = input.phone === null ? null : input.phone.trim()
  }
  if (input.bankAccount !== undefined) {
    const v = input.bankAccount?.replace(/\s/g, '') ?? null
    if (v !== null && !ACCOUNT.test(v)) fields.push({ path: 'input.bankAccount', message: 'must be 12–30 digits' })
    else changes.bankAccountSealed = v === null ? null : sealer.seal(v)
  }
  for (const key of ['cultivatedLandMu', 'forestLandMu', 'returnedFarmlandMu'] as const) {
    const v = input[key]
    if (v === undefined) continue
    if (v !== null && (!Number.isFinite(v) || v < 0 || v > 100_000 || !hasDecimals(v, 2))) fields.push({ path: `input.${key}`, message: 'must be 0–100,000 mu with at most 2 decimals' })
    else changes[key] = v
  }
  return changes
}

interface Reading {
  read: repo.Read<repo.Related>
  nested: Array<{ field: string, args: Record<string, unknown>, view: (rows: unknown[][], p: Principal, sealer: Deps['sealer']) => unknown }>
}
/** Readings by selection: a client asks the same few shapes again and again. */
const readings = new Map<string, Reading>()
const MAX_READINGS = 256

/**
 * The household read of `selection`: the columns of the fields asked, and the nested
 * reads it brings along in its own statement — members, measures, incomes, under the
 * same area rule and order as read alone (see shared/prefetch.ts) — with how to view
 * their rows. Built once per selection.
 */
function readingOf (selection: Selection): Reading {
  const shape = JSON.stringify(selection)
  let reading = readings.get(shape)
  if (reading !== undefined) return reading
  const nested: Array<Reading['nested'][number] & { sql: (area: Principal | typeof AREA) => repo.Related[string] }> = []
  for (const [field, { args, fields }] of Object.entries(selection.nested)) {
    if (field === 'members') {
      const keys = columnsFor(fields, ['id', 'householdId'], { nationalId: 'nationalIdSealed', household: 'householdId' })
      nested.push({ field, args, sql: area => members.ofHousehold(area, args.includeRemoved === true, keys), view: (rows, p, sealer) => members.fromJsonRows(rows, keys).map(r => memberView(r, p, sealer)) })
    }
    if (field === 'measures') {
      const keys = columnsFor(fields, ['id', 'householdId'], { household: 'householdId', member: 'memberId' })
      nested.push({ field, args, sql: area => measures.ofHousehold(area, keys), view: rows => measures.fromJsonRows(rows, keys).map(measureView) })
    }
    if (field === 'helper') {
      // The current helper (帮扶责任人): the household is in area, so is the helper assigned to it.
      nested.push({ field, args, sql: () => currentHelperOfHousehold(), view: (rows, p) => helpersFromJsonRows(rows).map(r => helperView(r, p))[0] ?? null })
    }
    if (field === 'incomes') {
      const keys = columnsFor(fields, ['householdId', 'year'], {})
      nested.push({ field, args, sql: area => incomes.ofHousehold(area, keys), view: rows => incomes.fromJsonRows(rows, keys).map(incomeView) })
    }
  }
  const columns = columnsFor(selection.fields, ['id'], HOUSEHOLD_COLUMNS)
  reading = { read: { shape, columns, related: (area) => Object.fromEntries(nested.map(r => [r.field, r.sql(area)])) }, nested }
  if (readings.size >= MAX_READINGS) readings.clear()
  readings.set(shape, reading)
  return reading
}

export class HouseholdsService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  view (row: repo.HouseholdRow): HouseholdView {
    return householdView(row, this.principal, this.deps.sealer)
  }

  /** A household read of `selection` (see `readingOf`), and the view of a row so read, carrying the views of its nested reads. */
  private reading (selection: Selection): { read: repo.Read<repo.Related>, view: (row: repo.HouseholdRowWith<repo.Related>) => HouseholdView } {
    const { read, nested } = readingOf(selection)
    const p = this.principal
    const { sealer } = this.deps
    return {
      read,
      view: (row) => {
        const { members: _m, measures: _x, incomes: _i, ...household } = row
        const v = this.view(household as repo.HouseholdRow)
        for (const r of nested) attach(v, r.field, r.args, r.view(row[r.field]!, p, sealer))
        return v
      }
    }
  }

  /** Raw rows of a keyset page in `range`'s direction (for services that evaluate households in batches). */
  async rows (q: repo.HouseholdQuery, range: IdRange, limit: number): Promise<repo.HouseholdRow[]> {
    authorize(this.principal, 'record.read')
    return await repo.list(this.deps.db, this.principal, q, range, limit, WHOLE)
  }

  /** The household in area, locked for the rest of the transaction `tx`, or NOT_FOUND. */
  async lock (tx: Deps['db'], id: string): Promise<repo.HouseholdRow> {
    const row = await repo.lockForUpdate(tx, this.principal, id)
    if (row === null) throw notFound('Household')
    return row
  }

  /** The household in the caller's area, or NOT_FOUND (also for ids outside it). */
  async find (id: string): Promise<repo.HouseholdRow> {
    return await this.read(id, WHOLE)
  }

  /** The household's view of `selection` (all its columns when it names no fields), in one statement. */
  async get (id: string, selection: Selection): Promise<HouseholdView> {
    const reading = this.reading(selection)
    return reading.view(await this.read(id, reading.read))
  }

  private async read<R extends repo.Related> (id: string, read: repo.Read<R>): Promise<repo.HouseholdRowWith<R>> {
    authorize(this.principal, 'record.read')
    const row = isUuid(id) ? await repo.findById(this.deps.db, this.principal, id, read) : undefined
    if (row === undefined) throw notFound('Household')
    return row
  }

  async byIds (ids: readonly string[]): Promise<Array<HouseholdView | null>> {
    authorize(this.principal, 'record.read')
    const rows = await repo.findByIds(this.deps.db, this.principal, ids.filter(isUuid))
    const byId = new Map(rows.map(r => [r.id, r]))
    return ids.map(id => { const r = byId.get(id); return r === undefined ? null : this.view(r) })
  }

  /** A page of households of `selection`, in one statement (the total is counted only when asked). */
  async list (filter: HouseholdFilter | null | undefined, args: PageArgs, selection: Selection, paths: { region: string } & Partial<Record<keyof PageArgs, string>> = { region: 'filter.regionCode' }): Promise<Connection<HouseholdView>> {
    authorize(this.principal, 'record.read')
    const page = idPage(args, paths)
    const regionCode = regionFilter(this.principal, 'record.read', filter?.regionCode, paths.region)
    if (filter?.nameContains != null && filter.nameContains.length > 50) throw badInput([{ path: 'filter.nameContains', message: 'must be at most 50 characters' }])
    const q: repo.HouseholdQuery = { ...filter, regionCode }
    const reading = this.reading(selection)
    const rows = await repo.list(this.deps.db, this.principal, q, page, page.size + 1, reading.read)
    return connection(rows.map(reading.view), page, h => [h.id], async () => await repo.countMatching(this.deps.db, this.principal, q))
  }

  /**
   * Every household of a region in the caller's area (default: the whole area), in id
   * order, as batches read lazily by keyset: memory stays bounded by one batch whatever
   * the region's size. The export is audited as a read (who, which region, how many
   * households) before anything is read, so that no export goes unrecorded even if the
   * stream is cut. Not a snapshot: a household changed while the export runs shows its
   * state when its batch is read.
   */
  async export (regionCode: string | null | undefined, selection: Selection, path = 'region'): Promise<{ households: number, batches: AsyncGenerator<HouseholdView[]> }> {
    authorize(this.principal, 'record.read')
    const region = regionFilter(this.principal, 'record.read', regionCode, path)
    const { db } = this.deps
    const q: repo.HouseholdQuery = { regionCode: region }
    const total = await repo.countMatching(db, this.principal, q)
    await recordRead(this.deps.primary, this.principal, this.deps.clock(), {
      action: 'household.export',
      entity: 'Export',
      entityId: randomUUID(),
      regionCode: region,
      after: { region, households: total }
    })
    const principal = this.principal
    const reading = this.reading(selection)
    async function * batches (): AsyncGenerator<HouseholdView[]> {
      let after: string | null = null
      for (;;) {
        const rows: Array<repo.HouseholdRowWith<repo.Related>> = await repo.list(db, principal, q, forwardFrom(after), EXPORT_BATCH, reading.read)
        if (rows.length > 0) yield rows.map(reading.view)
        if (rows.length < EXPORT_BATCH) return
        after = rows.at(-1)!.id
      }
    }
    return { households: total, batches: batches() }
  }

  async create (input: HouseholdInput): Promise<HouseholdView> {
    authorize(this.principal, 'record.write')
    const fields: FieldError[] = []
    if (!isRegionCode(input.regionCode) || levelOf(input.regionCode) !== 'VILLAGE') {
      fields.push({ path: 'input.regionCode', message: 'must be a village (12-digit code)' })
    } else {
      if (!can(this.principal, 'record.write', input.regionCode)) throw forbidden('The village is outside your area')
      if (!(await regions.exists(this.deps.db, input.regionCode))) fields.push({ path: 'input.regionCode', message: 'is not a known village' })
    }
    const now = this.deps.clock()
    const thisYear = now.getUTCFullYear()
    if (!Number.isInteger(input.identificationYear) || input.identificationYear < 2014 || input.identificationYear > thisYear) {
      fields.push({ path: 'input.identificationYear', message: `must be a year from 2014 to ${thisYear}` })
    }
    if (input.householdNo != null && !HOUSEHOLD_NO.test(input.householdNo)) fields.push({ path: 'input.householdNo', message: 'must be 1–30 letters, digits or dashes' })
    const changes = householdChanges(input, fields, this.deps.sealer)
    const helpers = new HelpersService(this.deps, this.principal)
    const helper = helpers.checkHelperInput(input.helper, fields)
    if (input.members.length === 0 || input.members.length > 30) fields.push({ path: 'input.members', message: 'must list 1–30 members' })
    const heads = input.members.filter(m => m.relation === 'HEAD').length
    if (input.members.length > 0 && heads !== 1) fields.push({ path: 'input.members', message: `must have exactly one HEAD (has ${heads})` })
    const prepared = input.members.map((m, i) => prepareMember(m, `input.members.${i}`, fields, now, this.deps.sealer))
    const seen = new Map<string, number>()
    prepared.forEach((m, i) => {
      if (m === null) return
      if (seen.has(m.nationalIdHash)) fields.push({ path: `input.members.${i}.nationalId`, message: `repeats member ${seen.get(m.nationalIdHash)}` })
      seen.set(m.nationalIdHash, i)
    })
    if (fields.length > 0) throw badInput(fields)
    const rows = prepared.filter(m => m !== null)
    // What is registered already, in any area: named when in the caller's area, else one unnamed refusal (audited, limited).
    assertMayRegister(this.deps, this.principal)
    const taken: Taken[] = await activeMembersTaken(this.deps.db, rows, rows.map((_, i) => `input.members.${i}.nationalId`))
    const numberRegion = input.householdNo == null ? null : await repo.householdNoRegion(this.deps.db, input.householdNo)
    if (numberRegion !== null) taken.unshift({ path: 'input.householdNo', message: 'is already taken', regionCode: numberRegion, audit: { householdNo: input.householdNo } })
    await refuseTaken(this.deps, this.principal, input.regionCode, taken)

    try {
      return await this.deps.db.transaction(async (tx) => {
        const householdNo = input.householdNo ?? await repo.nextHouseholdNo(tx, input.regionCode)
        const household = await repo.insert(tx, {
          ...changes,
          regionCode: input.regionCode,
          householdNo,
          attribute: input.attribute,
          mainCause: input.mainCause,
          identificationYear: input.identificationYear,
          createdAt: now,
          updatedAt: now
        })
        const created = await members.insert(tx, rows.map(m => ({ ...m, householdId: household.id, regionCode: household.regionCode, createdAt: now, updatedAt: now })))
        if (helper != null) await helpers.applyHelperInput(tx, household, helper)
        await recordAudit(tx, this.principal, now, {
          action: 'household.create',
          entity: 'Household',
          entityId: household.id,
          regionCode: household.regionCode,
          after: { ...householdAudit(household, this.deps.sealer), members: created.map(memberAudit) }
        })
        return this.view(household)
      })
    } catch (err) {
      if (isActiveMemberConflict(err)) throw badInput([{ path: 'input.members', message: 'a member is already an active member of a household' }])
      if ((err as { cause?: { constraint?: string } }).cause?.constraint === 'households_household_no_key') throw conflict('The household number was taken meanwhile; try again')
      throw err
    }
  }

  async update (id: string, expectedVersion: number, input: HouseholdPatch): Promise<HouseholdView> {
    authorize(this.principal, 'record.write')
    const current = await this.find(id)
    authorize(this.principal, 'record.write', current.regionCode)
    if (current.status === 'CLOSED') throw conflict('The household is closed')
    const fields: FieldError[] = []
    const changes = householdChanges(input, fields, this.deps.sealer)
    const helpers = new HelpersService(this.deps, this.principal)
    const helper = helpers.checkHelperInput(input.helper, fields)
    if (fields.length > 0) throw badInput(fields)
    if (Object.keys(changes).length === 0 && helper === undefined) throw badInput([{ path: 'input', message: 'names no field to change' }])
    // A change of helper is a change of the household too: its version moves (the assignment is audited on its own).
    return await this.write(current, expectedVersion, changes, 'household.update',
      helper === undefined ? undefined : async (tx) => { await helpers.applyHelperInput(tx, current, helper) })
  }

  async close (id: string, reason: string): Promise<HouseholdView> {
    authorize(this.principal, 'record.write')
    const current = await this.find(id)
    authorize(this.principal, 'record.write', current.regionCode)
    if (current.status === 'CLOSED') throw conflict('The household is already closed')
    if (await repo.hasOpenExitReview(this.deps.db, id)) throw conflict('The household has an open exit review; it must be rejected before the household is closed')
    const now = this.deps.clock()
    return await this.write(current, current.version, { status: 'CLOSED', closeReason: reason, closedAt: now }, 'household.close',
      async (tx) => {
        await members.deactivateHousehold(tx, this.principal, id, now)
        await new HelpersService(this.deps, this.principal).applyHelperInput(tx, current, null)
      }, { reason })
  }

  /** One versioned write of the household's row with its audit entry, in one transaction. */
  private async write (current: repo.HouseholdRow, expectedVersion: number, changes: repo.HouseholdChanges, action: string, also?: (tx: Deps['db']) => Promise<void>, history?: StatusHistoryNote): Promise<HouseholdView> {
    return await this.deps.db.transaction(async (tx) => {
      await also?.(tx)
      return await this.writeIn(tx, current, expectedVersion, changes, action, history)
    })
  }

  /**
   * The versioned write inside the caller's transaction: the row, its audit entry and,
   * when the status changes, an entry of the household's status history.
   */
  async writeIn (tx: Deps['db'], current: repo.HouseholdRow, expectedVersion: number, changes: repo.HouseholdChanges, action: string, history: StatusHistoryNote = {}): Promise<HouseholdView> {
    const now = this.deps.clock()
    const row = await repo.update(tx, this.principal, current.id, expectedVersion, changes, now)
    if (row === null) throw conflict(`The household was changed since version ${expectedVersion}`)
    if (row.status !== current.status) {
      await repo.insertStatusChange(tx, {
        householdId: row.id,
        regionCode: row.regionCode,
        fromStatus: current.status,
        toStatus: row.status,
        year: history.year ?? null,
        reason: history.reason ?? null,
        reviewId: history.reviewId ?? null,
        at: now,
        actorSub: this.principal.sub,
        actorRole: this.principal.role
      })
    }
    await recordAudit(tx, this.principal, now, {
      action,
      entity: 'Household',
      entityId: row.id,
      regionCode: row.regionCode,
      before: householdAudit(current, this.deps.sealer),
      after: householdAudit(row, this.deps.sealer)
    })
    return this.view(row)
  }

  /** The status history of each household (exits, returns, closing), oldest first. */
  async statusHistories (householdIds: readonly string[]): Promise<repo.StatusChangeRow[][]> {
    authorize(this.principal, 'record.read')
    const rows = await repo.statusChangesByHouseholds(this.deps.db, this.principal, householdIds)
    return groupByHousehold(householdIds, rows, r => r)
  }
}
