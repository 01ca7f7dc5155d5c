import { sql, type SQL } from 'drizzle-orm'
import { insertMany, preparedStatement, queryRows, type DbOrTx } from '../../db/index.js'
import { auditEvents } from '../../db/schema/index.js'
import type { Principal } from '../../shared/principal.js'
import { NOT_CHANGES } from './audit-entry.js'

export type AuditInsert = typeof auditEvents.$inferInsert

/** One statement for any number of entries, and no lock: see the schema. */
export async function insertEntries (tx: DbOrTx, rows: AuditInsert[]): Promise<void> {
  await insertMany(tx, auditEvents, rows)
}

/**
 * The audit entry of the row returned by the data-modifying CTE `u` of the same statement,
 * as a CTE beside it: the change and its entry commit together without a transaction of
 * their own (one statement is atomic). For statements prepared once: the entity is part
 * of the text; the entry's values are the placeholders `at`, `actorSub`, `actorRole`,
 * `action`, `before` and `after` (JSON text) — see `entryParams`.
 */
export const entryOfUpdatedRow = (entity: string): SQL => sql`INSERT INTO ${auditEvents} (at, actor_sub, actor_role, action, entity, entity_id, region_code, before, after)
  SELECT ${sql.placeholder('at')}::timestamptz, ${sql.placeholder('actorSub')}, ${sql.placeholder('actorRole')}, ${sql.placeholder('action')}, ${sql.raw(`'${entity.replace(/'/g, "''")}'`)},
    u.id::text, u.region_code, ${sql.placeholder('before')}::jsonb, ${sql.placeholder('after')}::jsonb FROM u`

/** The values of `entryOfUpdatedRow`'s placeholders. */
export const entryParams = (actor: { sub: string, role: string }, at: Date, action: string, before: unknown, after: unknown): Record<string, string> =>
  ({ at: at.toISOString(), actorSub: actor.sub, actorRole: actor.role, action, before: JSON.stringify(before ?? null), after: JSON.stringify(after ?? null) })

/** An entry as read for the log: ids and positions as decimal text, on either driver. */
export interface EntryRow {
  id: string
  at: Date
  actorSub: string
  actorRole: string
  action: string
  entity: string
  entityId: string
  regionCode: string
  source: string | null
  before: unknown
  after: unknown
}

export interface LoggedRow extends EntryRow { seq: string, leafHash: string }

const ENTRY_SELECT = `e.id::text AS "id", e.at AS "at", e.actor_sub AS "actorSub", e.actor_role AS "actorRole", e.action AS "action",
  e.entity AS "entity", e.entity_id AS "entityId", e.region_code AS "regionCode", e.source AS "source", e.before AS "before", e.after AS "after"`
const ENTRY_COLUMNS = sql.raw(ENTRY_SELECT)
/**
 * The entry of each position `l`, looked up by its key (id, at) in its own month's
 * partition: a lateral lookup (kept from being flattened into a join by its LIMIT), so
 * that a slice of the log costs one index probe per position however long the log —
 * a plain join of two partitioned tables is planned as a hash join over every entry.
 */
const ENTRY_OF_POSITION = sql.raw('CROSS JOIN LATERAL (SELECT * FROM audit_events e1 WHERE e1.id = l.entry_id AND e1.at = l.at LIMIT 1) e')
const LOGGED_COLUMNS = sql.raw(`l.seq::text AS "seq", encode(l.leaf_hash, 'hex') AS "leafHash", ${ENTRY_SELECT}`)

// ---- the sequencer ----------------------------------------------------------------

export interface SequencerState { treeSize: string, snapshot: string, current: string }

/**
 * The planner settings of a transaction that looks for unsequenced entries (a step, a
 * pending count), as `set_config(…, true)` (SET LOCAL) calls to run in the same round trip
 * as the transaction's first statement. A look reads a few index entries whatever the
 * log's size, and its plans must stay that shape:
 * - no parallel workers: costing the anti-join at a few thousand, the planner started two
 *   for the look — about 8 ms of process start-up on every step, 20 steps a second;
 * - no sequential scan, hash join or merge join. The look is a prepared statement, and
 *   PostgreSQL keeps the generic plan it settles on for the connection's life, replanning
 *   only when the tables' statistics change. Planned while the month was nearly empty (a
 *   new month, a new database) — where scanning it whole and hashing the log is cheapest —
 *   that plan read the whole month on every step as it filled, unless an ANALYZE came to
 *   replan it: with autovacuum behind or off, a cost growing with the month (939 scans of
 *   up to 80,000 entries in one benchmark run). With these off, every plan is the index
 *   ranges on `txid` and one `(entry_id, at)` probe of the log per candidate.
 */
const LOOK_SETTINGS = sql`set_config('max_parallel_workers_per_gather', '0', true), set_config('enable_seqscan', 'off', true),
  set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`

/**
 * The sequencer's row, locked, with the snapshot this (repeatable read) transaction
 * sees. A second sequencer at the same moment waits here, then fails to serialise.
 * The step's statements then run with the look's planner settings (`LOOK_SETTINGS`).
 */
export async function lockSequencer (tx: DbOrTx): Promise<SequencerState> {
  const [row] = await queryRows<SequencerState>(tx, sql`SELECT ${LOOK_SETTINGS},
    tree_size::text AS "treeSize", snapshot::text AS "snapshot", pg_current_snapshot()::text AS "current"
    FROM audit_sequencer WHERE id = 1 FOR UPDATE`)
  return row!
}

/**
 * Entries committed but not yet in the log: those of transactions invisible to the
 * sequencer's last complete look (`snapshot`, its text `xmin:xmax:xip,…`: begun after it,
 * txid ≥ xmax, or in progress then, txid ∈ xip) that this transaction sees. The two halves
 * are separate subqueries, so that each partition answers by its `txid` index — a range
 * from xmax and a few keys — however long the log, and a long transaction elsewhere does
 * not widen the scan; an entry already logged is skipped by the log's (entry_id, at)
 * index, in the entry's own partition.
 *
 * The range is closed above by the xmax of the reader's own snapshot (it sees no entry of
 * a transaction at or after it, so nothing is left out): the planner then keeps to the
 * index whatever the statistics say, in a plan for the values (custom) as in one for any
 * values (generic: a range between two unknowns is estimated at 0.5 %). Open-ended,
 * `txid >= xmax` on a month's partition not analysed since it filled (autovacuum behind or
 * off, a new month, a bulk load) was estimated at a third of the partition and read by a
 * sequential scan — every step costing time in proportion to the month's entries (19 ms a
 * step at 50,000).
 */
function unsequenced (withXip: boolean, columns: SQL, limited: boolean): SQL {
  const notLogged = sql`NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.entry_id = e.id AND l.at = e.at)`
  const tail = limited ? sql`ORDER BY e.txid, e.id LIMIT ${sql.placeholder('limit')}` : sql``
  const halves = [sql`(SELECT ${columns} FROM audit_events e WHERE e.txid >= ${sql.placeholder('xmax')}::xid8 AND e.txid < pg_snapshot_xmax(pg_current_snapshot()) AND ${notLogged} ${tail})`]
  if (withXip) halves.push(sql`(SELECT ${columns} FROM audit_events e WHERE e.txid = ANY(${sql.placeholder('xip')}::xid8[]) AND ${notLogged} ${tail})`)
  return sql.join(halves, sql` UNION ALL `)
}

/** The values of `unsequenced`'s placeholders for a saved snapshot, and whether it has transactions in progress (xip). */
export function snapshotValues (snapshot: string): { withXip: boolean, values: { xmax: string, xip: string } } {
  const [, xmax = '', xip = ''] = snapshot.split(':')
  return { withXip: xip !== '', values: { xmax, xip: `{${xip}}` } }
}

/** An entry as the sequencer reads it, with its `at` exactly as stored (to the microsecond): the log's partition key. */
export interface UnsequencedRow extends EntryRow { atKey: string }

/** The statement of `unsequencedEntries`, placeholders `xmax`, `xip` and `limit` (exported for the test of its plan). */
export const unsequencedQuery = (withXip: boolean): SQL => sql`SELECT c.* FROM (${unsequenced(withXip, sql`${ENTRY_COLUMNS}, e.at::text AS "atKey", e.txid AS "txid", e.id AS "order"`, true)}) c
    ORDER BY c."txid", c."order" LIMIT ${sql.placeholder('limit')}`

// Prepared: the look runs 20 times a second under load, and parsing and planning it (six
// partitions) cost more than running it.
const looks = [false, true].map(withXip => preparedStatement<UnsequencedRow>(`audit_unsequenced_${withXip ? 'xip' : 'range'}`, unsequencedQuery(withXip)))
const pendings = [false, true].map(withXip => preparedStatement<{ n: number }>(`audit_pending_${withXip ? 'xip' : 'range'}`,
  sql`SELECT count(*)::int AS n FROM (${unsequenced(withXip, sql`1`, false)}) c`))

/** Oldest transaction first, each in insert order. */
export async function unsequencedEntries (tx: DbOrTx, snapshot: string, limit: number): Promise<UnsequencedRow[]> {
  const { withXip, values } = snapshotValues(snapshot)
  return await looks[Number(withXip)]!(tx, { ...values, limit })
}

/**
 * Committed entries still waiting for their position (any snapshot the sequencer saved
 * will do: an entry not in the log is invisible to each), counted in a transaction with
 * the look's planner settings.
 */
export async function pendingCount (db: DbOrTx): Promise<number> {
  return await db.transaction(async (tx) => {
    const [state] = await queryRows<{ snapshot: string }>(tx, sql`SELECT ${LOOK_SETTINGS}, snapshot::text AS snapshot FROM audit_sequencer WHERE id = 1`)
    const { withXip, values } = snapshotValues(state!.snapshot)
    const [row] = await pendings[Number(withXip)]!(tx, values)
    return row?.n ?? 0
  })
}

export interface LogRow { seq: number, entryId: string, at: string, regionCode: string, leafHash: string, change: boolean }
export interface TreeNodeRow { level: number, index: number, hash: string }

/**
 * What a step writes, as one prepared statement (one round trip instead of three): the
 * entries' positions and leaf hashes, the tree's new complete nodes, and the sequencer's
 * new size and snapshot.
 */
const saveStepStatement = preparedStatement('audit_save_step', sql`WITH log AS (
      INSERT INTO audit_log (seq, entry_id, at, region_code, leaf_hash, change)
      SELECT (v->>'seq')::bigint, (v->>'entryId')::bigint, (v->>'at')::timestamptz, v->>'regionCode', decode(v->>'leafHash', 'hex'), (v->>'change')::boolean FROM jsonb_array_elements(${sql.placeholder('log')}::jsonb) v
    ), nodes AS (
      INSERT INTO audit_tree_nodes (level, idx, hash)
      SELECT (v->>'level')::smallint, (v->>'index')::bigint, decode(v->>'hash', 'hex') FROM jsonb_array_elements(${sql.placeholder('nodes')}::jsonb) v
    )
    UPDATE audit_sequencer SET tree_size = ${sql.placeholder('treeSize')}, snapshot = ${sql.placeholder('snapshot')}::pg_snapshot, updated_at = ${sql.placeholder('at')}::timestamptz WHERE id = 1`)

export async function saveStep (tx: DbOrTx, log: LogRow[], nodes: TreeNodeRow[], treeSize: number, snapshot: string, at: Date): Promise<void> {
  await saveStepStatement(tx, { log: JSON.stringify(log), nodes: JSON.stringify(nodes), treeSize, snapshot, at: at.toISOString() })
}

export async function treeSize (db: DbOrTx): Promise<number> {
  const [row] = await queryRows<{ n: string }>(db, sql`SELECT tree_size::text AS n FROM audit_sequencer WHERE id = 1`)
  return Number(row!.n)
}

/** Stored hashes of complete subtrees (level 0: the leaves, from the log or, once archived, from the nodes), keyed `level:index`, as hex. */
export async function readNodes (db: DbOrTx, keys: ReadonlyArray<{ level: number, index: number }>): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map()
  const json = JSON.stringify(keys.map(k => ({ level: k.level, idx: k.index })))
  const rows = await queryRows<{ key: string, hash: string | null }>(db, sql`
    SELECT k.level || ':' || k.idx AS key, encode(coalesce(n.hash, l.leaf_hash), 'hex') AS hash
    FROM jsonb_to_recordset(${json}::jsonb) AS k(level int, idx bigint)
    LEFT JOIN audit_tree_nodes n ON n.level = k.level AND n.idx = k.idx
    LEFT JOIN audit_log l ON k.level = 0 AND n.hash IS NULL AND l.seq = k.idx + 1`)
  return new Map(rows.flatMap(r => r.hash === null ? [] : [[r.key, r.hash] as const]))
}

// ---- tree heads ---------------------------------------------------------------------

export interface HeadRow { treeSize: string, rootHash: string, signedAt: Date, keyId: string, signature: string }

const HEAD_COLUMNS = sql.raw(`tree_size::text AS "treeSize", encode(root_hash, 'hex') AS "rootHash", signed_at AS "signedAt", key_id AS "keyId", signature AS "signature"`)

export async function latestHead (db: DbOrTx): Promise<HeadRow | null> {
  const [row] = await queryRows<HeadRow>(db, sql`SELECT ${HEAD_COLUMNS} FROM audit_tree_heads ORDER BY tree_size DESC LIMIT 1`)
  return row ?? null
}

/** Stores a head unless one of that size is stored already (another process signed it first). */
export async function insertHead (db: DbOrTx, head: { treeSize: number, rootHash: string, signedAt: Date, keyId: string, signature: string }): Promise<void> {
  await db.execute(sql`INSERT INTO audit_tree_heads (tree_size, root_hash, signed_at, key_id, signature)
    VALUES (${head.treeSize}, decode(${head.rootHash}, 'hex'), ${head.signedAt}, ${head.keyId}, ${head.signature}) ON CONFLICT (tree_size) DO NOTHING`)
}

export async function headsBetween (db: DbOrTx, afterSize: number, upToSize: number, limit: number): Promise<HeadRow[]> {
  return await queryRows<HeadRow>(db, sql`SELECT ${HEAD_COLUMNS} FROM audit_tree_heads WHERE tree_size > ${afterSize} AND tree_size <= ${upToSize} ORDER BY tree_size LIMIT ${limit}`)
}

// ---- reading the log ----------------------------------------------------------------

/** Positions from..to (inclusive) in order, each with its entry. */
export async function logRange (db: DbOrTx, from: number, to: number): Promise<LoggedRow[]> {
  return await queryRows<LoggedRow>(db, sql`SELECT ${LOGGED_COLUMNS} FROM audit_log l ${ENTRY_OF_POSITION}
    WHERE l.seq BETWEEN ${from} AND ${to} ORDER BY l.seq`)
}

export interface AuditQuery {
  entity?: string | null
  entityId?: string | null
  actorSub?: string | null
  from?: Date | null
  to?: Date | null
}

function areaOf (p: Principal): SQL {
  return sql`l.region_code LIKE ${p.regionCode + '%'}`
}

/**
 * Where an area read starts. `positions`: it walks the area's positions newest (or
 * oldest) first by audit_log_region_seq_idx, looking up each one's entry, and stops at
 * the end of its page — cheap for the filters most entries match (none, an entity kind,
 * a period: only that period's months are read). `entries`: it starts from the entries
 * the filter names, by an index of theirs — a record's (`entityId`,
 * audit_events_entity_id_idx) or a person's (`actorSub`, audit_events_actor_sub_idx) —
 * and looks up each one's position by audit_log_entry_idx: a cost in proportion to
 * those entries, however long the log, where the walk would read the area's log of the
 * period until a page was full (0.7 s for a person with 20 entries among 300,000).
 */
export type ReadFrom = 'positions' | 'entries'

/**
 * A person with more entries than this in the period is read by walking the log: their
 * entries are then a good share of it, and a page of them is found in a short walk,
 * where starting from them would look up and sort every one.
 */
export const ACTOR_ENTRIES_FIRST = 10_000

/** The position of each entry `e`: the mirror of ENTRY_OF_POSITION, for reads that start from the entries. */
const POSITION_OF_ENTRY = sql.raw('CROSS JOIN LATERAL (SELECT * FROM audit_log l1 WHERE l1.entry_id = e.id AND l1.at = e.at LIMIT 1) l')

/** The entries an area read looks at, each with its position `l` and entry `e`. */
function areaEntries (from: ReadFrom): SQL {
  return from === 'entries' ? sql`audit_events e ${POSITION_OF_ENTRY}` : sql`audit_log l ${ENTRY_OF_POSITION}`
}

/** The period's bounds on the `at` of the side a read starts from (the same on both), so that only its months are read. */
function period (q: AuditQuery, from: ReadFrom): SQL[] {
  const at = sql.raw(from === 'entries' ? 'e.at' : 'l.at')
  return [...(q.from != null ? [sql`${at} >= ${q.from}`] : []), ...(q.to != null ? [sql`${at} <= ${q.to}`] : [])]
}

function where (p: Principal, q: AuditQuery, from: ReadFrom): SQL {
  const parts = [areaOf(p)]
  if (q.entity != null) parts.push(sql`e.entity = ${q.entity}`)
  if (q.entityId != null) parts.push(sql`e.entity_id = ${q.entityId}`)
  if (q.actorSub != null) parts.push(sql`e.actor_sub = ${q.actorSub}`)
  return sql.join([...parts, ...period(q, from)], sql` AND `)
}

/**
 * Where a page of `q` starts: from a record's entries always (a record's history is
 * short); from a person's entries when they have at most ACTOR_ENTRIES_FIRST in the
 * period — counted by their index, up to one more than that —; else from the positions.
 */
export async function readFrom (db: DbOrTx, q: AuditQuery): Promise<ReadFrom> {
  if (q.entityId != null) return 'entries'
  if (q.actorSub == null) return 'positions'
  const theirs = sql.join([sql`e.actor_sub = ${q.actorSub}`, ...period(q, 'entries')], sql` AND `)
  const [row] = await queryRows<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM audit_events e WHERE ${theirs} LIMIT ${ACTOR_ENTRIES_FIRST + 1}) x`)
  return row!.n <= ACTOR_ENTRIES_FIRST ? 'entries' : 'positions'
}

/**
 * Sequenced entries in the principal's area in the list's order (newest first) after the
 * cursor `after` and before `before` (both positions, exclusive); a backward page is read
 * from its end (oldest first), the caller turns it around.
 */
export const listInAreaQuery = (p: Principal, q: AuditQuery, range: { after: bigint | null, before: bigint | null, backward: boolean }, limit: number, from: ReadFrom): SQL =>
  sql`SELECT ${LOGGED_COLUMNS} FROM ${areaEntries(from)}
    WHERE ${where(p, q, from)} ${range.after !== null ? sql`AND l.seq < ${range.after.toString()}` : sql``} ${range.before !== null ? sql`AND l.seq > ${range.before.toString()}` : sql``}
    ORDER BY l.seq ${range.backward ? sql`ASC` : sql`DESC`} LIMIT ${limit}`

export async function listInArea (db: DbOrTx, p: Principal, q: AuditQuery, range: { after: bigint | null, before: bigint | null, backward: boolean }, limit: number): Promise<LoggedRow[]> {
  return await queryRows<LoggedRow>(db, listInAreaQuery(p, q, range, limit, await readFrom(db, q)))
}

/**
 * How many entries `listInArea` would list in all. With no filter on the entries
 * themselves (an area, a period) the positions alone are counted, by the log's region
 * index: every position of a retained month has its entry (a month's positions are
 * detached with its entries), and looking each one up cost 18 times as much (0.85 s
 * against 0.05 s for 300,000 entries). A record's or a person's entries are counted from
 * those entries, however many: never more than a walk of the area's log would look up.
 */
export const countInAreaQuery = (p: Principal, q: AuditQuery): SQL => {
  if (q.entity == null && q.entityId == null && q.actorSub == null) return sql`SELECT count(*)::int AS n FROM audit_log l WHERE ${where(p, q, 'positions')}`
  const from: ReadFrom = q.entityId != null || q.actorSub != null ? 'entries' : 'positions'
  return sql`SELECT count(*)::int AS n FROM ${areaEntries(from)} WHERE ${where(p, q, from)}`
}

export async function countInArea (db: DbOrTx, p: Principal, q: AuditQuery): Promise<number> {
  const [row] = await queryRows<{ n: number }>(db, countInAreaQuery(p, q))
  return row?.n ?? 0
}

/**
 * The change feed's page: the positions of changes in the area after `afterSeq`, by the
 * partial index of the positions whose entry records a change (`audit_log_changes_idx`,
 * migration 0016), so that the reads between them cost nothing, however many. Positions
 * sequenced before it (`change` null) are in that index too, and their reads are left out
 * by their entries' action.
 */
export const changesInAreaQuery = (p: Principal, afterSeq: bigint, limit: number): SQL => sql`SELECT l.seq::text AS "seq", e.at AS "at", e.entity AS "entity", e.entity_id AS "entityId", e.action AS "action",
      (e.before IS NOT NULL AND e.before <> 'null'::jsonb) AS "hasBefore"
    FROM audit_log l ${ENTRY_OF_POSITION}
    WHERE ${areaOf(p)} AND l.seq > ${afterSeq.toString()} AND l.change IS NOT FALSE
      AND e.action NOT IN (${sql.join(NOT_CHANGES.map(a => sql`${a}`), sql`, `)})
    ORDER BY l.seq LIMIT ${limit}`

export async function changesInArea (db: DbOrTx, p: Principal, afterSeq: bigint, limit: number): Promise<Array<{ seq: string, at: Date, entity: string, entityId: string, action: string, hasBefore: boolean }>> {
  return await queryRows(db, changesInAreaQuery(p, afterSeq, limit))
}

// ---- partitions and archives ------------------------------------------------------

/**
 * Makes the partitions of the month of `at` and of the `ahead` months after it where they
 * are missing (audit_ensure_month, migration 0013); true when it made any. Making a month
 * locks its parent in SHARE ROW EXCLUSIVE mode (writers wait while it is attached; an entry routed to
 * DEFAULT meanwhile would fail): bounded by a lock timeout, the caller tries again later.
 */
export async function ensureMonths (db: DbOrTx, at: Date, ahead: number): Promise<boolean> {
  return await db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL lock_timeout = '2s'`)
    const [row] = await queryRows<{ created: boolean | null }>(tx, sql`SELECT bool_or(audit_ensure_month((${at}::timestamptz AT TIME ZONE 'UTC' + make_interval(months => m)) AT TIME ZONE 'UTC')) AS created
      FROM generate_series(0, ${ahead}::int) m`)
    return row?.created === true
  })
}

/** Entries that fell into the DEFAULT partition (dated in a month with no partition), by UTC month `YYYY-MM`. */
export async function entriesInDefault (db: DbOrTx): Promise<Array<{ month: string, entries: number }>> {
  return await queryRows(db, sql`SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*)::int AS entries FROM audit_events_default GROUP BY 1 ORDER BY 1`)
}

export interface ArchiveRow { month: string, firstSeq: string | null, lastSeq: string | null, entries: string }

/** The months archived, oldest first. */
export async function archives (db: DbOrTx): Promise<ArchiveRow[]> {
  return await queryRows<ArchiveRow>(db, sql`SELECT month, first_seq::text AS "firstSeq", last_seq::text AS "lastSeq", entries::text AS entries FROM audit_archives ORDER BY month`)
}

/** The leaves of archived positions from..to (kept in the nodes at level 0), by position. */
export async function archivedLeaves (db: DbOrTx, from: number, to: number): Promise<Map<number, string>> {
  const rows = await queryRows<{ seq: string, hash: string }>(db, sql`SELECT (idx + 1)::text AS seq, encode(hash, 'hex') AS hash FROM audit_tree_nodes
    WHERE level = 0 AND idx BETWEEN ${from - 1} AND ${to - 1}`)
  return new Map(rows.map(r => [Number(r.seq), r.hash]))
}

/** The last position of any archived month and the months archived (null when none is). */
export async function archivedThrough (db: DbOrTx): Promise<{ lastSeq: bigint, months: string[] } | null> {
  const [row] = await queryRows<{ last: string | null, months: string[] | null }>(db, sql`SELECT max(last_seq)::text AS last, array_agg(replace(month, '_', '-') ORDER BY month) AS months FROM audit_archives`)
  return row?.last == null ? null : { lastSeq: BigInt(row.last), months: row.months ?? [] }
}
