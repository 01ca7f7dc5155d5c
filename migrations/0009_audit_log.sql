-- The audit trail becomes a Merkle log sequenced after commit (contract §9).
-- Writers append entries with no shared lock: an entry's id comes from a sequence and
-- its txid is the writer's transaction. One sequencer gives committed entries their
-- positions (audit_log), the tree's complete subtrees (audit_tree_nodes) and signed heads.
-- The entries chained before this migration keep their order: their txid reads as 1
-- (the column's default when added, below any real transaction id), so the sequencer
-- takes them first, in the order of their old seq (now their id).
ALTER TABLE "audit_events" RENAME COLUMN "seq" TO "id";--> statement-breakpoint
CREATE SEQUENCE "audit_events_id_seq" AS bigint OWNED BY "audit_events"."id";--> statement-breakpoint
SELECT setval('audit_events_id_seq', (SELECT coalesce(max("id"), 0) + 1 FROM "audit_events"), false);--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "id" SET DEFAULT nextval('audit_events_id_seq');--> statement-breakpoint
ALTER TABLE "audit_events" ADD COLUMN "txid" "xid8" DEFAULT '1' NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "txid" SET DEFAULT pg_current_xact_id();--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "prev_hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "hash" DROP NOT NULL;--> statement-breakpoint
-- Area reads now page the log (audit_log_region_seq_idx); one index less for every write.
DROP INDEX "audit_events_region_seq_idx";--> statement-breakpoint
DROP INDEX "audit_events_entity_idx";--> statement-breakpoint
CREATE INDEX "audit_events_entity_idx" ON "audit_events" USING btree ("entity","entity_id","id");--> statement-breakpoint
CREATE INDEX "audit_events_txid_idx" ON "audit_events" USING btree ("txid");--> statement-breakpoint
CREATE TABLE "audit_log" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"entry_id" bigint NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"leaf_hash" bytea NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "audit_log_entry_idx" ON "audit_log" USING btree ("entry_id");--> statement-breakpoint
CREATE INDEX "audit_log_region_seq_idx" ON "audit_log" USING btree ("region_code","seq");--> statement-breakpoint
CREATE TABLE "audit_tree_nodes" (
	"level" smallint NOT NULL,
	"idx" bigint NOT NULL,
	"hash" bytea NOT NULL,
	CONSTRAINT "audit_tree_nodes_level_idx_pk" PRIMARY KEY("level","idx")
);
--> statement-breakpoint
CREATE TABLE "audit_tree_heads" (
	"tree_size" bigint PRIMARY KEY NOT NULL,
	"root_hash" bytea NOT NULL,
	"signed_at" timestamp with time zone NOT NULL,
	"key_id" text NOT NULL,
	"signature" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_sequencer" (
	"id" smallint PRIMARY KEY NOT NULL,
	"tree_size" bigint NOT NULL,
	"snapshot" pg_snapshot NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
-- Nothing sequenced yet; every transaction (from 1 on) is still to be looked at.
INSERT INTO "audit_sequencer" ("id", "tree_size", "snapshot", "updated_at") VALUES (1, 0, '1:1:', now());--> statement-breakpoint
-- The log, its nodes and its heads are append-only like the entries.
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
--> statement-breakpoint
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON "audit_log" FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON "audit_log" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_tree_nodes_no_update_delete BEFORE UPDATE OR DELETE ON "audit_tree_nodes" FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_tree_nodes_no_truncate BEFORE TRUNCATE ON "audit_tree_nodes" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_tree_heads_no_update_delete BEFORE UPDATE OR DELETE ON "audit_tree_heads" FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_tree_heads_no_truncate BEFORE TRUNCATE ON "audit_tree_heads" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
