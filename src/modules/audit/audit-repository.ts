import { and, asc, count, desc, eq, getTableColumns, gt, gte, lt, lte, notInArray, sql, type SQL } from 'drizzle-orm'
import { insertMany, type DbOrTx } from '../../db/index.js'
import { auditEvents } from '../../db/schema/index.js'
import { inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'

export type AuditRow = typeof auditEvents.$inferSelect

/** Every audit append takes this transaction-scoped lock, so the chain has one head. */
const CHAIN_LOCK = 4112_0002

export async function lockChainHead (tx: DbOrTx): Promise<{ seq: bigint, hash: string } | null> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${CHAIN_LOCK})`)
  const [head] = await tx.select({ seq: auditEvents.seq, hash: auditEvents.hash })
    .from(auditEvents).orderBy(desc(auditEvents.seq)).limit(1)
  return head ?? null
}

export async function insertEntries (tx: DbOrTx, rows: AuditRow[]): Promise<void> {
  await insertMany(tx, auditEvents, rows)
}

export interface AuditQuery {
  entity?: string | null
  entityId?: string | null
  actorSub?: string | null
  from?: Date | null
  to?: Date | null
}

function where (p: Principal, q: AuditQuery): SQL | undefined {
  return and(
    inArea(auditEvents.regionCode, p),
    q.entity != null ? eq(auditEvents.entity, q.entity) : undefined,
    q.entityId != null ? eq(auditEvents.entityId, q.entityId) : undefined,
    q.actorSub != null ? eq(auditEvents.actorSub, q.actorSub) : undefined,
    q.from != null ? gte(auditEvents.at, q.from) : undefined,
    q.to != null ? lte(auditEvents.at, q.to) : undefined
  )
}

/** Entries in the principal's area, newest first, after the keyset position `beforeSeq`. */
export async function listInArea (db: DbOrTx, p: Principal, q: AuditQuery, beforeSeq: bigint | null, limit: number): Promise<AuditRow[]> {
  return await db.select().from(auditEvents)
    .where(and(where(p, q), beforeSeq !== null ? lt(auditEvents.seq, beforeSeq) : undefined))
    .orderBy(desc(auditEvents.seq)).limit(limit)
}

export async function countInArea (db: DbOrTx, p: Principal, q: AuditQuery): Promise<number> {
  const [row] = await db.select({ n: count() }).from(auditEvents).where(where(p, q))
  return row?.n ?? 0
}

/** In-area entries with the stored hash of the entry before each (null when that entry is missing). */
export async function chainSlice (db: DbOrTx, p: Principal, afterSeq: bigint, limit: number): Promise<Array<AuditRow & { previousHash: string | null }>> {
  return await db.select({
    ...getTableColumns(auditEvents),
    previousHash: sql<string | null>`(SELECT p.hash FROM audit_events p WHERE p.seq = audit_events.seq - 1)`.as('previous_hash')
  }).from(auditEvents)
    .where(and(inArea(auditEvents.regionCode, p), gt(auditEvents.seq, afterSeq)))
    .orderBy(asc(auditEvents.seq)).limit(limit)
}

/** In-area entries after `afterSeq`, oldest first, leaving out the actions listed (reads). */
export async function changesInArea (db: DbOrTx, p: Principal, afterSeq: bigint, limit: number, excludeActions: readonly string[]): Promise<Array<Pick<AuditRow, 'seq' | 'at' | 'entity' | 'entityId' | 'action'> & { hasBefore: boolean }>> {
  return await db.select({
    seq: auditEvents.seq,
    at: auditEvents.at,
    entity: auditEvents.entity,
    entityId: auditEvents.entityId,
    action: auditEvents.action,
    hasBefore: sql<boolean>`(${auditEvents.before} IS NOT NULL AND ${auditEvents.before} <> 'null'::jsonb)`
  })
    .from(auditEvents)
    .where(and(inArea(auditEvents.regionCode, p), gt(auditEvents.seq, afterSeq), excludeActions.length > 0 ? notInArray(auditEvents.action, [...excludeActions]) : undefined))
    .orderBy(asc(auditEvents.seq)).limit(limit)
}
