-- The audit entries and the log's positions (what the change feed reads) grow for ever:
-- both become partitioned by UTC month of the entry's `at` (native declarative
-- partitioning; the same SQL on PGlite and PostgreSQL). The partition key is part of each
-- primary key and unique index: audit_events (id, at), audit_log (seq, at) and
-- (entry_id, at). `id` stays unique by its sequence (nothing inserts an id), `seq` by the
-- one sequencer (its row lock), and an entry has one `at`, so (entry_id, at) is still one
-- position per entry. audit_tree_nodes and audit_tree_heads stay as they are: they are
-- needed for ever for proofs (an archived month's leaf hashes are copied into the nodes at
-- level 0 when it is archived, see audit_archives).
--
-- audit_ensure_month(month) creates a month's two partitions (outside the tree, then
-- ATTACH). It first locks the parent in SHARE ROW EXCLUSIVE mode, so writers wait the few milliseconds
-- the attach takes: without it, an entry routed to the DEFAULT partition while the month
-- was attached failed ("violates partition constraint": its plan predates the partition);
-- the migration creates one for every month holding entries, the current and the next;
-- the sequencer's leader keeps creating the next ones. The DEFAULT partitions only catch
-- an entry dated where no month exists (a far-off clock): the leader reports them.
CREATE FUNCTION audit_month_suffix(month_start timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM')
$$;
--> statement-breakpoint
CREATE FUNCTION audit_ensure_month(month_start timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  lo timestamptz := date_trunc('month', month_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi timestamptz := (date_trunc('month', month_start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  suffix text := audit_month_suffix(lo);
  parent text;
  created boolean := false;
BEGIN
  FOREACH parent IN ARRAY ARRAY['audit_events', 'audit_log'] LOOP
    -- A month archived earlier keeps its name (detached, or dropped and recorded in audit_archives): never made again.
    IF to_regclass(parent || '_' || suffix) IS NULL AND NOT EXISTS (SELECT 1 FROM audit_archives WHERE month = suffix) THEN
      -- Self-conflicting, so two makers take turns; the second finds the month made.
      EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', parent);
      IF to_regclass(parent || '_' || suffix) IS NULL THEN
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', parent || '_' || suffix, parent);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, parent || '_' || suffix, lo, hi);
        -- Row triggers come with ATTACH; a statement trigger must be on the partition itself.
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()', parent || '_' || suffix || '_no_truncate', parent || '_' || suffix);
        created := true;
      END IF;
    END IF;
  END LOOP;
  RETURN created;
END
$$;
--> statement-breakpoint
-- Archived months: exported (with a signed head covering them) and then detached.
CREATE TABLE "audit_archives" (
	"month" text PRIMARY KEY NOT NULL,
	"first_seq" bigint,
	"last_seq" bigint,
	"entries" bigint NOT NULL,
	"tree_size" bigint NOT NULL,
	"root_hash" bytea NOT NULL,
	"archived_at" timestamp with time zone NOT NULL,
	"dropped" boolean NOT NULL
);
--> statement-breakpoint
CREATE TRIGGER audit_archives_no_update_delete BEFORE UPDATE OR DELETE ON "audit_archives" FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON "audit_archives" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
-- The old tables give way: their indexes' names are taken by the new ones; the id sequence is kept (and its value).
ALTER TABLE "audit_events" RENAME TO "audit_events_unpartitioned";--> statement-breakpoint
ALTER INDEX "audit_events_txid_idx" RENAME TO "audit_events_unpartitioned_txid_idx";--> statement-breakpoint
ALTER INDEX "audit_events_entity_idx" RENAME TO "audit_events_unpartitioned_entity_idx";--> statement-breakpoint
ALTER SEQUENCE "audit_events_id_seq" OWNED BY NONE;--> statement-breakpoint
ALTER TABLE "audit_log" RENAME TO "audit_log_unpartitioned";--> statement-breakpoint
ALTER INDEX "audit_log_entry_idx" RENAME TO "audit_log_unpartitioned_entry_idx";--> statement-breakpoint
ALTER INDEX "audit_log_region_seq_idx" RENAME TO "audit_log_unpartitioned_region_seq_idx";--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigint DEFAULT nextval('audit_events_id_seq') NOT NULL,
	"txid" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"actor_sub" text NOT NULL,
	"actor_role" text NOT NULL,
	"action" text NOT NULL,
	"entity" text NOT NULL,
	"entity_id" text NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"source" text,
	"before" jsonb,
	"after" jsonb,
	"prev_hash" text,
	"hash" text,
	CONSTRAINT "audit_events_id_at_pk" PRIMARY KEY("id","at")
) PARTITION BY RANGE ("at");
--> statement-breakpoint
ALTER SEQUENCE "audit_events_id_seq" OWNED BY "audit_events"."id";--> statement-breakpoint
CREATE INDEX "audit_events_txid_idx" ON "audit_events" USING btree ("txid");--> statement-breakpoint
CREATE INDEX "audit_events_entity_idx" ON "audit_events" USING btree ("entity","entity_id","id");--> statement-breakpoint
CREATE TABLE "audit_log" (
	"seq" bigint NOT NULL,
	"entry_id" bigint NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"leaf_hash" bytea NOT NULL,
	CONSTRAINT "audit_log_seq_at_pk" PRIMARY KEY("seq","at")
) PARTITION BY RANGE ("at");
--> statement-breakpoint
CREATE UNIQUE INDEX "audit_log_entry_idx" ON "audit_log" USING btree ("entry_id","at");--> statement-breakpoint
CREATE INDEX "audit_log_region_seq_idx" ON "audit_log" USING btree ("region_code","seq");--> statement-breakpoint
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON "audit_events" FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON "audit_events" FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON "audit_log" FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON "audit_log" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TABLE "audit_events_default" PARTITION OF "audit_events" DEFAULT;--> statement-breakpoint
CREATE TRIGGER audit_events_default_no_truncate BEFORE TRUNCATE ON "audit_events_default" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
CREATE TABLE "audit_log_default" PARTITION OF "audit_log" DEFAULT;--> statement-breakpoint
CREATE TRIGGER audit_log_default_no_truncate BEFORE TRUNCATE ON "audit_log_default" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();--> statement-breakpoint
-- A partition for every month that holds entries, and for this month and the next.
SELECT audit_ensure_month(m) FROM (
  SELECT DISTINCT date_trunc('month', "at" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m FROM "audit_events_unpartitioned"
  UNION SELECT now() UNION SELECT now() + interval '1 month'
) months;--> statement-breakpoint
-- The entries and their positions as they were: ids, txids, positions and leaf hashes unchanged.
INSERT INTO "audit_events" ("id", "txid", "at", "actor_sub", "actor_role", "action", "entity", "entity_id", "region_code", "source", "before", "after", "prev_hash", "hash")
  SELECT "id", "txid", "at", "actor_sub", "actor_role", "action", "entity", "entity_id", "region_code", "source", "before", "after", "prev_hash", "hash" FROM "audit_events_unpartitioned" ORDER BY "id";--> statement-breakpoint
INSERT INTO "audit_log" ("seq", "entry_id", "at", "region_code", "leaf_hash")
  SELECT l."seq", l."entry_id", e."at", l."region_code", l."leaf_hash" FROM "audit_log_unpartitioned" l JOIN "audit_events_unpartitioned" e ON e."id" = l."entry_id" ORDER BY l."seq";--> statement-breakpoint
DROP TABLE "audit_log_unpartitioned";--> statement-breakpoint
DROP TABLE "audit_events_unpartitioned";
