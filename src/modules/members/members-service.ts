import { randomUUID } from 'node:crypto'
import type { DbOrTx } from '../../db/index.js'
import type { Deps } from '../../shared/context.js'
import { groupByHousehold } from '../../shared/ids.js'
import { isIsoDate, isoDay } from '../../shared/dates.js'
import { badInput, conflict, forbidden, notFound, type FieldError } from '../../shared/errors.js'
import { isUuid } from '../../shared/ids.js'
import { maskBirthDate, maskNationalId } from '../../shared/masking.js'
import { parseNationalId } from '../../shared/national-id.js'
import { authorize, isMasked } from '../../shared/policy.js'
import { checkName } from '../../shared/text.js'
import type { Principal } from '../../shared/principal.js'
import { inAreaOf } from '../../shared/region-code.js'
import type { Sealer } from '../../shared/sealing.js'
import { recordAudit } from '../audit/audit-service.js'
import * as households from '../households/households-repository.js'
import * as repo from './members-repository.js'

export interface MemberInput {
  nationalId: string
  name: string
  sex?: string | null
  relation: string
  ethnicity?: string | null
  education?: string | null
  healthConditions?: string[] | null
  disabilityGrade?: number | null
  laborCapacity: string
  schooling?: string | null
  wantsWork?: boolean | null
  employment?: string | null
  employmentMonths?: number | null
  monthlyIncome?: number | null
  medicalInsurance?: boolean | null
  seriousIllnessInsurance?: boolean | null
  pensionInsurance?: boolean | null
  dibao?: boolean | null
  extremeSupport?: boolean | null
}

export type MemberPatch = Partial<Omit<MemberInput, 'nationalId' | 'sex'>> & { deceasedAt?: string | null }

export interface MemberView extends Omit<repo.MemberRow, 'nationalIdSealed' | 'nationalIdHash'> {
  nationalId: string
}

/**
 * The member as a caller may see it: the national ID opened, and masked for VIEWER. A
 * row read without the sealed column (a page that does not ask for the ID) opens
 * nothing. The view is the row's own copy with the ID assigned. An object literal that
 * spreads the row is several times slower to build, and with an accessor beside it (a
 * lazy ID) V8 makes most such objects slow-mode dictionaries, which every field read of
 * a page then pays (docs/benchmarks.md, fourth round).
 */
export function memberView (row: repo.MemberRow, p: Principal, sealer: Sealer): MemberView {
  const { nationalIdSealed, nationalIdHash: _hash, ...rest } = row
  const view = rest as MemberView
  const masked = isMasked(p)
  if (nationalIdSealed !== undefined) {
    const id = sealer.open(nationalIdSealed)
    view.nationalId = masked ? maskNationalId(id) : id
  }
  // The masked ID hides exactly the birth date: VIEWER sees its year only (contract §3).
  if (masked && typeof rest.birthDate === 'string') view.birthDate = maskBirthDate(rest.birthDate)
  return view
}

/**
 * What the audit trail keeps of a member: the national ID's keyed hash (HMAC under
 * DATA_KEY), never the ID nor any part of it. A masked ID beside the birth date would be
 * the whole ID to anyone who reads the table without the key.
 */
export function memberAudit (row: repo.MemberRow): Record<string, unknown> {
  const { nationalIdSealed: _sealed, createdAt: _c, updatedAt: _u, ...rest } = row
  return rest
}

const trimmed = (v: string | null | undefined): string | null | undefined => (typeof v === 'string' ? v.trim() : v)

/** Field rules shared by new members and patches. */
function checkAttributes (m: MemberPatch, path: string, fields: FieldError[], today: string, birthDate: string | null): void {
  if (m.name !== undefined && (m.name === null || m.name.trim() === '' || m.name.length > 50)) fields.push({ path: `${path}.name`, message: 'must be 1–50 characters' })
  else checkName(m.name, `${path}.name`, fields)
  for (const key of ['ethnicity', 'education'] as const) {
    const v = m[key]
    if (typeof v === 'string' && v.length > 30) fields.push({ path: `${path}.${key}`, message: 'must be at most 30 characters' })
    else checkName(v, `${path}.${key}`, fields)
  }
  const conditions = m.healthConditions ?? []
  if (new Set(conditions).size !== conditions.length) fields.push({ path: `${path}.healthConditions`, message: 'lists a condition twice' })
  if (m.disabilityGrade != null) {
    if (!Number.isInteger(m.disabilityGrade) || m.disabilityGrade < 1 || m.disabilityGrade > 4) fields.push({ path: `${path}.disabilityGrade`, message: 'must be 1, 2, 3 or 4' })
    else if (m.healthConditions !== undefined && !conditions.includes('DISABLED')) fields.push({ path: `${path}.disabilityGrade`, message: 'is only for a member with DISABLED among healthConditions' })
  }
  if (m.employmentMonths != null && (!Number.isInteger(m.employmentMonths) || m.employmentMonths < 0 || m.employmentMonths > 12)) fields.push({ path: `${path}.employmentMonths`, message: 'must be 0–12 months' })
  if (m.monthlyIncome != null && (!Number.isFinite(m.monthlyIncome) || m.monthlyIncome < 0 || m.monthlyIncome > 1_000_000)) fields.push({ path: `${path}.monthlyIncome`, message: 'must be 0 or more yuan' })
  if (m.deceasedAt != null) {
    if (!isIsoDate(m.deceasedAt)) fields.push({ path: `${path}.deceasedAt`, message: 'must be a real date YYYY-MM-DD' })
    else if (m.deceasedAt > today) fields.push({ path: `${path}.deceasedAt`, message: 'is in the future' })
    else if (birthDate !== null && m.deceasedAt < birthDate) fields.push({ path: `${path}.deceasedAt`, message: 'is before the birth date' })
  }
  for (const key of ['wantsWork', 'medicalInsurance', 'seriousIllnessInsurance', 'pensionInsurance', 'dibao', 'extremeSupport', 'relation', 'laborCapacity', 'schooling', 'employment', 'healthConditions'] as const) {
    if (m[key] === null) fields.push({ path: `${path}.${key}`, message: 'cannot be null' })
  }
}

/**
 * Validates a new member (national ID per GB 11643, sex as the ID says, attribute
 * rules) and returns the row to insert, or pushes every problem to `fields`.
 */
export function prepareMember (input: MemberInput, path: string, fields: FieldError[], now: Date, sealer: Sealer): (Omit<repo.MemberInsert, 'householdId' | 'regionCode'>) | null {
  const before = fields.length
  const id = parseNationalId(input.nationalId, now)
  if (!id.ok) fields.push({ path: `${path}.nationalId`, message: id.message })
  else if (input.sex != null && input.sex !== id.sex) fields.push({ path: `${path}.sex`, message: 'differs from the sex the national ID states' })
  checkAttributes(input, path, fields, isoDay(now), id.ok ? id.birthDate : null)
  if (fields.length > before || !id.ok) return null
  return {
    nationalIdSealed: sealer.seal(id.value),
    nationalIdHash: sealer.lookupHash(id.value),
    name: input.name.trim(),
    sex: id.sex,
    birthDate: id.birthDate,
    relation: input.relation,
    ethnicity: trimmed(input.ethnicity) ?? null,
    education: trimmed(input.education) ?? null,
    healthConditions: input.healthConditions ?? [],
    disabilityGrade: input.disabilityGrade ?? null,
    laborCapacity: input.laborCapacity,
    schooling: input.schooling ?? 'NOT_IN_SCHOOL',
    wantsWork: input.wantsWork ?? false,
    employment: input.employment ?? 'UNEMPLOYED',
    employmentMonths: input.employmentMonths ?? null,
    monthlyIncome: input.monthlyIncome ?? null,
    medicalInsurance: input.medicalInsurance ?? false,
    seriousIllnessInsurance: input.seriousIllnessInsurance ?? false,
    pensionInsurance: input.pensionInsurance ?? false,
    dibao: input.dibao ?? false,
    extremeSupport: input.extremeSupport ?? false
  }
}

/**
 * Something a registration submits that is already registered (an active member's
 * national ID, a household number): `path` names the field, `regionCode` is where the
 * record is, `audit` is what the audit trail may keep of it (never the ID itself).
 */
export interface Taken { path: string, message: string, regionCode: string, audit: Record<string, unknown> }

/** The national IDs of `rows` already active in some household (in any area), as Taken. */
export async function activeMembersTaken (db: Deps['db'], rows: Array<{ nationalIdHash: string }>, paths: string[]): Promise<Taken[]> {
  const taken = await repo.activeHashesTaken(db, rows.map(r => r.nationalIdHash))
  return rows.flatMap((r, i) => {
    const regionCode = taken.get(r.nationalIdHash)
    return regionCode === undefined ? [] : [{ path: paths[i]!, message: 'is already an active member of a household', regionCode, audit: { nationalIdHash: r.nationalIdHash } }]
  })
}

/**
 * The registration oracle's limit: a user who has had `registrationRefusalsPerDay`
 * registrations refused today for records outside their area may not register again
 * until the next (UTC) day, so that nobody can probe the whole registry through the
 * one-household rule. FORBIDDEN, with an alert in the log.
 */
export function assertMayRegister (deps: Deps, p: Principal): void {
  const limit = deps.config.registrationRefusalsPerDay
  const refusals = deps.registrationRefusals.count(p.sub, deps.clock())
  if (refusals < limit) return
  deps.log.error({ alert: 'registration-probing', sub: p.sub, role: p.role, region: p.regionCode, refusals, limit },
    'ALERT: registration refused: the user is over the daily limit of registrations refused for records outside their area (probing the registry?)')
  throw forbidden(`Too many registrations refused today (limit ${limit}); registering is blocked for this user until tomorrow (UTC)`)
}

/**
 * Refuses a registration that submits records already registered (`taken`; nothing when
 * empty). Records in the caller's area are named, field by field (BAD_USER_INPUT): the
 * caller may read them anyway. A record outside the area must not be told apart: the
 * answer is one CONFLICT that names no field, no ID and no place. Such a refusal is
 * audited in a transaction of its own (who, when, the keyed hash of each ID or the
 * household number; `regionCode` is the caller's target, never where the record is) and
 * counted against the user's daily limit (see `assertMayRegister`); reaching the limit
 * logs an alert.
 */
export async function refuseTaken (deps: Deps, p: Principal, regionCode: string, taken: Taken[]): Promise<void> {
  const outside = taken.filter(x => !inAreaOf(p.regionCode, x.regionCode))
  if (outside.length === 0) {
    if (taken.length > 0) throw badInput(taken.map(({ path, message }) => ({ path, message })))
    return
  }
  const now = deps.clock()
  await deps.db.transaction(async (tx) => {
    await recordAudit(tx, p, now, { action: 'registration.refuse', entity: 'Registration', entityId: randomUUID(), regionCode, after: { refused: outside.map(x => x.audit) } })
  })
  const refusals = deps.registrationRefusals.add(p.sub, now)
  const limit = deps.config.registrationRefusalsPerDay
  if (refusals >= limit) {
    deps.log.error({ alert: 'registration-probing', sub: p.sub, role: p.role, region: p.regionCode, refusals, limit },
      'ALERT: the user reached the daily limit of registrations refused for records outside their area (probing the registry?); registering is blocked until tomorrow (UTC)')
  } else {
    deps.log.warn({ sub: p.sub, refusals, limit }, 'registration refused: a record submitted is registered outside the user\'s area')
  }
  throw conflict('The registration conflicts with a record registered outside your area; ask the county office to resolve it')
}

/** The one-household rule enforced by the database under concurrency (unique partial index). */
export function isActiveMemberConflict (err: unknown): boolean {
  const e = err as { code?: string, constraint?: string, cause?: { code?: string, constraint?: string } }
  const c = e.cause ?? e
  return c.code === '23505' && c.constraint === 'members_active_national_id_key'
}

export class MembersService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  private view (row: repo.MemberRow): MemberView {
    return memberView(row, this.principal, this.deps.sealer)
  }

  private async find (id: string): Promise<repo.MemberRow> {
    authorize(this.principal, 'record.read')
    const row = isUuid(id) ? await repo.findById(this.deps.db, this.principal, id) : null
    if (row === null) throw notFound('Member')
    return row
  }

  async get (id: string): Promise<MemberView> {
    return this.view(await this.find(id))
  }

  async byIds (ids: readonly string[]): Promise<Array<MemberView | null>> {
    authorize(this.principal, 'record.read')
    const rows = await repo.findByIds(this.deps.db, this.principal, ids.filter(isUuid))
    const byId = new Map(rows.map(r => [r.id, r]))
    return ids.map(id => { const r = byId.get(id); return r === undefined ? null : this.view(r) })
  }

  async byHouseholds (householdIds: readonly string[], includeRemoved: boolean): Promise<MemberView[][]> {
    authorize(this.principal, 'record.read')
    const rows = await repo.byHouseholds(this.deps.db, this.principal, householdIds, includeRemoved)
    return groupByHousehold(householdIds, rows, r => this.view(r))
  }

  async byNationalId (nationalId: string): Promise<MemberView> {
    authorize(this.principal, 'record.read')
    const id = parseNationalId(nationalId, this.deps.clock())
    if (!id.ok) throw badInput([{ path: 'nationalId', message: id.message }])
    const row = await repo.findActiveByHash(this.deps.db, this.principal, this.deps.sealer.lookupHash(id.value))
    if (row === null) throw notFound('Member')
    return this.view(row)
  }

  async add (householdId: string, input: MemberInput): Promise<MemberView> {
    authorize(this.principal, 'record.write')
    const [household] = isUuid(householdId) ? await households.findByIds(this.deps.db, this.principal, [householdId]) : []
    if (household === undefined) throw notFound('Household')
    authorize(this.principal, 'record.write', household.regionCode)
    if (household.status === 'CLOSED') throw conflict('The household is closed')
    const now = this.deps.clock()
    const fields: FieldError[] = []
    const prepared = prepareMember(input, 'input', fields, now, this.deps.sealer)
    if (prepared === null) throw badInput(fields)
    if (input.relation === 'HEAD') {
      const current = await repo.byHouseholds(this.deps.db, this.principal, [householdId], false)
      if (current.some(m => m.relation === 'HEAD')) throw badInput([{ path: 'input.relation', message: 'the household already has a head' }])
    }
    assertMayRegister(this.deps, this.principal)
    await refuseTaken(this.deps, this.principal, household.regionCode, await activeMembersTaken(this.deps.db, [prepared], ['input.nationalId']))
    try {
      return await this.deps.db.transaction(async (tx) => {
        const [row] = await repo.insert(tx, [{ ...prepared, householdId, regionCode: household.regionCode }])
        await recordAudit(tx, this.principal, now, { action: 'member.add', entity: 'Member', entityId: row!.id, regionCode: row!.regionCode, after: memberAudit(row!) })
        return this.view(row!)
      })
    } catch (err) {
      if (isActiveMemberConflict(err)) throw badInput([{ path: 'input.nationalId', message: 'is already an active member of a household' }])
      throw err
    }
  }

  async update (id: string, patch: MemberPatch, expectedVersion: number | null): Promise<MemberView> {
    authorize(this.principal, 'record.write')
    // The write applies to the version read, so that its audit entry's before and after
    // are exact: one statement, no lock. A write without an expected version that lost
    // that race (to a clerk, or an import batch) is done again under the member's row
    // lock, where it cannot lose.
    const row = await this.patch(this.deps.db, await this.find(id), patch, expectedVersion)
    if (row !== null) return this.view(row)
    if (expectedVersion !== null) throw this.stale(expectedVersion)
    return this.view(await this.deps.db.transaction(async (tx) => {
      const current = await repo.findLocked(tx, this.principal, id)
      if (current === null) throw notFound('Member')
      return (await this.patch(tx, current, patch, null))!
    }))
  }

  private stale (expectedVersion: number): Error {
    return conflict(`The member was changed since version ${expectedVersion}`)
  }

  /** Checks `patch` against the member as read and writes it at that version; null when the member changed meanwhile. */
  private async patch (db: DbOrTx, current: repo.MemberRow, patch: MemberPatch, expectedVersion: number | null): Promise<repo.MemberRow | null> {
    authorize(this.principal, 'record.write', current.regionCode)
    if (!current.active) throw conflict('The member was removed from the household')
    const now = this.deps.clock()
    const fields: FieldError[] = []
    checkAttributes({ healthConditions: patch.disabilityGrade != null ? (patch.healthConditions ?? current.healthConditions) : patch.healthConditions, ...patch }, 'input', fields, isoDay(now), current.birthDate)
    const conditions = patch.healthConditions ?? current.healthConditions
    if (patch.healthConditions !== undefined && !conditions.includes('DISABLED') && (patch.disabilityGrade ?? current.disabilityGrade) != null && patch.disabilityGrade !== null) {
      fields.push({ path: 'input.disabilityGrade', message: 'must be cleared (null) when DISABLED is no longer among healthConditions' })
    }
    if (patch.relation === 'HEAD' && current.relation !== 'HEAD') {
      const others = await repo.byHouseholds(db, this.principal, [current.householdId], false)
      if (others.some(m => m.relation === 'HEAD')) fields.push({ path: 'input.relation', message: 'the household already has a head' })
    }
    if (fields.length > 0) throw badInput(fields)
    const changes: repo.MemberChanges = Object.fromEntries(
      Object.entries({ ...patch, name: trimmed(patch.name), ethnicity: trimmed(patch.ethnicity), education: trimmed(patch.education) })
        .filter(([, v]) => v !== undefined)
    )
    if (Object.keys(changes).length === 0) throw badInput([{ path: 'input', message: 'names no field to change' }])
    if (expectedVersion !== null && expectedVersion !== current.version) throw this.stale(expectedVersion)
    return await this.write(db, current, changes, now, 'member.update')
  }

  /** Writes `changes` to the member at the version read, with its audit entry (one statement); null when it changed meanwhile. */
  private async write (db: DbOrTx, current: repo.MemberRow, changes: repo.MemberChanges, now: Date, action: string): Promise<repo.MemberRow | null> {
    const after = memberAudit({ ...current, ...changes, version: current.version + 1 })
    return await repo.updateAudited(db, this.principal, current.id, current.version, changes, now, { actor: this.principal, action, before: memberAudit(current), after })
  }

  async remove (id: string, reason: string): Promise<MemberView> {
    authorize(this.principal, 'record.write')
    const current = await this.find(id)
    authorize(this.principal, 'record.write', current.regionCode)
    if (!current.active) throw conflict('The member was already removed')
    if (current.relation === 'HEAD') {
      const others = await repo.byHouseholds(this.deps.db, this.principal, [current.householdId], false)
      if (others.some(m => m.id !== id)) throw badInput([{ path: 'id', message: 'is the head of the household: make another member head first' }])
    }
    const now = this.deps.clock()
    const row = await this.write(this.deps.db, current, { active: false, removedAt: now, removalReason: reason }, now, 'member.remove')
    if (row === null) throw conflict('The member was changed meanwhile')
    return this.view(row)
  }
}
