CREATE TABLE "exchange_job_chunks" (
	"job_id" uuid NOT NULL,
	"n" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "exchange_job_chunks_job_id_n_pk" PRIMARY KEY("job_id","n")
);
--> statement-breakpoint
CREATE TABLE "exchange_job_errors" (
	"job_id" uuid NOT NULL,
	"line" integer NOT NULL,
	"path" text NOT NULL,
	"message" text NOT NULL,
	CONSTRAINT "exchange_job_errors_job_id_line_path_pk" PRIMARY KEY("job_id","line","path")
);
--> statement-breakpoint
CREATE TABLE "exchange_job_matches" (
	"job_id" uuid NOT NULL,
	"line" integer NOT NULL,
	"member_id" uuid NOT NULL,
	CONSTRAINT "exchange_job_matches_job_id_line_pk" PRIMARY KEY("job_id","line")
);
--> statement-breakpoint
CREATE TABLE "exchange_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" text NOT NULL,
	"format" text NOT NULL,
	"charset" text NOT NULL,
	"status" text NOT NULL,
	"idempotency_key" text,
	"submitted_by" text NOT NULL,
	"submitter_role" text NOT NULL,
	"dept" text,
	"region_code" text COLLATE "C" NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"received" integer DEFAULT 0 NOT NULL,
	"applied" integer DEFAULT 0 NOT NULL,
	"unmatched" integer DEFAULT 0 NOT NULL,
	"rejected" integer DEFAULT 0 NOT NULL,
	"resume_line" integer DEFAULT 0 NOT NULL,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"error" text,
	"report" jsonb,
	"created_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "work_items" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"job_id" uuid NOT NULL,
	"finding" text NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"household_id" uuid,
	"member_id" uuid,
	"detail" jsonb NOT NULL,
	"status" text DEFAULT 'OPEN' NOT NULL,
	"disposition" text,
	"note" text,
	"resolved_by" text,
	"resolved_at" timestamp with time zone,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "exchange_job_chunks" ADD CONSTRAINT "exchange_job_chunks_job_id_exchange_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."exchange_jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "exchange_job_errors" ADD CONSTRAINT "exchange_job_errors_job_id_exchange_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."exchange_jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "exchange_job_matches" ADD CONSTRAINT "exchange_job_matches_job_id_exchange_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."exchange_jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "exchange_job_matches" ADD CONSTRAINT "exchange_job_matches_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "work_items" ADD CONSTRAINT "work_items_job_id_exchange_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."exchange_jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "work_items" ADD CONSTRAINT "work_items_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "work_items" ADD CONSTRAINT "work_items_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "exchange_job_matches_member_idx" ON "exchange_job_matches" USING btree ("job_id","member_id");--> statement-breakpoint
CREATE UNIQUE INDEX "exchange_jobs_idempotency_key" ON "exchange_jobs" USING btree ("submitted_by","idempotency_key") WHERE idempotency_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX "exchange_jobs_status_idx" ON "exchange_jobs" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "work_items_region_status_idx" ON "work_items" USING btree ("region_code","status");--> statement-breakpoint
CREATE INDEX "work_items_job_idx" ON "work_items" USING btree ("job_id");