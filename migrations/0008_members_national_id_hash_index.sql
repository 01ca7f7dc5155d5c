DROP INDEX "members_national_id_hash_idx";--> statement-breakpoint
CREATE INDEX "members_national_id_hash_idx" ON "members" USING hash ("national_id_hash");