-- The change feed (GET /api/v1/changes) pages the changes of an area without looking up
-- the entry of every read on its way. Reads of personal data (eligibility checks,
-- exports) are audit entries in the same log, and at city or province level they can
-- outnumber the changes by far; the feed walked every position after the reader's cursor
-- and looked up each one's entry to leave the reads out — 0.85 s for a poll behind 300,000
-- reads, and again on every poll while no change followed them (a caught-up reader keeps
-- the last change's position as its cursor).
--
-- The sequencer now copies whether an entry records a change into its position
-- (src/modules/audit/audit-entry.ts NOT_CHANGES), and the feed reads this partial index:
-- the positions of changes only. Positions sequenced before this migration keep NULL
-- (not rewritten: the log is append-only), stay in the index, and the feed still looks
-- their entries up and leaves the reads out by action. Adding the column rewrites
-- nothing; building the index reads every month's positions once, with the sequencer's
-- writes waiting meanwhile.
ALTER TABLE "audit_log" ADD COLUMN "change" boolean;--> statement-breakpoint
CREATE INDEX "audit_log_changes_idx" ON "audit_log" USING btree ("region_code","seq") WHERE "audit_log"."change" IS NOT FALSE;
