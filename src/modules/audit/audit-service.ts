import type { Db, DbOrTx } from '../../db/index.js'
import type { Deps } from '../../shared/context.js'
import { isIsoDate } from '../../shared/dates.js'
import { badInput, type FieldError } from '../../shared/errors.js'
import { connection, decodeCursor, pageSize, type Connection, type PageArgs } from '../../shared/pagination.js'
import { authorize } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { headProblem, type TreeHead } from '../../shared/tree-heads.js'
import { entryLeafHash, exportedEntry, type ExportedEntry, type ReadAction } from './audit-entry.js'
import { CompactRange, consistencyProof, inclusionPath, nodesNeeded, type NodeReader } from './audit-merkle.js'
import * as repo from './audit-repository.js'
import { headOf, rootAt, signCurrentHead } from './audit-sequencer.js'

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
 * Writes entries inside the caller's open transaction, so that they commit or roll back
 * with the change they record (contract §9). One insert for any number of entries and no
 * lock: the sequencer gives them their positions in the log once they have committed.
 */
export async function recordAudit (tx: DbOrTx, actor: Actor, at: Date, events: AuditEvent | AuditEvent[]): Promise<void> {
  await appendEntries(tx, [events].flat().map(event => ({ actor, at, event })))
}

async function appendEntries (tx: DbOrTx, entries: ReadonlyArray<{ actor: Actor, at: Date, event: AuditEvent }>): Promise<void> {
  if (entries.length === 0) return
  await repo.insertEntries(tx, entries.map(({ actor, at, event: e }) => ({
    at,
    actorSub: actor.sub,
    actorRole: actor.role,
    action: e.action,
    entity: e.entity,
    entityId: e.entityId,
    regionCode: e.regionCode,
    source: e.source ?? null,
    before: e.before ?? null,
    after: e.after ?? null
  })))
}

interface PendingRead { actor: Actor, at: Date, event: AuditEvent, done: (err?: unknown) => void }

/**
 * Group commit for read entries. Reads change nothing, so their entries are not tied to
 * any other write: each call's entry is queued, and entries that arrive while a commit
 * is in flight are written together by the next one — one insert and one WAL flush for
 * all of them instead of one each. The insert is a statement of its own, outside any
 * transaction (atomic, and committed when it returns): one round trip, not BEGIN, INSERT
 * and COMMIT, so the next group's entries wait less. A call still returns only once its
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
          await appendEntries(this.db, batch)
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

/** A position from an auditLog cursor (null when none given). */
function seqCursor (cursor: string | null | undefined, path: string): bigint | null {
  const key = decodeCursor<[string]>(cursor, ['string'], path)
  if (key !== null && !/^\d{1,19}$/.test(key[0])) throw badInput([{ path, message: 'is not a cursor this service issued' }])
  return key === null ? null : BigInt(key[0])
}

/** An entry as auditLog shows it: as exported, its position as a string (a 64-bit integer). */
export type AuditEntryView = Omit<ExportedEntry, 'seq'> & { seq: string }

const view = (r: repo.LoggedRow): AuditEntryView => ({ ...exportedEntry(Number(r.seq), r), seq: r.seq })

export interface InclusionProofView { seq: number, treeSize: number, leafHash: string, path: string[] }

export interface ChainCheck {
  valid: boolean
  /** Entries whose leaf was recomputed and found as stored (all of them when valid). */
  checked: number
  /** Committed entries not yet sequenced. */
  pending: number
  /** Positions of archived months (their entries detached, npm run audit:archive): their kept leaves enter the root; their content is checked offline against the archive. */
  archived: number
  /** The months archived, `YYYY-MM`. */
  archivedMonths: string[]
  treeSize: number
  /** The root recomputed from the entries. */
  rootHash: string
  /** The first position found altered, missing or out of place (null when valid, or when only the tree or a head disagrees). */
  firstInvalid: number | null
  /** Why the log is not valid (null when it is). */
  problem: string | null
}

/**
 * Positions from..to of the log, a slice at a time: each retained one with its entry, or,
 * for an archived month's position (its entry detached), its leaf kept in the nodes; null
 * where neither is there.
 */
async function * logSlices (db: DbOrTx, from: number, to: number): AsyncGenerator<Array<{ seq: number, row: repo.LoggedRow | null, leaf: string | null }>> {
  for (let a = from; a <= to; a += SLICE) {
    const b = Math.min(to, a + SLICE - 1)
    const rows = await repo.logRange(db, a, b)
    const archived = rows.length < b - a + 1 ? await repo.archivedLeaves(db, a, b) : new Map<number, string>()
    const slice: Array<{ seq: number, row: repo.LoggedRow | null, leaf: string | null }> = []
    let i = 0
    for (let seq = a; seq <= b; seq++) {
      // A position held twice (which the one sequencer never writes) shows as a row out of place.
      const here: repo.LoggedRow[] = []
      while (i < rows.length && Number(rows[i]!.seq) === seq) here.push(rows[i++]!)
      if (here.length === 0) slice.push({ seq, row: null, leaf: archived.get(seq) ?? null })
      for (const row of here) slice.push({ seq, row, leaf: row.leafHash })
    }
    yield slice
  }
}

/**
 * The log's positions from..to as NDJSON lines (`GET /api/v1/audit/log`, the archive):
 * each entry in `area` in full with its `leafHash`; one outside it — or of an archived
 * month — as `{ seq, leafHash }` alone, so the root can still be recomputed.
 */
export function logLines (db: DbOrTx, from: number, to: number, area: string): AsyncIterable<string> {
  return (async function * () {
    for await (const slice of logSlices(db, from, to)) {
      let lines = ''
      for (const { seq, row, leaf } of slice) {
        // Neither in the log nor archived (removed behind the triggers' back): left out, which the verifier names.
        if (leaf === null) continue
        lines += JSON.stringify(row !== null && row.regionCode.startsWith(area) ? { ...exportedEntry(seq, row), leafHash: leaf } : { seq, leafHash: leaf }) + '\n'
      }
      yield lines
    }
  })()
}

/** Entries read per statement by the verification and the export. */
const SLICE = 2_000
/** One verification at a time per database in this process: concurrent callers share its answer. */
const verifying = new WeakMap<object, Promise<ChainCheck>>()

/** Paths of the input fields, as GraphQL names them or as REST does (`querystring.seq`). */
type Paths = Record<'seq' | 'treeSize' | 'first' | 'second' | 'from' | 'to', string>
const GRAPHQL_PATHS: Paths = { seq: 'seq', treeSize: 'treeSize', first: 'first', second: 'second', from: 'from', to: 'to' }

export class AuditService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  /** Sequenced entries of records in the caller's area, newest first; Relay paging both ways, by position. */
  async log (filter: AuditFilterInput | null | undefined, args: PageArgs): Promise<Connection<AuditEntryView>> {
    authorize(this.principal, 'audit.read')
    if (args.first != null && args.last != null) throw badInput([{ path: 'last', message: 'cannot be combined with first' }])
    const backward = args.last != null
    const size = backward ? pageSize(args.last, 'last') : pageSize(args.first, 'first')
    const q: repo.AuditQuery = {
      entity: filter?.entity,
      entityId: filter?.entityId,
      actorSub: filter?.actorSub,
      from: parseInstant(filter?.from, 'filter.from'),
      to: parseInstant(filter?.to, 'filter.to')
    }
    const range = { after: seqCursor(args.after, 'after'), before: seqCursor(args.before, 'before'), backward }
    const rows = await repo.listInArea(this.deps.db, this.principal, q, range, size + 1)
    return connection(rows.map(view), { size, backward }, r => [r.seq], async () => await repo.countInArea(this.deps.db, this.principal, q))
  }

  /**
   * The change feed (REST `GET /changes`): changes of records in the caller's area,
   * oldest first, after the position `after` (the last `seq` the reader has seen; from
   * the beginning when omitted). `next` is the `after` of the next page when more
   * changes follow now, else null: the reader has caught up and polls again later with
   * the last `seq` it saw. Derived from the audit log, whose positions only grow and
   * never leave a gap, so a committed change appears (once sequenced, within about a
   * second) after every position a reader has already seen.
   */
  async changes (after: string | null | undefined, limit: number | null | undefined, paths = { after: 'after', limit: 'limit' }): Promise<{ items: Change[], next: string | null }> {
    authorize(this.principal, 'record.read')
    const fields: FieldError[] = []
    if (after != null && after !== '' && !SEQ_RE.test(after)) fields.push({ path: paths.after, message: 'must be a sequence number (the seq of a change)' })
    const size = limit ?? CHANGES_DEFAULT_LIMIT
    if (!Number.isInteger(size) || size < 1 || size > CHANGES_MAX_LIMIT) fields.push({ path: paths.limit, message: `must be an integer between 1 and ${CHANGES_MAX_LIMIT}` })
    if (fields.length > 0) throw badInput(fields)
    const from = after == null || after === '' ? 0n : BigInt(after)
    if (after != null && after !== '') {
      // A reader behind an archived month would silently miss its changes: it is told, and resumes after them.
      const archived = await repo.archivedThrough(this.deps.db)
      if (archived !== null && from < archived.lastSeq) {
        throw badInput([{ path: paths.after, message: `the changes up to position ${archived.lastSeq} are archived (months ${archived.months.join(', ')}; npm run audit:archive): take them from the archive and resume with after=${archived.lastSeq}` }])
      }
    }
    const rows = await repo.changesInArea(this.deps.db, this.principal, from, size + 1)
    const items = rows.slice(0, size).map((r): Change => ({ seq: r.seq, at: new Date(r.at).toISOString(), entity: r.entity, id: r.entityId, op: changeOp(r.action, r.hasBefore) }))
    return { items, next: rows.length > size ? items.at(-1)!.seq : null }
  }

  /**
   * The latest signed tree head, first signing one for the tree as it is when the latest
   * does not cover every sequenced entry (contract §9).
   */
  async treeHead (): Promise<TreeHead> {
    authorize(this.principal, 'audit.read')
    // Signing writes a head: on the primary, with the tree it covers; so do the proofs checked against it.
    return await signCurrentHead(this.deps.primary, this.deps.config, this.deps.clock())
  }

  /** The audit path of the entry at `seq` in the tree of `treeSize` entries (by default the latest head's). */
  async inclusionProof (seq: number, treeSize: number | null | undefined, paths: Paths = GRAPHQL_PATHS): Promise<InclusionProofView> {
    authorize(this.principal, 'audit.read')
    const size = treeSize ?? (await this.treeHead()).treeSize
    const current = await repo.treeSize(this.deps.primary)
    const fields: FieldError[] = []
    if (!Number.isSafeInteger(size) || size < 1 || size > current) fields.push({ path: paths.treeSize, message: `must be a tree size between 1 and ${current}, the entries sequenced so far` })
    if (!Number.isSafeInteger(seq) || seq < 1 || seq > size) fields.push({ path: paths.seq, message: 'must be a position in the tree: between 1 and its size' })
    if (fields.length > 0) throw badInput(fields)
    const proof = await this.proof(inclusionPath(seq - 1, size), [{ level: 0, index: seq - 1 }])
    return { seq, treeSize: size, leafHash: proof.extra[0]!, path: proof.hashes }
  }

  /** RFC 9162 consistency proof between the trees of `first` and `second` entries. */
  async consistencyProof (first: number, second: number, paths: Paths = GRAPHQL_PATHS): Promise<string[]> {
    authorize(this.principal, 'audit.read')
    const current = await repo.treeSize(this.deps.primary)
    const fields: FieldError[] = []
    if (!Number.isSafeInteger(second) || second < 1 || second > current) fields.push({ path: paths.second, message: `must be a tree size between 1 and ${current}, the entries sequenced so far` })
    if (!Number.isSafeInteger(first) || first < 1 || first > second) fields.push({ path: paths.first, message: 'must be a tree size between 1 and second' })
    if (fields.length > 0) throw badInput(fields)
    return (await this.proof(consistencyProof(first, second), [])).hashes
  }

  /** Runs a proof over the stored nodes it needs, read in one statement (O(log n) rows), with `extra` nodes read beside them. */
  private async proof (make: (get: NodeReader) => Buffer[], extra: Array<{ level: number, index: number }>): Promise<{ hashes: string[], extra: string[] }> {
    const stored = await repo.readNodes(this.deps.primary, [...nodesNeeded(make), ...extra])
    const get = (level: number, index: number): string => {
      const hex = stored.get(`${level}:${index}`)
      if (hex === undefined) throw new Error(`audit tree node ${level}:${index} is missing`)
      return hex
    }
    return { hashes: make((level, index) => Buffer.from(get(level, index), 'hex')).map(h => h.toString('hex')), extra: extra.map(k => get(k.level, k.index)) }
  }

  /**
   * The log's positions from..to (inclusive; to defaults to the last sequenced) as NDJSON
   * lines, each entry with its `leafHash`; an entry outside the caller's area is only
   * `{ seq, leafHash }`, so the root can be recomputed without disclosing it.
   */
  async exportLog (from: number | null | undefined, to: number | null | undefined, paths: Paths = GRAPHQL_PATHS): Promise<AsyncIterable<string>> {
    authorize(this.principal, 'audit.export')
    const current = await repo.treeSize(this.deps.db)
    const start = from ?? 1
    const end = Math.min(to ?? current, current)
    const fields: FieldError[] = []
    if (!Number.isSafeInteger(start) || start < 1) fields.push({ path: paths.from, message: 'must be a position: 1 or more' })
    if (to != null && (!Number.isSafeInteger(to) || to < start)) fields.push({ path: paths.to, message: 'must be a position no smaller than from' })
    if (fields.length > 0) throw badInput(fields)
    return logLines(this.deps.db, start, end, this.principal.regionCode)
  }

  /**
   * Recomputes the leaf of every sequenced entry from its content and the root over all
   * of them, and compares: each leaf with the stored one, the root with the stored
   * tree's, and every signed head with the root at its size (and its signature with the
   * public keys). One run at a time per process; concurrent callers share it.
   */
  async verifyChain (): Promise<ChainCheck> {
    authorize(this.principal, 'audit.read')
    const key = this.deps.db as object
    let run = verifying.get(key)
    if (run === undefined) {
      run = this.verifyAll().finally(() => { verifying.delete(key) })
      verifying.set(key, run)
    }
    return await run
  }

  private async verifyAll (): Promise<ChainCheck> {
    const { db, config } = this.deps
    const size = await repo.treeSize(db)
    const range = new CompactRange()
    let heads: repo.HeadRow[] = []
    let headsAfter = -1
    const nextHeads = async (): Promise<void> => {
      heads = await repo.headsBetween(db, headsAfter, size, SLICE)
      headsAfter = heads.length > 0 ? Number(heads.at(-1)!.treeSize) : size
    }
    const archives = await repo.archives(db)
    const inArchive = (seq: number): boolean => archives.some(a => a.firstSeq !== null && Number(a.firstSeq) <= seq && seq <= Number(a.lastSeq))
    let archived = 0
    const result = (valid: boolean, problem: string | null, firstInvalid: number | null = null): ChainCheck =>
      ({ valid, checked: range.size - archived, pending: 0, archived, archivedMonths: archives.map(a => a.month.replace('_', '-')), treeSize: size, rootHash: range.root().toString('hex'), firstInvalid, problem })
    /** The heads of the tree's current size: each must be signed and name its root. */
    const checkHeads = async (): Promise<string | null> => {
      for (;;) {
        if (heads.length === 0 && headsAfter < size) await nextHeads()
        const head = heads[0]
        if (head === undefined || Number(head.treeSize) > range.size) return null
        heads.shift()
        const problem = headProblem(headOf(head), config.audit.publicKeys)
        if (problem !== null) return `the head of size ${head.treeSize}: ${problem}`
        if (head.rootHash !== range.root().toString('hex')) return `the head of size ${head.treeSize} names another root than its entries make`
      }
    }
    let problem = await checkHeads()
    if (problem !== null) return { ...result(false, problem), pending: await repo.pendingCount(db) }
    for await (const slice of logSlices(db, 1, size)) {
      for (const { seq, row, leaf } of slice) {
        if (seq !== range.size + 1) return { ...result(false, `the entry at position ${seq} is held twice`, seq), pending: await repo.pendingCount(db) }
        let hash: string
        if (row !== null) {
          hash = entryLeafHash(seq, row)
          if (hash !== row.leafHash) return { ...result(false, `the entry at position ${seq} was altered: its content no longer makes its leaf`, seq), pending: await repo.pendingCount(db) }
        } else if (leaf !== null && inArchive(seq)) {
          // An archived month's position: its leaf, kept, stands for it (its content is checked offline against the archive).
          hash = leaf
          archived++
        } else {
          return { ...result(false, `the entry at position ${seq} is missing`, seq), pending: await repo.pendingCount(db) }
        }
        range.append(Buffer.from(hash, 'hex'))
        problem = await checkHeads()
        if (problem !== null) return { ...result(false, problem), pending: await repo.pendingCount(db) }
      }
    }
    if (range.size !== size) return { ...result(false, `the entry at position ${range.size + 1} is missing`, range.size + 1), pending: await repo.pendingCount(db) }
    const stored = (await rootAt(db, size)).toString('hex')
    const ok = stored === range.root().toString('hex')
    return { ...result(ok, ok ? null : 'the stored tree\'s root differs from the root the entries make'), pending: await repo.pendingCount(db) }
  }
}
