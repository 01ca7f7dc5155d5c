import { randomUUID } from 'node:crypto'
import type { Deps } from '../../shared/context.js'
import { badInput, type FieldError } from '../../shared/errors.js'
import { parseNationalId } from '../../shared/national-id.js'
import { authorize } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { recordRead } from '../audit/audit-service.js'
import * as repo from './eligibility-repository.js'

export const ELIGIBILITY_MAX_IDS = 1000

export interface EligibilityResult {
  nationalId: string
  registered: boolean
  householdStatus: string | null
  attribute: string | null
}

/**
 * The eligibility check of contract §8 (health and civil-affairs systems, ADMIN): for
 * each national ID asked, whether the person is registered — a living, active member of
 * a household that is not CLOSED, in the caller's area — and then only the household's
 * status and attribute. Nothing else about the person is disclosed. Each call is
 * audited as a read: who asked, about how many persons, how many were registered; the
 * IDs themselves are never stored.
 */
export class EligibilityService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  async check (nationalIds: readonly string[], path = 'nationalIds'): Promise<EligibilityResult[]> {
    authorize(this.principal, 'eligibility.check')
    if (nationalIds.length < 1 || nationalIds.length > ELIGIBILITY_MAX_IDS) throw badInput([{ path, message: `must list 1–${ELIGIBILITY_MAX_IDS} national IDs` }])
    const now = this.deps.clock()
    const fields: FieldError[] = []
    const hashes = nationalIds.map((raw, i) => {
      const id = parseNationalId(raw, now)
      if (!id.ok) { fields.push({ path: `${path}.${i}`, message: id.message }); return '' }
      return this.deps.sealer.lookupHash(id.value)
    })
    if (fields.length > 0) throw badInput(fields)
    const rows = await repo.registrationsByHash(this.deps.db, this.principal, [...new Set(hashes)])
    const byHash = new Map(rows.map(r => [r.hash, r]))
    let registered = 0
    const results = nationalIds.map((nationalId, i): EligibilityResult => {
      const r = byHash.get(hashes[i]!)
      if (r === undefined) return { nationalId, registered: false, householdStatus: null, attribute: null }
      registered++
      return { nationalId, registered: true, householdStatus: r.status, attribute: r.attribute }
    })
    await recordRead(this.deps.primary, this.principal, now, {
      action: 'eligibility.check',
      entity: 'EligibilityCheck',
      entityId: randomUUID(),
      regionCode: this.principal.regionCode,
      after: { dept: this.principal.dept, asked: nationalIds.length, registered }
    })
    return results
  }
}
