import { and, asc, eq, gt, inArray, like, lt, or, sql } from 'drizzle-orm'
import type { DbOrTx } from '../../db/index.js'
import { exchangeJobChunks, exchangeJobErrors, exchangeJobMatches, exchangeJobs, members, projects, workItems } from '../../db/schema/index.js'
import { insertMany, queryRows } from '../../db/index.js'
import { idBounds, idOrder } from '../../db/keyset.js'
import { inArea } from '../../shared/policy.js'
import type { IdRange } from '../../shared/pagination.js'
import type { Principal } from '../../shared/principal.js'
import { MEMBER_COLUMNS, type MemberColumn } from './kinds.js'
import type { StoredFile } from './xlsx.js'

export type JobRow = typeof exchangeJobs.$inferSelect
export type JobInsert = typeof exchangeJobs.$inferInsert
export type ErrorInsert = typeof exchangeJobErrors.$inferInsert
export type MatchInsert = typeof exchangeJobMatches.$inferInsert
export type WorkItemRow = typeof workItems.$inferSelect
export type WorkItemInsert = typeof workItems.$inferInsert

// Jobs are scoped in the service (the submitter's department and area); member
// queries here take the job's area prefix and AND it in.

export async function insertJob (db: DbOrTx, row: JobInsert): Promise<JobRow> {
  const [job] = await db.insert(exchangeJobs).values(row).returning()
  return job!
}

export async function findJob (db: DbOrTx, id: string): Promise<JobRow | null> {
  const [job] = await db.select().from(exchangeJobs).where(eq(exchangeJobs.id, id))
  return job ?? null
}

/**
 * The job of this caller's Idempotency-Key. A key belongs to its caller: the token's sub,
 * role, department and region together (the unique index), so it never finds a job of
 * another user, department or area.
 */
export async function findByIdempotencyKey (db: DbOrTx, p: Principal, key: string): Promise<JobRow | null> {
  const [job] = await db.select().from(exchangeJobs).where(and(
    eq(exchangeJobs.submittedBy, p.sub),
    eq(exchangeJobs.submitterRole, p.role),
    sql`coalesce(${exchangeJobs.dept}, '') = ${p.dept ?? ''}`,
    eq(exchangeJobs.regionCode, p.regionCode),
    eq(exchangeJobs.idempotencyKey, key)))
  return job ?? null
}

/** Stores the next chunk of an upload and extends the upload's lease (it is still arriving). */
export async function appendChunk (db: DbOrTx, jobId: string, n: number, data: Buffer, leaseUntil: Date): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(exchangeJobChunks).values({ jobId, n, data })
    await tx.update(exchangeJobs).set({ leaseUntil }).where(eq(exchangeJobs.id, jobId))
  })
}

/** The upload is complete and durable: the job may run. */
export async function markQueued (db: DbOrTx, jobId: string, bytes: number, sha256: string): Promise<JobRow> {
  const [job] = await db.update(exchangeJobs).set({ status: 'queued', bytes, sha256 }).where(eq(exchangeJobs.id, jobId)).returning()
  return job!
}

/**
 * The job's stored file, read by byte range: one query per chunk the range touches, each
 * returning only the range's part of it (memory stays at one chunk). The chunks' sizes
 * are read once, on the first read.
 */
export function storedFile (db: DbOrTx, jobId: string, size: number): StoredFile {
  let offsets: Promise<Array<{ n: number, start: number, end: number }>> | null = null
  const chunkOffsets = async (): Promise<Array<{ n: number, start: number, end: number }>> => {
    const rows = await db.select({ n: exchangeJobChunks.n, length: sql<number>`octet_length(${exchangeJobChunks.data})::int` }).from(exchangeJobChunks)
      .where(eq(exchangeJobChunks.jobId, jobId)).orderBy(asc(exchangeJobChunks.n))
    let at = 0
    return rows.map(r => ({ n: r.n, start: at, end: (at += r.length) }))
  }
  return {
    size,
    async * read (start: number, end: number): AsyncGenerator<Buffer> {
      offsets ??= chunkOffsets()
      for (const c of await offsets) {
        if (c.end <= start || c.start >= end) continue
        const from = Math.max(start, c.start) - c.start
        const to = Math.min(end, c.end) - c.start
        const [row] = await db.select({ data: sql<Buffer>`substring(${exchangeJobChunks.data} from ${from + 1} for ${to - from})`.mapWith(exchangeJobChunks.data) })
          .from(exchangeJobChunks).where(and(eq(exchangeJobChunks.jobId, jobId), eq(exchangeJobChunks.n, c.n)))
        if (row === undefined) throw new Error('the stored file is incomplete')
        yield row.data
      }
    }
  }
}

/** Times a job may be taken up without committing a batch in between (its worker died or stopped each time). */
export const MAX_CLAIMS = 3

/**
 * Takes the oldest job that is queued, or running under an expired lease (its worker
 * died), for `owner` until `leaseUntil`. A job already taken up MAX_CLAIMS times without
 * progress — one that kills its worker, say — fails instead (and the next is looked at).
 */
export async function claim (db: DbOrTx, owner: string, now: Date, leaseUntil: Date): Promise<JobRow | null> {
  return await db.transaction(async (tx) => {
    for (;;) {
      const [next] = await tx.select({ id: exchangeJobs.id, attempts: exchangeJobs.attempts }).from(exchangeJobs)
        .where(or(eq(exchangeJobs.status, 'queued'), and(eq(exchangeJobs.status, 'running'), lt(exchangeJobs.leaseUntil, now))))
        .orderBy(asc(exchangeJobs.createdAt)).limit(1).for('update', { skipLocked: true })
      if (next === undefined) return null
      if (next.attempts >= MAX_CLAIMS) {
        await tx.delete(exchangeJobChunks).where(eq(exchangeJobChunks.jobId, next.id))
        await tx.update(exchangeJobs).set({ status: 'failed', finishedAt: now, leaseOwner: null, leaseUntil: null, error: `the job was taken up ${MAX_CLAIMS} times without progress (its worker stopped each time); it is not tried again` })
          .where(eq(exchangeJobs.id, next.id))
        continue
      }
      const [job] = await tx.update(exchangeJobs)
        .set({ status: 'running', leaseOwner: owner, leaseUntil, attempts: sql`${exchangeJobs.attempts} + 1`, startedAt: sql`coalesce(${exchangeJobs.startedAt}, ${now})` })
        .where(eq(exchangeJobs.id, next.id)).returning()
      return job ?? null
    }
  })
}

export interface BatchCounts { received: number, applied: number, unmatched: number, rejected: number }

/**
 * Moves the resume point from `after` (the last line of the batch before, which must
 * have committed) to `resumeLine` and adds the batch's counts, while the lease is still
 * ours; false when the lease is not ours or the resume point is not at `after` (nothing
 * may commit: a batch never moves the resume point past one that did not commit).
 */
export async function commitProgress (tx: DbOrTx, job: JobRow, after: number, resumeLine: number, c: BatchCounts, leaseUntil: Date): Promise<boolean> {
  const rows = await tx.update(exchangeJobs).set({
    resumeLine,
    received: sql`${exchangeJobs.received} + ${c.received}`,
    applied: sql`${exchangeJobs.applied} + ${c.applied}`,
    unmatched: sql`${exchangeJobs.unmatched} + ${c.unmatched}`,
    rejected: sql`${exchangeJobs.rejected} + ${c.rejected}`,
    attempts: 0,
    leaseUntil
  }).where(and(eq(exchangeJobs.id, job.id), eq(exchangeJobs.leaseOwner, job.leaseOwner!), eq(exchangeJobs.status, 'running'), eq(exchangeJobs.resumeLine, after))).returning({ id: exchangeJobs.id })
  return rows.length === 1
}

/** Extends the lease of a running job while it is still ours (never shortens it); false when it is not ours. */
export async function renewLease (db: DbOrTx, job: JobRow, leaseUntil: Date): Promise<boolean> {
  const rows = await db.update(exchangeJobs).set({ leaseUntil: sql`greatest(${exchangeJobs.leaseUntil}, ${leaseUntil.toISOString()}::timestamptz)` })
    .where(and(eq(exchangeJobs.id, job.id), eq(exchangeJobs.leaseOwner, job.leaseOwner!), eq(exchangeJobs.status, 'running')))
    .returning({ id: exchangeJobs.id })
  return rows.length === 1
}

/** Gives the job back (the worker is stopping): another worker may take it over at once. */
export async function releaseLease (db: DbOrTx, job: JobRow, now: Date): Promise<void> {
  await db.update(exchangeJobs).set({ leaseUntil: now }).where(and(eq(exchangeJobs.id, job.id), eq(exchangeJobs.leaseOwner, job.leaseOwner!)))
}

/** Ends the job while the lease is still ours; false when it is not. */
export async function finish (tx: DbOrTx, job: JobRow, status: 'succeeded' | 'failed', now: Date, report: unknown, error: string | null): Promise<boolean> {
  // The stored file has served its purpose.
  await tx.delete(exchangeJobChunks).where(eq(exchangeJobChunks.jobId, job.id))
  const rows = await tx.update(exchangeJobs).set({ status, finishedAt: now, report, error, leaseOwner: null, leaseUntil: null })
    .where(and(eq(exchangeJobs.id, job.id), eq(exchangeJobs.leaseOwner, job.leaseOwner!), eq(exchangeJobs.status, 'running')))
    .returning({ id: exchangeJobs.id })
  return rows.length === 1
}

/**
 * Uploads whose lease ran out before they completed (the process stopped mid-request) can
 * never run. As with every failed upload, their Idempotency-Key is freed: nothing was
 * queued, so the client's retry with the same key is a new request.
 */
export async function failInterruptedUploads (db: DbOrTx, now: Date): Promise<void> {
  await db.update(exchangeJobs).set({ status: 'failed', error: 'the upload was interrupted', finishedAt: now, idempotencyKey: null })
    .where(and(eq(exchangeJobs.status, 'receiving'), lt(exchangeJobs.leaseUntil, now)))
}

export async function failUpload (db: DbOrTx, jobId: string, now: Date, error: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(exchangeJobChunks).where(eq(exchangeJobChunks.jobId, jobId))
    await tx.update(exchangeJobs).set({ status: 'failed', error, finishedAt: now, idempotencyKey: null }).where(eq(exchangeJobs.id, jobId))
  })
}

export async function insertErrors (tx: DbOrTx, rows: ErrorInsert[]): Promise<void> {
  await insertMany(tx, exchangeJobErrors, rows)
}

export async function insertMatches (tx: DbOrTx, rows: MatchInsert[]): Promise<void> {
  await insertMany(tx, exchangeJobMatches, rows)
}

/** A page of a job's row errors after (line, path), in file order. */
export async function errorsAfter (db: DbOrTx, jobId: string, after: { line: number, path: string } | null, limit: number): Promise<Array<{ line: number, path: string, message: string }>> {
  return await db.select({ line: exchangeJobErrors.line, path: exchangeJobErrors.path, message: exchangeJobErrors.message }).from(exchangeJobErrors)
    .where(and(eq(exchangeJobErrors.jobId, jobId), after === null
      ? undefined
      : or(gt(exchangeJobErrors.line, after.line), and(eq(exchangeJobErrors.line, after.line), gt(exchangeJobErrors.path, after.path)))))
    .orderBy(asc(exchangeJobErrors.line), asc(exchangeJobErrors.path)).limit(limit)
}

export type MatchedMember = { id: string, householdId: string, regionCode: string, nationalIdHash: string, name: string, version: number } & Record<MemberColumn, unknown>

const memberColumns = Object.fromEntries((Object.keys(MEMBER_COLUMNS) as MemberColumn[]).map(c => [c, members[c]])) as { [K in MemberColumn]: typeof members[K] }

/** The active members in the area with these lookup hashes (hex, so safe in an array literal). */
export async function membersByHash (tx: DbOrTx, area: string, hashes: readonly string[]): Promise<MatchedMember[]> {
  if (hashes.length === 0) return []
  return await tx.select({
    id: members.id,
    householdId: members.householdId,
    regionCode: members.regionCode,
    nationalIdHash: members.nationalIdHash,
    name: members.name,
    version: members.version,
    ...memberColumns
  }).from(members)
    .where(and(sql`${members.nationalIdHash} = ANY(${`{${hashes.join(',')}}`}::text[])`, eq(members.active, true), like(members.regionCode, `${area}%`))) as MatchedMember[]
}

/**
 * One UPDATE for a batch: each member's new values of `columns` (one JSON parameter),
 * where the member is still at the version read. Returns how many rows it changed.
 */
export async function updateMembers (tx: DbOrTx, columns: readonly MemberColumn[], changes: Array<{ id: string, version: number } & Partial<Record<MemberColumn, unknown>>>, now: Date): Promise<number> {
  if (changes.length === 0) return 0
  const name = (c: MemberColumn): string => members[c].name
  const json = JSON.stringify(changes.map(ch => Object.fromEntries([['id', ch.id], ['version', ch.version], ...columns.map(c => [name(c), ch[c] ?? null])])))
  const set = sql.join(columns.map(c => sql.raw(`${name(c)} = v.${name(c)}`)), sql`, `)
  const types = sql.raw(['id uuid', 'version integer', ...columns.map(c => `${name(c)} ${MEMBER_COLUMNS[c]}`)].join(', '))
  const rows = await queryRows<{ id: string }>(tx, sql`UPDATE members m SET ${set}, version = m.version + 1, updated_at = ${now}
    FROM jsonb_to_recordset(${json}::jsonb) AS v(${types}) WHERE m.id = v.id AND m.version = v.version RETURNING m.id`)
  return rows.length
}

/** The ids of the projects with these codes in the area (a code not there is left out). */
export async function projectIdsByCode (tx: DbOrTx, area: string, codes: readonly string[]): Promise<Map<string, string>> {
  if (codes.length === 0) return new Map()
  const rows = await tx.select({ id: projects.id, code: projects.code }).from(projects)
    .where(and(inArray(projects.code, [...codes]), like(projects.regionCode, `${area}%`)))
  return new Map(rows.map(r => [r.code, r.id]))
}

// ── Reconciliation queries (the area is the job's) ──────────────────────────────

export interface FindingRow { memberId: string | null, householdId: string, regionCode: string, name: string | null }

/** Members flagged dibao in the area that the roster did not list as active. */
export async function dibaoNotOnRoster (db: DbOrTx, jobId: string, area: string): Promise<FindingRow[]> {
  return await queryRows<FindingRow>(db, sql`SELECT m.id AS "memberId", m.household_id AS "householdId", m.region_code AS "regionCode", m.name
    FROM members m WHERE m.active AND m.dibao AND m.deceased_at IS NULL AND m.region_code LIKE ${area + '%'}
    AND NOT EXISTS (SELECT 1 FROM exchange_job_matches x WHERE x.job_id = ${jobId} AND x.member_id = m.id)
    ORDER BY m.region_code, m.id`)
}

/** Roster members (matched, now dibao) whose household's attribute is not DIBAO. */
export async function dibaoAttributeMismatch (db: DbOrTx, jobId: string): Promise<FindingRow[]> {
  return await queryRows<FindingRow>(db, sql`SELECT DISTINCT m.id AS "memberId", m.household_id AS "householdId", m.region_code AS "regionCode", m.name
    FROM exchange_job_matches x JOIN members m ON m.id = x.member_id JOIN households h ON h.id = m.household_id
    WHERE x.job_id = ${jobId} AND m.dibao AND h.attribute <> 'DIBAO' AND h.status <> 'CLOSED'
    ORDER BY m.region_code, m.id`)
}

/** Households of matched members that have no living active member left. */
export async function householdsWithoutLiving (db: DbOrTx, jobId: string): Promise<FindingRow[]> {
  return await queryRows<FindingRow>(db, sql`SELECT DISTINCT NULL::uuid AS "memberId", h.id AS "householdId", h.region_code AS "regionCode", NULL AS name
    FROM exchange_job_matches x JOIN members m ON m.id = x.member_id JOIN households h ON h.id = m.household_id
    WHERE x.job_id = ${jobId} AND h.status <> 'CLOSED'
    AND NOT EXISTS (SELECT 1 FROM members l WHERE l.household_id = h.id AND l.active AND l.deceased_at IS NULL)
    ORDER BY h.region_code, h.id`)
}

/** Living active members in the area of households not closed that match `condition` on m. */
export async function membersWhere (db: DbOrTx, area: string, condition: ReturnType<typeof sql>, jobId?: string): Promise<FindingRow[]> {
  return await queryRows<FindingRow>(db, sql`SELECT m.id AS "memberId", m.household_id AS "householdId", m.region_code AS "regionCode", m.name
    FROM members m JOIN households h ON h.id = m.household_id
    WHERE m.active AND m.deceased_at IS NULL AND h.status <> 'CLOSED' AND m.region_code LIKE ${area + '%'} AND ${condition}
    ${jobId !== undefined ? sql`AND EXISTS (SELECT 1 FROM exchange_job_matches x WHERE x.job_id = ${jobId} AND x.member_id = m.id)` : sql``}
    ORDER BY m.region_code, m.id`)
}

/** The number of work items of each finding of a job. */
export async function findingCounts (db: DbOrTx, jobId: string): Promise<Record<string, number>> {
  const rows = await db.select({ finding: workItems.finding, n: sql<number>`count(*)::int` }).from(workItems)
    .where(eq(workItems.jobId, jobId)).groupBy(workItems.finding)
  return Object.fromEntries(rows.map(r => [r.finding, r.n]))
}

export async function insertWorkItems (tx: DbOrTx, rows: WorkItemInsert[]): Promise<void> {
  await insertMany(tx, workItems, rows)
}

export async function workItemsOfJob (db: DbOrTx, jobId: string): Promise<WorkItemRow[]> {
  return await db.select().from(workItems).where(eq(workItems.jobId, jobId)).orderBy(asc(workItems.regionCode), asc(workItems.id))
}

export interface WorkItemQuery { regionCode: string, status?: string | null, finding?: string | null, jobId?: string | null }

/** Work items in the caller's area, ordered by id within the keyset bounds of `range` (descending when backward). */
export async function listWorkItems (db: DbOrTx, p: Principal, q: WorkItemQuery, range: IdRange, limit: number): Promise<WorkItemRow[]> {
  return await db.select().from(workItems).where(and(workItemWhere(p, q), idBounds(workItems.id, range))).orderBy(idOrder(workItems.id, range)).limit(limit)
}

export async function countWorkItems (db: DbOrTx, p: Principal, q: WorkItemQuery): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(workItems).where(workItemWhere(p, q))
  return row?.n ?? 0
}

function workItemWhere (p: Principal, q: WorkItemQuery) {
  return and(
    inArea(workItems.regionCode, p),
    like(workItems.regionCode, `${q.regionCode}%`),
    q.status != null ? eq(workItems.status, q.status) : undefined,
    q.finding != null ? eq(workItems.finding, q.finding) : undefined,
    q.jobId != null ? eq(workItems.jobId, q.jobId) : undefined
  )
}

export async function findWorkItem (db: DbOrTx, p: Principal, id: string): Promise<WorkItemRow | null> {
  const [row] = await db.select().from(workItems).where(and(eq(workItems.id, id), inArea(workItems.regionCode, p)))
  return row ?? null
}

export async function updateWorkItem (tx: DbOrTx, p: Principal, id: string, expectedVersion: number, changes: Partial<Pick<WorkItemRow, 'status' | 'disposition' | 'note' | 'resolvedBy' | 'resolvedAt'>>): Promise<WorkItemRow | null> {
  const [row] = await tx.update(workItems).set({ ...changes, version: sql`${workItems.version} + 1` })
    .where(and(eq(workItems.id, id), inArea(workItems.regionCode, p), eq(workItems.version, expectedVersion))).returning()
  return row ?? null
}
