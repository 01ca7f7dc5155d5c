CREATE TABLE "exit_review_steps" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "exit_review_steps_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"review_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"action" text NOT NULL,
	"from_status" text,
	"to_status" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"actor_sub" text NOT NULL,
	"actor_role" text NOT NULL,
	"comment" text
);
--> statement-breakpoint
CREATE TABLE "exit_reviews" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"household_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"year" integer NOT NULL,
	"status" text NOT NULL,
	"criteria" jsonb NOT NULL,
	"notice_ends_at" timestamp with time zone,
	"comment" text,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "household_status_changes" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "household_status_changes_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"household_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"from_status" text NOT NULL,
	"to_status" text NOT NULL,
	"year" integer,
	"reason" text,
	"review_id" uuid,
	"at" timestamp with time zone NOT NULL,
	"actor_sub" text NOT NULL,
	"actor_role" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "households" ADD COLUMN "return_year" integer;--> statement-breakpoint
ALTER TABLE "exit_review_steps" ADD CONSTRAINT "exit_review_steps_review_id_exit_reviews_id_fk" FOREIGN KEY ("review_id") REFERENCES "public"."exit_reviews"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "exit_reviews" ADD CONSTRAINT "exit_reviews_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "household_status_changes" ADD CONSTRAINT "household_status_changes_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "household_status_changes" ADD CONSTRAINT "household_status_changes_review_id_exit_reviews_id_fk" FOREIGN KEY ("review_id") REFERENCES "public"."exit_reviews"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "exit_review_steps_review_idx" ON "exit_review_steps" USING btree ("review_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "exit_reviews_open_household_key" ON "exit_reviews" USING btree ("household_id") WHERE status IN ('PROPOSED', 'VERIFIED');--> statement-breakpoint
CREATE INDEX "exit_reviews_household_idx" ON "exit_reviews" USING btree ("household_id");--> statement-breakpoint
CREATE INDEX "exit_reviews_region_status_idx" ON "exit_reviews" USING btree ("region_code","status");--> statement-breakpoint
CREATE INDEX "household_status_changes_household_idx" ON "household_status_changes" USING btree ("household_id","seq");