import type { Deps } from '../../shared/context.js'
import { badInput, conflict, notFound, type FieldError } from '../../shared/errors.js'
import { authorize } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { isRegionCode } from '../../shared/region-code.js'
import { recordAudit } from '../audit/audit-service.js'
import * as repo from './regions-repository.js'

export type Region = repo.RegionRow

export interface RegionPatchInput {
  isPoor?: boolean | null
  isDeepPoverty?: boolean | null
  ruralPopulation?: number | null
}

/** Years a poverty line may be set for. */
export const POVERTY_LINE_YEARS = { min: 2010, max: 2035 } as const

/** Positive cache of existing codes: token checks need it on every request. */
export function createRegionDirectory (db: Deps['db']): { exists: (code: string) => Promise<boolean> } {
  const known = new Set<string>()
  return {
    async exists (code) {
      if (known.has(code)) return true
      if (!isRegionCode(code) || !(await repo.exists(db, code))) return false
      known.add(code)
      return true
    }
  }
}

export class RegionsService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  async get (code: string, path = 'code'): Promise<Region> {
    authorize(this.principal, 'reference.read')
    if (!isRegionCode(code)) throw badInput([{ path, message: 'must be a 2, 4, 6, 9 or 12-digit administrative code' }])
    const [row] = await repo.findByCodes(this.deps.db, [code])
    if (row === undefined) throw notFound('Region')
    return row
  }

  /** Batched for loaders: the regions of `codes`, in the same order (null where unknown). */
  async byCodes (codes: readonly string[]): Promise<Array<Region | null>> {
    const rows = await repo.findByCodes(this.deps.db, [...new Set(codes)])
    const byCode = new Map(rows.map(r => [r.code, r]))
    return codes.map(c => byCode.get(c) ?? null)
  }

  /** Batched for loaders: the children of each code, in the same order. */
  async childrenOf (codes: readonly string[]): Promise<Region[][]> {
    const rows = await repo.childrenOf(this.deps.db, [...new Set(codes)])
    return codes.map(c => rows.filter(r => r.parentCode === c))
  }

  async povertyLines (): Promise<Array<{ year: number, amount: number }>> {
    authorize(this.principal, 'reference.read')
    return await repo.listPovertyLines(this.deps.db)
  }

  /**
   * Poverty flags and rural population (ADMIN at city level or above, region in area).
   * The exit year is not edited here: it is recorded by the exit of a village or county,
   * which checks the poverty incidence first.
   */
  async update (code: string, expectedVersion: number, input: RegionPatchInput): Promise<Region> {
    authorize(this.principal, 'reference.edit')
    const current = await this.get(code)
    authorize(this.principal, 'reference.edit', current.code)
    return await this.write(current, expectedVersion, validatePatch(input, current), 'region.update')
  }

  /** Records a region's exit (the caller has authorised it and checked the incidence), audited with its evidence. */
  async recordExit (current: Region, year: number, evidence: Record<string, unknown>): Promise<Region> {
    return await this.write(current, current.version, { exitYear: year }, 'region.exit', evidence)
  }

  /** Sets the poverty line of a year (ADMIN at city level or above), audited. */
  async setPovertyLine (year: number, amount: number): Promise<{ year: number, amount: number }> {
    authorize(this.principal, 'reference.edit')
    const fields: FieldError[] = []
    if (!Number.isInteger(year) || year < POVERTY_LINE_YEARS.min || year > POVERTY_LINE_YEARS.max) fields.push({ path: 'year', message: `must be a year from ${POVERTY_LINE_YEARS.min} to ${POVERTY_LINE_YEARS.max}` })
    if (!Number.isInteger(amount) || amount < 1 || amount > 100_000) fields.push({ path: 'amount', message: 'must be whole yuan per person per year, 1–100,000' })
    if (fields.length > 0) throw badInput(fields)
    return await this.deps.db.transaction(async (tx) => {
      const previous = await repo.upsertPovertyLine(tx, year, amount)
      await recordAudit(tx, this.principal, this.deps.clock(), {
        action: 'povertyLine.set',
        entity: 'PovertyLine',
        entityId: String(year),
        // National reference data: filed under the region of the user who set it.
        regionCode: this.principal.regionCode,
        before: previous === null ? null : { year, amount: previous },
        after: { year, amount }
      })
      return { year, amount }
    })
  }

  /** The poverty line of a year, or null (read inside `db`, which may be a transaction). */
  async povertyLine (year: number, db: Deps['db'] = this.deps.db): Promise<number | null> {
    return await repo.povertyLine(db, year)
  }

  private async write (current: Region, expectedVersion: number, patch: repo.RegionPatch, action: string, evidence?: Record<string, unknown>): Promise<Region> {
    return await this.deps.db.transaction(async (tx) => {
      const now = this.deps.clock()
      const updated = await repo.updateVersioned(tx, current.code, expectedVersion, patch, now)
      if (updated === null) throw conflict(`Region ${current.code} was changed since version ${expectedVersion}`)
      await recordAudit(tx, this.principal, now, {
        action,
        entity: 'Region',
        entityId: current.code,
        regionCode: current.code,
        before: pick(current, Object.keys(patch)),
        after: { ...pick(updated, Object.keys(patch)), ...evidence }
      })
      return updated
    })
  }
}

function pick (row: Region, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map(k => [k, row[k as keyof Region]]))
}

function validatePatch (input: RegionPatchInput, current: Region): repo.RegionPatch {
  const fields: FieldError[] = []
  const patch: repo.RegionPatch = {}
  for (const key of ['isPoor', 'isDeepPoverty'] as const) {
    const v = input[key]
    if (v === null) fields.push({ path: `input.${key}`, message: 'cannot be null' })
    else if (v !== undefined) patch[key] = v
  }
  if (input.ruralPopulation !== undefined) {
    const v = input.ruralPopulation
    if (v !== null && (!Number.isInteger(v) || v < 0 || v > 100_000_000)) fields.push({ path: 'input.ruralPopulation', message: 'must be a whole number of persons, 0 or more' })
    else patch.ruralPopulation = v
  }
  const isPoor = patch.isPoor ?? current.isPoor
  const isDeep = patch.isDeepPoverty ?? current.isDeepPoverty
  if (isDeep && !isPoor) fields.push({ path: 'input.isDeepPoverty', message: 'a deep-poverty region must also be poor' })
  if (fields.length > 0) throw badInput(fields)
  if (Object.keys(patch).length === 0) throw badInput([{ path: 'input', message: 'names no field to change' }])
  return patch
}
