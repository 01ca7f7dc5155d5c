CREATE TABLE "fund_allocations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"source" text NOT NULL,
	"amount" numeric(14, 2) NOT NULL,
	"document_no" text NOT NULL,
	"date" date NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fund_allocations_amount_positive" CHECK ("fund_allocations"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "fund_payments" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"household_id" uuid NOT NULL,
	"household_region_code" text COLLATE "C" NOT NULL,
	"member_id" uuid,
	"amount" numeric(14, 2) NOT NULL,
	"date" date NOT NULL,
	"account_sealed" text,
	"reference" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fund_payments_amount_positive" CHECK ("fund_payments"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "project_beneficiaries" (
	"project_id" uuid NOT NULL,
	"household_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"measure_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "project_beneficiaries_project_id_household_id_pk" PRIMARY KEY("project_id","household_id")
);
--> statement-breakpoint
CREATE TABLE "projects" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"category" text NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"status" text DEFAULT 'PLANNED' NOT NULL,
	"planned_start" date NOT NULL,
	"planned_end" date,
	"actual_start" date,
	"actual_end" date,
	"budget" numeric(14, 2) NOT NULL,
	"allocated" numeric(14, 2) DEFAULT 0 NOT NULL,
	"paid" numeric(14, 2) DEFAULT 0 NOT NULL,
	"approved_at" timestamp with time zone,
	"approved_by" text,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "projects_paid_within_allocated" CHECK ("projects"."paid" >= 0 AND "projects"."paid" <= "projects"."allocated")
);
--> statement-breakpoint
ALTER TABLE "measures" ADD COLUMN "project_id" uuid;--> statement-breakpoint
ALTER TABLE "fund_allocations" ADD CONSTRAINT "fund_allocations_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fund_payments" ADD CONSTRAINT "fund_payments_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fund_payments" ADD CONSTRAINT "fund_payments_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fund_payments" ADD CONSTRAINT "fund_payments_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_beneficiaries" ADD CONSTRAINT "project_beneficiaries_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_beneficiaries" ADD CONSTRAINT "project_beneficiaries_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_beneficiaries" ADD CONSTRAINT "project_beneficiaries_measure_id_measures_id_fk" FOREIGN KEY ("measure_id") REFERENCES "public"."measures"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "fund_allocations_project_idx" ON "fund_allocations" USING btree ("project_id");--> statement-breakpoint
CREATE INDEX "fund_allocations_region_date_idx" ON "fund_allocations" USING btree ("region_code","date");--> statement-breakpoint
CREATE INDEX "fund_payments_project_idx" ON "fund_payments" USING btree ("project_id");--> statement-breakpoint
CREATE INDEX "fund_payments_household_idx" ON "fund_payments" USING btree ("household_id");--> statement-breakpoint
CREATE INDEX "fund_payments_region_date_idx" ON "fund_payments" USING btree ("region_code","date");--> statement-breakpoint
CREATE UNIQUE INDEX "fund_payments_reference_key" ON "fund_payments" USING btree ("project_id","reference") WHERE reference IS NOT NULL;--> statement-breakpoint
CREATE INDEX "project_beneficiaries_household_idx" ON "project_beneficiaries" USING btree ("household_id");--> statement-breakpoint
CREATE UNIQUE INDEX "projects_code_key" ON "projects" USING btree ("code");--> statement-breakpoint
CREATE INDEX "projects_region_id_idx" ON "projects" USING btree ("region_code","id");--> statement-breakpoint
ALTER TABLE "measures" ADD CONSTRAINT "measures_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "measures_project_idx" ON "measures" USING btree ("project_id");