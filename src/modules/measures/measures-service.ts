import type { Deps } from '../../shared/context.js'
import { groupByHousehold } from '../../shared/ids.js'
import { badInput, conflict, notFound, type FieldError } from '../../shared/errors.js'
import { isUuid } from '../../shared/ids.js'
import { validateMeasure, type MeasureFields } from '../../shared/measure-details.js'
import { authorize } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { checkName } from '../../shared/text.js'
import { recordAudit } from '../audit/audit-service.js'
import { HouseholdsService } from '../households/households-service.js'
import * as members from '../members/members-repository.js'
import { ProjectsService } from '../projects/projects-service.js'
import { measureView, type MeasureView } from '../record-views.js'
import * as repo from './measures-repository.js'

export interface MeasureInput extends MeasureFields {
  fundingSource?: string | null
  memberId?: string | null
  /** The project (项目库) the measure comes from: the household is linked to it as a beneficiary, the link naming this measure. */
  projectId?: string | null
}

export type MeasurePatch = Partial<Omit<MeasureInput, 'category' | 'memberId' | 'projectId'>>
function checkFundingSource (v: string | null | undefined): void {
  if (v != null && v.length > 100) throw badInput([{ path: 'input.fundingSource', message: 'must be at most 100 characters' }])
  const fields: FieldError[] = []
  checkName(v, 'input.fundingSource', fields)
  if (fields.length > 0) throw badInput(fields)
}

export class MeasuresService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  async byHouseholds (householdIds: readonly string[]): Promise<MeasureView[][]> {
    authorize(this.principal, 'record.read')
    const rows = await repo.byHouseholds(this.deps.db, this.principal, householdIds)
    return groupByHousehold(householdIds, rows, measureView)
  }

  async byIds (ids: readonly string[]): Promise<MeasureView[]> {
    authorize(this.principal, 'record.read')
    return (await repo.findByIds(this.deps.db, this.principal, ids.filter(isUuid))).map(measureView)
  }

  async add (householdId: string, input: MeasureInput): Promise<MeasureView> {
    authorize(this.principal, 'record.write')
    const household = await new HouseholdsService(this.deps, this.principal).find(householdId)
    authorize(this.principal, 'record.write', household.regionCode)
    if (household.status === 'CLOSED') throw conflict('The household is closed')
    const check = validateMeasure(input, 'input')
    if (input.memberId != null) {
      const [member] = isUuid(input.memberId) ? await members.findByIds(this.deps.db, this.principal, [input.memberId]) : []
      if (member?.householdId !== household.id) check.fields.push({ path: 'input.memberId', message: 'is not a member of this household' })
    }
    if (check.fields.length > 0) throw badInput(check.fields)
    checkFundingSource(input.fundingSource)
    const projects = new ProjectsService(this.deps, this.principal)
    const project = input.projectId == null ? null : await projects.findOpen(input.projectId, 'input.projectId')
    if (project !== null && !household.regionCode.startsWith(project.regionCode)) throw badInput([{ path: 'input.projectId', message: "the household is outside the project's area" }])
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const row = await repo.insert(tx, {
        projectId: project?.id ?? null,
        householdId: household.id,
        memberId: input.memberId ?? null,
        regionCode: household.regionCode,
        category: input.category,
        kind: input.kind,
        status: input.status ?? 'ACTIVE',
        startDate: input.startDate,
        endDate: input.endDate ?? null,
        amount: check.amount,
        fundingSource: input.fundingSource?.trim() || null,
        details: check.details,
        createdAt: now,
        updatedAt: now
      })
      await recordAudit(tx, this.principal, now, { action: 'measure.add', entity: 'Measure', entityId: row.id, regionCode: row.regionCode, after: measureView(row) })
      if (project !== null) await projects.linkIn(tx, project, [{ householdId: household.id, measureId: row.id }], now)
      return measureView(row)
    })
  }

  async update (id: string, patch: MeasurePatch, expectedVersion: number | null): Promise<MeasureView> {
    authorize(this.principal, 'record.write')
    const [current] = isUuid(id) ? await repo.findByIds(this.deps.db, this.principal, [id]) : []
    if (current === undefined) throw notFound('Measure')
    authorize(this.principal, 'record.write', current.regionCode)
    for (const key of ['kind', 'status', 'startDate'] as const) {
      if (patch[key] === null) throw badInput([{ path: `input.${key}`, message: 'cannot be null' }])
    }
    // The whole measure is validated as it will be, since its rules depend on each other.
    const merged = {
      category: current.category,
      kind: patch.kind ?? current.kind,
      status: patch.status ?? current.status,
      startDate: patch.startDate ?? current.startDate,
      endDate: patch.endDate === undefined ? current.endDate : patch.endDate,
      amount: patch.amount === undefined ? (patch.details === undefined ? current.amount : null) : patch.amount,
      details: patch.details === undefined ? current.details : patch.details
    }
    const check = validateMeasure(merged, 'input')
    if (check.fields.length > 0) throw badInput(check.fields)
    checkFundingSource(patch.fundingSource)
    const changes: repo.MeasureChanges = {
      kind: merged.kind,
      status: merged.status,
      startDate: merged.startDate,
      endDate: merged.endDate ?? null,
      amount: check.amount,
      details: check.details,
      ...(patch.fundingSource !== undefined ? { fundingSource: patch.fundingSource?.trim() || null } : {})
    }
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const row = await repo.update(tx, this.principal, id, expectedVersion ?? current.version, changes, now)
      if (row === null) throw conflict(`The measure was changed since version ${expectedVersion ?? current.version}`)
      await recordAudit(tx, this.principal, now, { action: 'measure.update', entity: 'Measure', entityId: id, regionCode: row.regionCode, before: measureView(current), after: measureView(row) })
      return measureView(row)
    })
  }
}
