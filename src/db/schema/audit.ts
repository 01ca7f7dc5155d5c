import { sql } from 'drizzle-orm'
import { bigint, bigserial, boolean, customType, index, jsonb, pgTable, smallint, text, timestamp, uniqueIndex, primaryKey } from 'drizzle-orm/pg-core'
import { regionCode } from './types.js'

/** A 64-bit transaction id (`pg_current_xact_id()`), carried as its decimal text. */
const xid8 = customType<{ data: string, driverData: string }>({ dataType: () => 'xid8' })
/** A snapshot (`pg_current_snapshot()`) in its text form `xmin:xmax:xip,…`. */
const pgSnapshot = customType<{ data: string, driverData: string }>({ dataType: () => 'pg_snapshot' })
/** A SHA-256 hash. */
const hash = customType<{ data: Buffer, driverData: Buffer }>({ dataType: () => 'bytea' })

/**
 * Audit entries as their changes commit them (contract §9). Appending takes no shared
 * lock: `id` comes from a sequence (which never waits for another transaction) and
 * `txid` is the writer's transaction id, by which the sequencer finds the entries
 * that became visible since its last look. Append-only: a trigger refuses UPDATE,
 * DELETE and TRUNCATE (migration 0001). `prev_hash`/`hash` are the hash chain of the
 * entries written before the Merkle log (migration 0009), null on later ones.
 * Partitioned by UTC month of `at` (migration 0013, docs/audit.md "Partitions and
 * retention"), hence `at` in the primary key; `id` is unique by its sequence.
 */
export const auditEvents = pgTable('audit_events', {
  id: bigserial('id', { mode: 'bigint' }).notNull(),
  txid: xid8('txid').notNull().default(sql`pg_current_xact_id()`),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
  actorSub: text('actor_sub').notNull(),
  actorRole: text('actor_role').notNull(),
  action: text('action').notNull(),
  entity: text('entity').notNull(),
  entityId: text('entity_id').notNull(),
  /** Region code of the record the entry is about: the area rule for readers. */
  regionCode: regionCode('region_code').notNull(),
  /** Where the change came from when not a direct request, e.g. `exchange-job:<id>`. */
  source: text('source'),
  before: jsonb('before'),
  after: jsonb('after'),
  prevHash: text('prev_hash'),
  hash: text('hash')
}, (t) => [
  primaryKey({ columns: [t.id, t.at] }),
  index('audit_events_txid_idx').on(t.txid),
  // A record's history (auditLog's entityId filter) starts here: src/modules/audit/audit-repository.ts `readFrom`.
  index('audit_events_entity_id_idx').on(t.entityId, t.id),
  // And one person's few entries of a period (auditLog's actorSub filter).
  index('audit_events_actor_sub_idx').on(t.actorSub, t.at)
])

/**
 * The verifiable log: entry `entry_id` at position `seq` (1, 2, 3 … with no gaps), in
 * the order the sequencer saw the entries commit, with its RFC 9162 leaf hash. The
 * region is copied from the entry so that area reads page the log by one index, and its
 * `at`, by which the log is partitioned like the entries (a month's positions are
 * detached with its entries). `seq` is unique by the one sequencer.
 */
export const auditLog = pgTable('audit_log', {
  seq: bigint('seq', { mode: 'bigint' }).notNull(),
  entryId: bigint('entry_id', { mode: 'bigint' }).notNull(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
  regionCode: regionCode('region_code').notNull(),
  leafHash: hash('leaf_hash').notNull(),
  /**
   * Whether the entry records a change of a record (false: a read, a refused
   * registration), copied by the sequencer from the entry's action so that the change
   * feed pages the changes alone (`audit_log_changes_idx`) without looking up every
   * read's entry; null on positions sequenced before migration 0016 (the feed looks
   * their entries up).
   */
  change: boolean('change')
}, (t) => [
  primaryKey({ columns: [t.seq, t.at] }),
  uniqueIndex('audit_log_entry_idx').on(t.entryId, t.at),
  index('audit_log_region_seq_idx').on(t.regionCode, t.seq),
  index('audit_log_changes_idx').on(t.regionCode, t.seq).where(sql`${t.change} IS NOT FALSE`)
])

/**
 * Every complete subtree of the Merkle tree above the leaves: node (`level`, `idx`)
 * is the hash of leaves [idx·2^level, (idx+1)·2^level). A proof reads O(log n) of them.
 * Kept for ever; the leaves (level 0) of an archived month are copied here when its
 * positions are detached, so that proofs and the root never need the archive.
 */
export const auditTreeNodes = pgTable('audit_tree_nodes', {
  level: smallint('level').notNull(),
  idx: bigint('idx', { mode: 'bigint' }).notNull(),
  hash: hash('hash').notNull()
}, (t) => [primaryKey({ columns: [t.level, t.idx] })])

/** Signed tree heads, kept for ever (append-only). */
export const auditTreeHeads = pgTable('audit_tree_heads', {
  treeSize: bigint('tree_size', { mode: 'bigint' }).primaryKey(),
  rootHash: hash('root_hash').notNull(),
  signedAt: timestamp('signed_at', { withTimezone: true, mode: 'date' }).notNull(),
  keyId: text('key_id').notNull(),
  signature: text('signature').notNull()
})

/**
 * The sequencer's state, one row: the tree's size and the snapshot of its last complete
 * look (entries of transactions invisible in it are the ones still to sequence).
 */
export const auditSequencer = pgTable('audit_sequencer', {
  id: smallint('id').primaryKey(),
  treeSize: bigint('tree_size', { mode: 'bigint' }).notNull(),
  snapshot: pgSnapshot('snapshot').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull()
})

/**
 * Months archived (`npm run audit:archive`): exported with a signed head covering them,
 * then detached (and perhaps dropped). Positions first..last hold the month's entries
 * (and perhaps a few of the neighbouring months', sequenced in between). Append-only.
 */
export const auditArchives = pgTable('audit_archives', {
  /** `YYYY_MM`, the partitions' suffix. */
  month: text('month').primaryKey(),
  firstSeq: bigint('first_seq', { mode: 'bigint' }),
  lastSeq: bigint('last_seq', { mode: 'bigint' }),
  entries: bigint('entries', { mode: 'bigint' }).notNull(),
  treeSize: bigint('tree_size', { mode: 'bigint' }).notNull(),
  rootHash: hash('root_hash').notNull(),
  archivedAt: timestamp('archived_at', { withTimezone: true, mode: 'date' }).notNull(),
  dropped: boolean('dropped').notNull()
})
