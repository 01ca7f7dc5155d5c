-- A record's history — auditLog with an entityId filter (its entity optional) — is read
-- from that record's entries by this index, then their positions in the log by
-- audit_log_entry_idx: a few index probes however long the log. Before, it walked the
-- area's whole log newest first, looking up each position's entry, until a page matched:
-- 1.1 s at 300,000 entries, and in proportion beyond (minutes at a province's 100
-- million). The index on (entity, entity_id, id) it replaces served no query: with entity
-- first it could not serve entityId alone. Building it reads every month's entries once,
-- with writes of entries waiting meanwhile (CREATE INDEX on a partitioned table cannot be
-- CONCURRENTLY).
DROP INDEX "audit_events_entity_idx";--> statement-breakpoint
CREATE INDEX "audit_events_entity_id_idx" ON "audit_events" USING btree ("entity_id","id");
