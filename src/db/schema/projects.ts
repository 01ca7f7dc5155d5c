import { sql } from 'drizzle-orm'
import { check, date, index, integer, numeric, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { households, measures, members } from './registry.js'
import { regionCode } from './types.js'

/** Yuan with 2 decimals. */
const money = (name: string) => numeric(name, { precision: 14, scale: 2, mode: 'number' })

/**
 * 项目库: a county's poverty project (an industry base, a workshop, a road …), built in a
 * county, township or village (contract §10). `allocated` and `paid` are the sums of its
 * allocations and payments, kept on the row so that a payment's guard (paid ≤ allocated)
 * is one conditional UPDATE of this row (docs/projects-funds.md).
 */
export const projects = pgTable('projects', {
  id: uuid('id').primaryKey().defaultRandom(),
  /** Unique; generated as `<county code>-<year>-<4-digit sequence>` when not given. */
  code: text('code').notNull(),
  name: text('name').notNull(),
  /** A MeasureCategory. */
  category: text('category').notNull(),
  /** Where it is built: a county (6 digits), township (9) or village (12). */
  regionCode: regionCode('region_code').notNull(),
  /** PLANNED | APPROVED | IN_PROGRESS | COMPLETED | CANCELLED */
  status: text('status').notNull().default('PLANNED'),
  plannedStart: date('planned_start', { mode: 'string' }).notNull(),
  plannedEnd: date('planned_end', { mode: 'string' }),
  /** Set when the project turns IN_PROGRESS, and COMPLETED (or CANCELLED once started). */
  actualStart: date('actual_start', { mode: 'string' }),
  actualEnd: date('actual_end', { mode: 'string' }),
  budget: money('budget').notNull(),
  allocated: money('allocated').notNull().default(0),
  paid: money('paid').notNull().default(0),
  approvedAt: timestamp('approved_at', { withTimezone: true, mode: 'date' }),
  approvedBy: text('approved_by'),
  version: integer('version').notNull().default(1),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  uniqueIndex('projects_code_key').on(t.code),
  index('projects_region_id_idx').on(t.regionCode, t.id),
  // The last line of defence behind the service's conditional UPDATE.
  check('projects_paid_within_allocated', sql`${t.paid} >= 0 AND ${t.paid} <= ${t.allocated}`)
])

/** 资金下达: funds of one source allocated to a project by one document (文号). */
export const fundAllocations = pgTable('fund_allocations', {
  id: uuid('id').primaryKey().defaultRandom(),
  projectId: uuid('project_id').notNull().references(() => projects.id),
  /** The project's region, so that allocation queries carry the area predicate themselves. */
  regionCode: regionCode('region_code').notNull(),
  /** CENTRAL | PROVINCE | CITY | COUNTY | INTEGRATED | OTHER */
  source: text('source').notNull(),
  amount: money('amount').notNull(),
  documentNo: text('document_no').notNull(),
  date: date('date', { mode: 'string' }).notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  index('fund_allocations_project_idx').on(t.projectId),
  index('fund_allocations_region_date_idx').on(t.regionCode, t.date),
  check('fund_allocations_amount_positive', sql`${t.amount} > 0`)
])

/** 带贫: a household a project benefits, and the measure the project produced for it, if any. */
export const projectBeneficiaries = pgTable('project_beneficiaries', {
  projectId: uuid('project_id').notNull().references(() => projects.id),
  householdId: uuid('household_id').notNull().references(() => households.id),
  /** The project's region (the household's is inside it). */
  regionCode: regionCode('region_code').notNull(),
  measureId: uuid('measure_id').references(() => measures.id),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  primaryKey({ columns: [t.projectId, t.householdId] }),
  index('project_beneficiaries_household_idx').on(t.householdId)
])

/** 直接拨付到户: a subsidy paid from a project's funds to a beneficiary household or one of its members. */
export const fundPayments = pgTable('fund_payments', {
  id: uuid('id').primaryKey().defaultRandom(),
  projectId: uuid('project_id').notNull().references(() => projects.id),
  /** The project's region. */
  regionCode: regionCode('region_code').notNull(),
  householdId: uuid('household_id').notNull().references(() => households.id),
  /** The household's village (for figures per village). */
  householdRegionCode: regionCode('household_region_code').notNull(),
  memberId: uuid('member_id').references(() => members.id),
  amount: money('amount').notNull(),
  date: date('date', { mode: 'string' }).notNull(),
  /** The receiving account, sealed like the national ID (AES-256-GCM). */
  accountSealed: text('account_sealed'),
  /** The payer's own reference (a voucher number, an import job's line): unique within the project when given, so a payment is never recorded twice. */
  reference: text('reference'),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  index('fund_payments_project_idx').on(t.projectId),
  index('fund_payments_household_idx').on(t.householdId),
  index('fund_payments_region_date_idx').on(t.regionCode, t.date),
  uniqueIndex('fund_payments_reference_key').on(t.projectId, t.reference).where(sql`reference IS NOT NULL`),
  check('fund_payments_amount_positive', sql`${t.amount} > 0`)
])
