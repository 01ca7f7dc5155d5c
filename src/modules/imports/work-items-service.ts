import type { Deps } from '../../shared/context.js'
import { badInput, conflict, notFound } from '../../shared/errors.js'
import { isUuid } from '../../shared/ids.js'
import { WORK_ITEM_DISPOSITIONS } from '../../shared/labels.js'
import { connection, idPage, type Connection, type PageArgs } from '../../shared/pagination.js'
import { authorize, regionFilter } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { recordAudit } from '../audit/audit-service.js'
import * as repo from './imports-repository.js'
import { workItemView } from './imports-service.js'

export type Disposition = typeof WORK_ITEM_DISPOSITIONS[number]

export interface WorkItemFilter { regionCode?: string | null, status?: string | null, finding?: string | null, jobId?: string | null }

/**
 * 工作清单: reconciliation findings for the officers of the village that owns the
 * household (read by every role that reads records; resolved by operators in area).
 */
export class WorkItemsService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  async list (filter: WorkItemFilter | null | undefined, args: PageArgs): Promise<Connection<Record<string, unknown>>> {
    authorize(this.principal, 'record.read')
    const page = idPage(args)
    const regionCode = regionFilter(this.principal, 'record.read', filter?.regionCode, 'filter.regionCode')
    if (filter?.jobId != null && !isUuid(filter.jobId)) throw badInput([{ path: 'filter.jobId', message: 'must be a job id' }])
    const q: repo.WorkItemQuery = { ...filter, regionCode }
    const rows = await repo.listWorkItems(this.deps.db, this.principal, q, page, page.size + 1)
    return connection(rows.map(workItemView), page, w => [w.id as string], async () => await repo.countWorkItems(this.deps.db, this.principal, q))
  }

  /**
   * Records the officer's disposition: CONFIRMED_FIXED and FALSE_MATCH resolve the item,
   * NEEDS_VISIT keeps it open with the note. Audited.
   */
  async resolve (id: string, disposition: Disposition, note: string | null | undefined, expectedVersion: number | null | undefined): Promise<Record<string, unknown>> {
    authorize(this.principal, 'record.write')
    const current = isUuid(id) ? await repo.findWorkItem(this.deps.db, this.principal, id) : null
    if (current === null) throw notFound('Work item')
    authorize(this.principal, 'record.write', current.regionCode)
    const text = note?.trim() ?? ''
    if (text.length > 500) throw badInput([{ path: 'note', message: 'must be at most 500 characters' }])
    if (current.status === 'RESOLVED') throw conflict('The work item is already resolved')
    const now = this.deps.clock()
    const done = disposition !== 'NEEDS_VISIT'
    return await this.deps.db.transaction(async (tx) => {
      const row = await repo.updateWorkItem(tx, this.principal, id, expectedVersion ?? current.version, {
        status: done ? 'RESOLVED' : 'OPEN', disposition, note: text === '' ? null : text, resolvedBy: done ? this.principal.sub : null, resolvedAt: done ? now : null
      })
      if (row === null) throw conflict('The work item was changed meanwhile; reload it')
      await recordAudit(tx, this.principal, now, {
        action: 'workItem.resolve',
        entity: 'WorkItem',
        entityId: id,
        regionCode: row.regionCode,
        before: { status: current.status, disposition: current.disposition, note: current.note },
        after: { status: row.status, disposition: row.disposition, note: row.note }
      })
      return workItemView(row)
    })
  }
}
