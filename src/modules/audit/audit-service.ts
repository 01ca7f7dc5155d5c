import type { Db, DbOrTx } from '../../db/index.js'
import type { Deps } from '../../shared/context.js'
import { isIsoDate } from '../../shared/dates.js'
import { badInput, type FieldError } from '../../shared/errors.js'
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
  await appendEntries(tx, [events].flat().map(event => ({ actor, at, event })))
}

/** Appends entries, each with its own actor and time, in order: one lock, one head read, one insert. */
async function appendEntries (tx: DbOrTx, entries: ReadonlyArray<{ actor: Actor, at: Date, event: AuditEvent }>): Promise<void> {
  if (entries.length === 0) return
  const head = await repo.lockChainHead(tx)
  let seq = head?.seq ?? 0n
  let prevHash = head?.hash ?? GENESIS_HASH
  const rows: repo.AuditRow[] = entries.map(({ actor, at, event: e }) => {
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
 * They are written by `recordRead`, and the change feed leaves them out. A new kind
 * of audited read must be added here.
 */
export const READ_ACTIONS = ['eligibility.check', 'household.export'] as const
export type ReadAction = typeof READ_ACTIONS[number]

interface PendingRead { actor: Actor, at: Date, event: AuditEvent, done: (err?: unknown) => void }

/**
 * Group commit for read entries. Reads change nothing, so their entries are not tied to
 * any other write: each call's entry is queued, and entries that arrive while a commit
 * is in flight are written together by the next one — one chain lock, one insert and
 * one WAL flush for all of them instead of one each. A call still returns only once its
 * entry is committed, so nothing is disclosed before it is on record; when the
 * database is idle the entry is written at once, without waiting for company.
 */
class ReadAuditWriter {
  private queue: PendingRead[] = []
  private flushing = false
  constructor (private readonly db: Db) {}

  async write (actor: Actor, at: Date, event: AuditEvent): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ actor, at, event, done: (err) => { if (err === undefined) resolve(); else reject(err) } })
      if (!this.flushing) void this.flush()
    })
  }

  private async flush (): Promise<void> {
    this.flushing = true
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, READ_BATCH_MAX)
        try {
          await this.db.transaction(async (tx) => { await appendEntries(tx, batch) })
          for (const p of batch) p.done()
        } catch (err) {
          for (const p of batch) p.done(err)
        }
      }
    } finally {
      this.flushing = false
    }
  }
}

const READ_BATCH_MAX = 500
const readWriters = new WeakMap<Db, ReadAuditWriter>()

/**
 * Records a read as one audit entry, committed (with other reads' entries at most,
 * never with a change) before this returns.
 */
export async function recordRead (db: Db, actor: Actor, at: Date, event: AuditEvent & { action: ReadAction }): Promise<void> {
  let writer = readWriters.get(db)
  if (writer === undefined) {
    writer = new ReadAuditWriter(db)
    readWriters.set(db, writer)
  }
  await writer.write(actor, at, event)
}

/** What a change did to its record, for the change feed. */
export type ChangeOp = 'create' | 'update' | 'delete'

/**
 * The change feed's `op` of an audit entry (action `<entity>.<verb>`): `remove`/`delete`
 * take a record out of those a reader sees (a removed member no longer appears in its
 * household); an entry with no `before` state (or a `create`/`add` verb) made the record,
 * e.g. `household.create`, `member.add`, `exit.propose`; anything else — including
 * closing a household, which keeps it on record as CLOSED — updated one.
 */
export function changeOp (action: string, hasBefore: boolean): ChangeOp {
  const verb = action.slice(action.lastIndexOf('.') + 1)
  if (verb === 'remove' || verb === 'delete') return 'delete'
  if (!hasBefore || verb === 'create' || verb === 'add') return 'create'
  return 'update'
}

export interface Change { seq: string, at: string, entity: string, id: string, op: ChangeOp }

export const CHANGES_DEFAULT_LIMIT = 100
export const CHANGES_MAX_LIMIT = 1000
/** Audit sequence numbers fit in a bigint; 18 digits keep any cursor below its maximum. */
const SEQ_RE = /^\d{1,18}$/

export interface AuditFilterInput {
  entity?: string | null
  entityId?: string | null
  actorSub?: string | null
  from?: string | null
  to?: string | null
}

function parseInstant (value: string | null | undefined, path: string): Date | null {
  if (value === null || value === undefined) return null
  // The date part must be a real date itself: Date rolls 2019-02-30 over into March, and year 0 is not storable.
  const d = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(value) && isIsoDate(value.slice(0, 10)) ? new Date(value) : new Date(NaN)
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
   * The change feed (REST `GET /changes`): changes of records in the caller's area,
   * oldest first, after the sequence number `after` (the last `seq` the reader has
   * seen; from the beginning when omitted). `next` is the `after` of the next page when
   * more changes follow now, else null: the reader has caught up and polls again later
   * with the last `seq` it saw. Derived from the audit trail, which records every change
   * in the change's own transaction, so a committed change is never missing from it.
   */
  async changes (after: string | null | undefined, limit: number | null | undefined, paths = { after: 'after', limit: 'limit' }): Promise<{ items: Change[], next: string | null }> {
    authorize(this.principal, 'record.read')
    const fields: FieldError[] = []
    if (after != null && after !== '' && !SEQ_RE.test(after)) fields.push({ path: paths.after, message: 'must be a sequence number (the seq of a change)' })
    const size = limit ?? CHANGES_DEFAULT_LIMIT
    if (!Number.isInteger(size) || size < 1 || size > CHANGES_MAX_LIMIT) fields.push({ path: paths.limit, message: `must be an integer between 1 and ${CHANGES_MAX_LIMIT}` })
    if (fields.length > 0) throw badInput(fields)
    const from = after == null || after === '' ? 0n : BigInt(after)
    const rows = await repo.changesInArea(this.deps.db, this.principal, from, size + 1, READ_ACTIONS)
    const items = rows.slice(0, size).map((r): Change => ({ seq: r.seq.toString(), at: r.at.toISOString(), entity: r.entity, id: r.entityId, op: changeOp(r.action, r.hasBefore) }))
    return { items, next: rows.length > size ? items.at(-1)!.seq : null }
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
