import { sql } from 'drizzle-orm'
import { type AnyPgColumn, boolean, date, index, integer, jsonb, numeric, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { projects } from './projects.js'
import { regionCode } from './types.js'

const money = (name: string) => numeric(name, { precision: 14, scale: 2, mode: 'number' })
const area = (name: string) => numeric(name, { precision: 12, scale: 2, mode: 'number' })
const stamps = {
  version: integer('version').notNull().default(1),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}

/** 贫困户: a registered household in a village. */
export const households = pgTable('households', {
  id: uuid('id').primaryKey().defaultRandom(),
  /** The village the household is registered in (12-digit code). */
  regionCode: regionCode('region_code').notNull(),
  householdNo: text('household_no').notNull(),
  status: text('status').notNull().default('POOR'),
  attribute: text('attribute').notNull(),
  mainCause: text('main_cause').notNull(),
  otherCauses: text('other_causes').array().notNull().default(sql`'{}'::text[]`),
  identificationYear: integer('identification_year').notNull(),
  exitYear: integer('exit_year'),
  /** Year of the latest return to poverty (返贫), if any. */
  returnYear: integer('return_year'),
  housingSafe: boolean('housing_safe').notNull().default(false),
  drinkingWaterSafe: boolean('drinking_water_safe').notNull().default(false),
  foodSecure: boolean('food_secure').notNull().default(false),
  clothingSecure: boolean('clothing_secure').notNull().default(false),
  phone: text('phone'),
  /** Bank for subsidy payments; the account number is sealed (AES-256-GCM). */
  bankName: text('bank_name'),
  bankAccountSealed: text('bank_account_sealed'),
  cultivatedLandMu: area('cultivated_land_mu'),
  forestLandMu: area('forest_land_mu'),
  returnedFarmlandMu: area('returned_farmland_mu'),
  closeReason: text('close_reason'),
  closedAt: timestamp('closed_at', { withTimezone: true, mode: 'date' }),
  ...stamps
}, (t) => [
  uniqueIndex('households_household_no_key').on(t.householdNo),
  index('households_region_id_idx').on(t.regionCode, t.id),
  index('households_region_status_idx').on(t.regionCode, t.status)
])

/** 家庭成员. The national ID is sealed; its keyed hash serves exact lookup and the one-household rule. */
export const members = pgTable('members', {
  id: uuid('id').primaryKey().defaultRandom(),
  householdId: uuid('household_id').notNull().references(() => households.id),
  /** The household's region, kept here so that member queries carry the area predicate themselves. */
  regionCode: regionCode('region_code').notNull(),
  nationalIdSealed: text('national_id_sealed').notNull(),
  nationalIdHash: text('national_id_hash').notNull(),
  name: text('name').notNull(),
  sex: text('sex').notNull(),
  birthDate: date('birth_date', { mode: 'string' }).notNull(),
  relation: text('relation').notNull(),
  ethnicity: text('ethnicity'),
  education: text('education'),
  healthConditions: text('health_conditions').array().notNull().default(sql`'{}'::text[]`),
  disabilityGrade: integer('disability_grade'),
  laborCapacity: text('labor_capacity').notNull(),
  schooling: text('schooling').notNull().default('NOT_IN_SCHOOL'),
  wantsWork: boolean('wants_work').notNull().default(false),
  employment: text('employment').notNull().default('UNEMPLOYED'),
  employmentMonths: integer('employment_months'),
  monthlyIncome: money('monthly_income'),
  medicalInsurance: boolean('medical_insurance').notNull().default(false),
  seriousIllnessInsurance: boolean('serious_illness_insurance').notNull().default(false),
  pensionInsurance: boolean('pension_insurance').notNull().default(false),
  dibao: boolean('dibao').notNull().default(false),
  extremeSupport: boolean('extreme_support').notNull().default(false),
  deceasedAt: date('deceased_at', { mode: 'string' }),
  /** False once removed from the household or the household is closed; the record stays for history. */
  active: boolean('active').notNull().default(true),
  removedAt: timestamp('removed_at', { withTimezone: true, mode: 'date' }),
  removalReason: text('removal_reason'),
  ...stamps
}, (t) => [
  uniqueIndex('members_active_national_id_key').on(t.nationalIdHash).where(sql`active`),
  // Only ever compared for equality (eligibility, imports, member checks): a hash index finds a
  // 64-hex-digit key without a btree descent's collation comparisons; 100 IDs cost PostgreSQL
  // about half the CPU (docs/benchmarks.md, "Eligibility check"). Uniqueness stays with the btree above.
  index('members_national_id_hash_idx').using('hash', t.nationalIdHash),
  index('members_household_idx').on(t.householdId),
  index('members_region_idx').on(t.regionCode)
])

/** 年度收入: one record per household and year. */
export const incomes = pgTable('incomes', {
  householdId: uuid('household_id').notNull().references(() => households.id),
  year: integer('year').notNull(),
  regionCode: regionCode('region_code').notNull(),
  wage: money('wage').notNull(),
  business: money('business').notNull(),
  property: money('property').notNull(),
  transfer: money('transfer').notNull(),
  /** 转移性收入 items (pension, dibao, ecological compensation …), each in yuan. */
  transferItems: jsonb('transfer_items'),
  expenses: money('expenses').notNull(),
  /** Persons the income is divided by: the household's living members when recorded, unless stated. */
  householdSize: integer('household_size').notNull(),
  perCapitaNet: money('per_capita_net').notNull(),
  ...stamps
}, (t) => [
  primaryKey({ columns: [t.householdId, t.year] }),
  index('incomes_region_year_idx').on(t.regionCode, t.year)
])

/** 帮扶措施: assistance for a household, optionally for one member. */
export const measures = pgTable('measures', {
  id: uuid('id').primaryKey().defaultRandom(),
  householdId: uuid('household_id').notNull().references(() => households.id),
  memberId: uuid('member_id').references(() => members.id),
  regionCode: regionCode('region_code').notNull(),
  category: text('category').notNull(),
  kind: text('kind').notNull(),
  status: text('status').notNull().default('ACTIVE'),
  startDate: date('start_date', { mode: 'string' }).notNull(),
  endDate: date('end_date', { mode: 'string' }),
  amount: money('amount'),
  fundingSource: text('funding_source'),
  details: jsonb('details'),
  /** The project (项目库) the measure came from, if any; the household is then among its beneficiaries. */
  projectId: uuid('project_id').references((): AnyPgColumn => projects.id),
  ...stamps
}, (t) => [
  index('measures_household_idx').on(t.householdId),
  index('measures_project_idx').on(t.projectId),
  index('measures_region_category_idx').on(t.regionCode, t.category)
])
