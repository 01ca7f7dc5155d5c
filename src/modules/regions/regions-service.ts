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
  exitYear?: number | null
}

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

  /** Poverty flags, rural population and exit year (ADMIN at city level or above, region in area). */
  async update (code: string, expectedVersion: number, input: RegionPatchInput): Promise<Region> {
    authorize(this.principal, 'reference.edit')
    const current = await this.get(code)
    authorize(this.principal, 'reference.edit', current.code)
    const patch = validatePatch(input, current)
    return await this.deps.db.transaction(async (tx) => {
      const now = this.deps.clock()
      const updated = await repo.updateVersioned(tx, code, expectedVersion, patch, now)
      if (updated === null) throw conflict(`Region ${code} was changed since version ${expectedVersion}`)
      await recordAudit(tx, this.principal, now, {
        action: 'region.update',
        entity: 'Region',
        entityId: code,
        regionCode: code,
        before: pick(current, Object.keys(patch)),
        after: pick(updated, Object.keys(patch))
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
  if (input.exitYear !== undefined) {
    const v = input.exitYear
    if (v !== null && (!Number.isInteger(v) || v < 2014 || v > 2050)) fields.push({ path: 'input.exitYear', message: 'must be a year from 2014 to 2050' })
    else patch.exitYear = v
  }
  const isPoor = patch.isPoor ?? current.isPoor
  const isDeep = patch.isDeepPoverty ?? current.isDeepPoverty
  if (isDeep && !isPoor) fields.push({ path: 'input.isDeepPoverty', message: 'a deep-poverty region must also be poor' })
  if (fields.length > 0) throw badInput(fields)
  if (Object.keys(patch).length === 0) throw badInput([{ path: 'input', message: 'names no field to change' }])
  return patch
}
