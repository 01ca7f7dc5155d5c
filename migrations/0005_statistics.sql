CREATE TABLE "plan_targets" (
	"region_code" text COLLATE "C" NOT NULL,
	"year" integer NOT NULL,
	"persons_to_exit" integer,
	"villages_to_exit" integer,
	"counties_to_exit" integer,
	"relocation_persons" integer,
	"forest_ranger_posts" integer,
	"industry_coverage_rate" numeric(5, 4),
	"industry_stacking_degree" numeric(6, 2),
	"employment_rate" numeric(5, 4),
	"medical_insurance_rate" numeric(5, 4),
	"version" integer DEFAULT 1 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "plan_targets_region_code_year_pk" PRIMARY KEY("region_code","year")
);
--> statement-breakpoint
CREATE TABLE "stats_dirty" (
	"village" text COLLATE "C" NOT NULL,
	"marked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stats_state" (
	"id" integer PRIMARY KEY NOT NULL,
	"last_year" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stats_village_year" (
	"village" text COLLATE "C" NOT NULL,
	"year" integer NOT NULL,
	"households" integer DEFAULT 0 NOT NULL,
	"households_poor" integer DEFAULT 0 NOT NULL,
	"households_exited" integer DEFAULT 0 NOT NULL,
	"households_returned" integer DEFAULT 0 NOT NULL,
	"households_closed" integer DEFAULT 0 NOT NULL,
	"persons" integer DEFAULT 0 NOT NULL,
	"persons_poor" integer DEFAULT 0 NOT NULL,
	"persons_exited" integer DEFAULT 0 NOT NULL,
	"persons_returned" integer DEFAULT 0 NOT NULL,
	"persons_closed" integer DEFAULT 0 NOT NULL,
	"insured_members" integer DEFAULT 0 NOT NULL,
	"dropouts" integer DEFAULT 0 NOT NULL,
	"unsafe_housing" integer DEFAULT 0 NOT NULL,
	"exited_in_year" integer DEFAULT 0 NOT NULL,
	"persons_exited_in_year" integer DEFAULT 0 NOT NULL,
	"able_households" integer DEFAULT 0 NOT NULL,
	"industry_covered" integer DEFAULT 0 NOT NULL,
	"industry_measures" integer DEFAULT 0 NOT NULL,
	"cause_households" integer DEFAULT 0 NOT NULL,
	"cause_matched" integer DEFAULT 0 NOT NULL,
	"relocated_households" integer DEFAULT 0 NOT NULL,
	"relocated_persons" integer DEFAULT 0 NOT NULL,
	"relocated_persons_in_year" integer DEFAULT 0 NOT NULL,
	"forest_ranger_posts" integer DEFAULT 0 NOT NULL,
	"microcredit_loans" integer DEFAULT 0 NOT NULL,
	"microcredit_outstanding" numeric(16, 2) DEFAULT 0 NOT NULL,
	"microcredit_overdue_loans" integer DEFAULT 0 NOT NULL,
	"microcredit_overdue" numeric(16, 2) DEFAULT 0 NOT NULL,
	"employable_members" integer DEFAULT 0 NOT NULL,
	"employed_members" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "stats_village_year_village_year_pk" PRIMARY KEY("village","year")
);
--> statement-breakpoint
ALTER TABLE "plan_targets" ADD CONSTRAINT "plan_targets_region_code_regions_code_fk" FOREIGN KEY ("region_code") REFERENCES "public"."regions"("code") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "stats_dirty_village_idx" ON "stats_dirty" USING btree ("village");