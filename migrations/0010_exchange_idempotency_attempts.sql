DROP INDEX "exchange_jobs_idempotency_key";--> statement-breakpoint
ALTER TABLE "exchange_jobs" ADD COLUMN "sha256" text;--> statement-breakpoint
ALTER TABLE "exchange_jobs" ADD COLUMN "attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "exchange_jobs_idempotency_key" ON "exchange_jobs" USING btree ("submitted_by","submitter_role",coalesce("dept", ''),"region_code","idempotency_key") WHERE idempotency_key IS NOT NULL;