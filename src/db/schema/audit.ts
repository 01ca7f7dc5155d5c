import { bigint, index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core'
import { regionCode } from './types.js'

/**
 * Append-only, hash-chained audit trail (contract §9). A trigger (migration
 * 0001) refuses UPDATE, DELETE and TRUNCATE. `hash` = sha256 over the entry's
 * canonical content and `prev_hash`, so any alteration breaks the chain.
 */
export const auditEvents = pgTable('audit_events', {
  seq: bigint('seq', { mode: 'bigint' }).primaryKey(),
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
  prevHash: text('prev_hash').notNull(),
  hash: text('hash').notNull()
}, (t) => [
  index('audit_events_region_seq_idx').on(t.regionCode, t.seq),
  index('audit_events_entity_idx').on(t.entity, t.entityId, t.seq)
])
