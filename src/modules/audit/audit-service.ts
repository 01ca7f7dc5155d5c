import type { Db, DbOrTx } from '../../db/index.js'
import type { Deps } from '../../shared/context.js'
import { badInput } from '../../shared/errors.js'
import { connection, decodeCursor, pageSize, type Connection } from '../../shared/pagination.js'
import { authorize } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { entryHash, GENESIS_HASH, toJsonValue } from './audit-chain.js'
import * as repo from './audit-repository.js'

/** One change to record. `regionCode` is the region of the record changed. */
export interface AuditEvent {
  action: string
  entity: string
  entityId: string
  regionCode: string
  before?: unknown
  after?: unknown
  /** Where the change came from when not a direct request, e.g. `exchange-job:<id>`. */
  source?: string | null
}

export interface Actor { sub: string, role: string }

/**
 * Appends entries to the hash chain inside the caller's open transaction, so that
 * they commit or roll back with the change they record (contract §9).
 */
export async function recordAudit (tx: DbOrTx, actor: Actor, at: Date, events: AuditEvent | AuditEvent[]): Promise<void> {
  const list = [events].flat()
  if (list.length === 0) return
  const head = await repo.lockChainHead(tx)
  let seq = head?.seq ?? 0n
  let prevHash = head?.hash ?? GENESIS_HASH
  const rows: repo.AuditRow[] = list.map((e) => {
    seq += 1n
    const content = {
      seq,
      at,
      actorSub: actor.sub,
      actorRole: actor.role,
      action: e.action,
      entity: e.entity,
      entityId: e.entityId,
      regionCode: e.regionCode,
      source: e.source ?? null,
      before: toJsonValue(e.before),
      after: toJsonValue(e.after),
      prevHash
    }
    prevHash = entryHash(content)
    return { ...content, hash: prevHash }
  })
  await repo.insertEntries(tx, rows)
}

/**
 * Audit entries that record a read (a disclosure of personal data), not a change.
 * They are written by `recordRead`, each in a transaction of its own. A new kind of
 * audited read must be added here.
 */
export const READ_ACTIONS = ['eligibility.check', 'household.export'] as const
export type ReadAction = typeof READ_ACTIONS[number]

/** Records a read as one audit entry, in a transaction holding nothing else. */
export async function recordRead (db: Db, actor: Actor, at: Date, event: AuditEvent & { action: ReadAction }): Promise<void> {
  await db.transaction(async (tx) => { await recordAudit(tx, actor, at, event) })
}

export interface AuditFilterInput {
  entity?: string | null
  entityId?: string | null
  actorSub?: string | null
  from?: string | null
  to?: string | null
}

function parseInstant (value: string | null | undefined, path: string): Date | null {
  if (value === null || value === undefined) return null
  const d = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(value) ? new Date(value) : new Date(NaN)
  if (Number.isNaN(d.getTime())) throw badInput([{ path, message: 'must be a date (YYYY-MM-DD) or an ISO 8601 date-time' }])
  return d
}

export interface AuditEntryView {
  seq: string
  at: string
  actorSub: string
  actorRole: string
  action: string
  entity: string
  entityId: string
  source: string | null
  before: unknown
  after: unknown
}

const view = (r: repo.AuditRow): AuditEntryView => ({
  seq: r.seq.toString(),
  at: r.at.toISOString(),
  actorSub: r.actorSub,
  actorRole: r.actorRole,
  action: r.action,
  entity: r.entity,
  entityId: r.entityId,
  source: r.source,
  before: r.before,
  after: r.after
})

export class AuditService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  /** Audit entries of records in the caller's area, newest first. */
  async log (filter: AuditFilterInput | null | undefined, first: number | null | undefined, after: string | null | undefined): Promise<Connection<AuditEntryView>> {
    authorize(this.principal, 'audit.read')
    const size = pageSize(first)
    const cursor = decodeCursor<[string]>(after, ['string'])
    const q: repo.AuditQuery = {
      entity: filter?.entity,
      entityId: filter?.entityId,
      actorSub: filter?.actorSub,
      from: parseInstant(filter?.from, 'filter.from'),
      to: parseInstant(filter?.to, 'filter.to')
    }
    if (cursor !== null && !/^\d{1,19}$/.test(cursor[0])) throw badInput([{ path: 'after', message: 'is not a cursor this service issued' }])
    const before = cursor === null ? null : BigInt(cursor[0])
    const rows = await repo.listInArea(this.deps.db, this.principal, q, before, size + 1)
    return connection(rows.map(view), size, r => [r.seq], async () => await repo.countInArea(this.deps.db, this.principal, q))
  }

  /**
   * Recomputes the hash of every entry in the caller's area and checks that it
   * links to the stored hash of the entry before it.
   */
  async verifyChain (): Promise<{ valid: boolean, checked: number }> {
    authorize(this.principal, 'audit.read')
    let checked = 0
    let after = 0n
    for (;;) {
      const rows = await repo.chainSlice(this.deps.db, this.principal, after, 2_000)
      for (const r of rows) {
        const expectedPrev = r.seq === 1n ? GENESIS_HASH : r.previousHash
        if (r.prevHash !== expectedPrev || entryHash(r) !== r.hash) return { valid: false, checked: checked + 1 }
        checked++
      }
      if (rows.length < 2_000) return { valid: true, checked }
      after = rows.at(-1)!.seq
    }
  }
}
