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
ALTER TABLE "plan_targets" ADD CONSTRAINT "plan_targets_region_code_regions_code_fk" FOREIGN KEY ("region_code") REFERENCES "public"."regions"("code") ON DELETE no action ON UPDATE no action;