CREATE TABLE "households" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"household_no" text NOT NULL,
	"status" text DEFAULT 'POOR' NOT NULL,
	"attribute" text NOT NULL,
	"main_cause" text NOT NULL,
	"other_causes" text[] DEFAULT '{}'::text[] NOT NULL,
	"identification_year" integer NOT NULL,
	"exit_year" integer,
	"housing_safe" boolean DEFAULT false NOT NULL,
	"drinking_water_safe" boolean DEFAULT false NOT NULL,
	"food_secure" boolean DEFAULT false NOT NULL,
	"clothing_secure" boolean DEFAULT false NOT NULL,
	"phone" text,
	"bank_name" text,
	"bank_account_sealed" text,
	"cultivated_land_mu" numeric(12, 2),
	"forest_land_mu" numeric(12, 2),
	"returned_farmland_mu" numeric(12, 2),
	"helper_name" text,
	"helper_unit" text,
	"helper_phone" text,
	"close_reason" text,
	"closed_at" timestamp with time zone,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "incomes" (
	"household_id" uuid NOT NULL,
	"year" integer NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"wage" numeric(14, 2) NOT NULL,
	"business" numeric(14, 2) NOT NULL,
	"property" numeric(14, 2) NOT NULL,
	"transfer" numeric(14, 2) NOT NULL,
	"transfer_items" jsonb,
	"expenses" numeric(14, 2) NOT NULL,
	"household_size" integer NOT NULL,
	"per_capita_net" numeric(14, 2) NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "incomes_household_id_year_pk" PRIMARY KEY("household_id","year")
);
--> statement-breakpoint
CREATE TABLE "measures" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"household_id" uuid NOT NULL,
	"member_id" uuid,
	"region_code" text COLLATE "C" NOT NULL,
	"category" text NOT NULL,
	"kind" text NOT NULL,
	"status" text DEFAULT 'ACTIVE' NOT NULL,
	"start_date" date NOT NULL,
	"end_date" date,
	"amount" numeric(14, 2),
	"funding_source" text,
	"details" jsonb,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "members" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"household_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"national_id_sealed" text NOT NULL,
	"national_id_hash" text NOT NULL,
	"name" text NOT NULL,
	"sex" text NOT NULL,
	"birth_date" date NOT NULL,
	"relation" text NOT NULL,
	"ethnicity" text,
	"education" text,
	"health_conditions" text[] DEFAULT '{}'::text[] NOT NULL,
	"disability_grade" integer,
	"labor_capacity" text NOT NULL,
	"schooling" text DEFAULT 'NOT_IN_SCHOOL' NOT NULL,
	"wants_work" boolean DEFAULT false NOT NULL,
	"employment" text DEFAULT 'UNEMPLOYED' NOT NULL,
	"employment_months" integer,
	"monthly_income" numeric(14, 2),
	"medical_insurance" boolean DEFAULT false NOT NULL,
	"serious_illness_insurance" boolean DEFAULT false NOT NULL,
	"pension_insurance" boolean DEFAULT false NOT NULL,
	"dibao" boolean DEFAULT false NOT NULL,
	"extreme_support" boolean DEFAULT false NOT NULL,
	"deceased_at" date,
	"active" boolean DEFAULT true NOT NULL,
	"removed_at" timestamp with time zone,
	"removal_reason" text,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "incomes" ADD CONSTRAINT "incomes_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "measures" ADD CONSTRAINT "measures_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "measures" ADD CONSTRAINT "measures_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "households_household_no_key" ON "households" USING btree ("household_no");--> statement-breakpoint
CREATE INDEX "households_region_id_idx" ON "households" USING btree ("region_code","id");--> statement-breakpoint
CREATE INDEX "households_region_status_idx" ON "households" USING btree ("region_code","status");--> statement-breakpoint
CREATE INDEX "incomes_region_year_idx" ON "incomes" USING btree ("region_code","year");--> statement-breakpoint
CREATE INDEX "measures_household_idx" ON "measures" USING btree ("household_id");--> statement-breakpoint
CREATE INDEX "measures_region_category_idx" ON "measures" USING btree ("region_code","category");--> statement-breakpoint
CREATE UNIQUE INDEX "members_active_national_id_key" ON "members" USING btree ("national_id_hash") WHERE active;--> statement-breakpoint
CREATE INDEX "members_national_id_hash_idx" ON "members" USING btree ("national_id_hash");--> statement-breakpoint
CREATE INDEX "members_household_idx" ON "members" USING btree ("household_id");--> statement-breakpoint
CREATE INDEX "members_region_idx" ON "members" USING btree ("region_code");