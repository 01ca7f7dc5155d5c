/**
 * Projects with funds for the disclosure and finance-import tests, written through the
 * projects module's repository and its payment rule (`applyPayment`), as an ADMIN of the
 * province would: allocations by source, beneficiary households, payments.
 */
import { randomUUID } from 'node:crypto'
import * as projects from '../src/modules/projects/projects-repository.js'
import { applyPayment } from '../src/modules/projects/payments.js'
import type { Principal } from '../src/shared/principal.js'
import type { TestApp } from './helper.js'

export interface ProjectSeed {
  regionCode: string
  name: string
  code?: string
  category?: string
  status?: string
  budget?: number
  plannedStart?: string
  allocations?: Array<{ source: string, amount: number, date: string, documentNo?: string }>
  /** Beneficiary households (id and village). */
  households?: Array<{ id: string, regionCode: string }>
  payments?: Array<{ householdId: string, memberId?: string, amount: number, date: string, account?: string, reference?: string }>
}

export const PROVINCE_ADMIN: Principal = { sub: 'seed-admin', role: 'ADMIN', regionCode: '41', level: 'PROVINCE', dept: null }

export const uniqueCode = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`

/** Creates the project with its allocations, beneficiaries and payments (each payment through `applyPayment`, which must accept it). */
export async function seedProject (app: TestApp, s: ProjectSeed): Promise<projects.ProjectRow> {
  const now = new Date()
  return await app.database.db.transaction(async (tx) => {
    const project = await projects.insert(tx, {
      code: s.code ?? uniqueCode(s.regionCode.slice(0, 6)),
      name: s.name,
      category: s.category ?? 'INDUSTRY',
      regionCode: s.regionCode,
      status: s.status ?? 'IN_PROGRESS',
      plannedStart: s.plannedStart ?? '2019-03-01',
      budget: s.budget ?? 1_000_000,
      createdAt: now,
      updatedAt: now
    })
    for (const a of s.allocations ?? []) {
      await projects.insertAllocation(tx, { projectId: project.id, regionCode: project.regionCode, source: a.source, amount: a.amount, documentNo: a.documentNo ?? `豫财扶〔${a.date.slice(0, 4)}〕${Math.floor(Math.random() * 900) + 100}号`, date: a.date, createdAt: now })
      await projects.addToSum(tx, project.id, 'allocated', a.amount, now)
    }
    await projects.link(tx, (s.households ?? []).map(h => ({ projectId: project.id, householdId: h.id, regionCode: project.regionCode, createdAt: now })))
    const status = project.status
    for (const p of s.payments ?? []) {
      const outcome = await applyPayment(tx, { principal: PROVINCE_ADMIN, sealer: app.app.deps.sealer, at: now }, { projectId: project.id, ...p })
      if (!outcome.ok) throw new Error(`seed payment refused: ${outcome.reason} ${outcome.error.message} (${status})`)
    }
    const [row] = await projects.findByIds(tx, PROVINCE_ADMIN, [project.id])
    return row!
  })
}
