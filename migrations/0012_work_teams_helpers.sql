CREATE TABLE "helper_assignments" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"helper_id" uuid NOT NULL,
	"household_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"started_on" date NOT NULL,
	"ended_on" date,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "helpers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"name" text NOT NULL,
	"unit" text,
	"phone" text,
	"home_region_code" text COLLATE "C",
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "visits" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"household_id" uuid NOT NULL,
	"helper_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"visited_on" date NOT NULL,
	"note" text,
	"recorded_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "work_team_members" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"team_id" uuid NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"name" text NOT NULL,
	"unit" text,
	"phone" text,
	"role" text NOT NULL,
	"joined_on" date NOT NULL,
	"left_on" date,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "work_teams" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"region_code" text COLLATE "C" NOT NULL,
	"sending_unit" text NOT NULL,
	"started_on" date NOT NULL,
	"ended_on" date,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "helper_assignments" ADD CONSTRAINT "helper_assignments_helper_id_helpers_id_fk" FOREIGN KEY ("helper_id") REFERENCES "public"."helpers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "helper_assignments" ADD CONSTRAINT "helper_assignments_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visits" ADD CONSTRAINT "visits_household_id_households_id_fk" FOREIGN KEY ("household_id") REFERENCES "public"."households"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "visits" ADD CONSTRAINT "visits_helper_id_helpers_id_fk" FOREIGN KEY ("helper_id") REFERENCES "public"."helpers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "work_team_members" ADD CONSTRAINT "work_team_members_team_id_work_teams_id_fk" FOREIGN KEY ("team_id") REFERENCES "public"."work_teams"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "helper_assignments_current_household_key" ON "helper_assignments" USING btree ("household_id") WHERE ended_on IS NULL;--> statement-breakpoint
CREATE INDEX "helper_assignments_household_idx" ON "helper_assignments" USING btree ("household_id");--> statement-breakpoint
CREATE INDEX "helper_assignments_helper_idx" ON "helper_assignments" USING btree ("helper_id");--> statement-breakpoint
CREATE INDEX "helper_assignments_region_idx" ON "helper_assignments" USING btree ("region_code");--> statement-breakpoint
CREATE INDEX "helpers_region_id_idx" ON "helpers" USING btree ("region_code","id");--> statement-breakpoint
CREATE INDEX "visits_household_date_idx" ON "visits" USING btree ("household_id","visited_on");--> statement-breakpoint
CREATE INDEX "visits_helper_date_idx" ON "visits" USING btree ("helper_id","visited_on");--> statement-breakpoint
CREATE INDEX "visits_region_idx" ON "visits" USING btree ("region_code");--> statement-breakpoint
CREATE UNIQUE INDEX "work_team_members_first_secretary_key" ON "work_team_members" USING btree ("team_id") WHERE role = 'FIRST_SECRETARY' AND left_on IS NULL;--> statement-breakpoint
CREATE INDEX "work_team_members_team_idx" ON "work_team_members" USING btree ("team_id");--> statement-breakpoint
CREATE UNIQUE INDEX "work_teams_serving_village_key" ON "work_teams" USING btree ("region_code") WHERE ended_on IS NULL;--> statement-breakpoint
CREATE INDEX "work_teams_region_id_idx" ON "work_teams" USING btree ("region_code","id");--> statement-breakpoint
-- The free-text helper of each household becomes a helper record (one per distinct name, unit and phone in each county) and a current assignment from the household's registration date.
INSERT INTO "helpers" ("region_code", "name", "unit", "phone", "created_at", "updated_at")
SELECT DISTINCT substr(h."region_code", 1, 6), coalesce(nullif(btrim(h."helper_name"), ''), '未记姓名'), h."helper_unit", h."helper_phone", now(), now()
FROM "households" h
WHERE h."helper_name" IS NOT NULL OR h."helper_unit" IS NOT NULL OR h."helper_phone" IS NOT NULL;--> statement-breakpoint
INSERT INTO "helper_assignments" ("helper_id", "household_id", "region_code", "started_on", "ended_on", "created_at", "updated_at")
SELECT p."id", h."id", h."region_code", (h."created_at" AT TIME ZONE 'UTC')::date, CASE WHEN h."status" = 'CLOSED' THEN (coalesce(h."closed_at", h."updated_at") AT TIME ZONE 'UTC')::date END, now(), now()
FROM "households" h
JOIN "helpers" p ON p."region_code" = substr(h."region_code", 1, 6)
  AND p."name" = coalesce(nullif(btrim(h."helper_name"), ''), '未记姓名')
  AND p."unit" IS NOT DISTINCT FROM h."helper_unit"
  AND p."phone" IS NOT DISTINCT FROM h."helper_phone"
WHERE h."helper_name" IS NOT NULL OR h."helper_unit" IS NOT NULL OR h."helper_phone" IS NOT NULL;--> statement-breakpoint
ALTER TABLE "households" DROP COLUMN "helper_name";--> statement-breakpoint
ALTER TABLE "households" DROP COLUMN "helper_unit";--> statement-breakpoint
ALTER TABLE "households" DROP COLUMN "helper_phone";