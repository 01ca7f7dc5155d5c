import { sql } from 'drizzle-orm'
import { bigint, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { households } from './registry.js'
import { regionCode } from './types.js'

/**
 * 退出审核: one household's exit for one year, from the village's proposal through the
 * township's verification and public notice to the county's approval (contract §6).
 */
export const exitReviews = pgTable('exit_reviews', {
  id: uuid('id').primaryKey().defaultRandom(),
  householdId: uuid('household_id').notNull().references(() => households.id),
  /** The household's village, kept here so that review queries carry the area predicate themselves. */
  regionCode: regionCode('region_code').notNull(),
  year: integer('year').notNull(),
  /** PROPOSED | VERIFIED | APPROVED | REJECTED */
  status: text('status').notNull(),
  /** The criteria as last evaluated (at proposal, verification or approval), with their evidence. */
  criteria: jsonb('criteria').notNull(),
  /** End of the public notice; set by verification, cleared by an objection. */
  noticeEndsAt: timestamp('notice_ends_at', { withTimezone: true, mode: 'date' }),
  /** The latest step's comment, reason or objection. */
  comment: text('comment'),
  version: integer('version').notNull().default(1),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  /** One open review per household. */
  uniqueIndex('exit_reviews_open_household_key').on(t.householdId).where(sql`status IN ('PROPOSED', 'VERIFIED')`),
  index('exit_reviews_household_idx').on(t.householdId),
  index('exit_reviews_region_status_idx').on(t.regionCode, t.status)
])

/** Each step of a review: who did what, when and why — the review's readable history. */
export const exitReviewSteps = pgTable('exit_review_steps', {
  /** Order of the steps, even within one instant. */
  seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  reviewId: uuid('review_id').notNull().references(() => exitReviews.id),
  regionCode: regionCode('region_code').notNull(),
  /** PROPOSE | VERIFY | OBJECT | APPROVE | REJECT */
  action: text('action').notNull(),
  fromStatus: text('from_status'),
  toStatus: text('to_status').notNull(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
  actorSub: text('actor_sub').notNull(),
  actorRole: text('actor_role').notNull(),
  comment: text('comment')
}, (t) => [
  index('exit_review_steps_review_idx').on(t.reviewId, t.seq)
])

/**
 * A household's changes of status (exit, return to poverty, closing): its history,
 * readable by every officer in area (the audit trail is for auditors).
 */
export const householdStatusChanges = pgTable('household_status_changes', {
  seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  householdId: uuid('household_id').notNull().references(() => households.id),
  regionCode: regionCode('region_code').notNull(),
  fromStatus: text('from_status').notNull(),
  toStatus: text('to_status').notNull(),
  /** The exit or return year, where the change has one. */
  year: integer('year'),
  reason: text('reason'),
  /** The approved review, for exits. */
  reviewId: uuid('review_id').references(() => exitReviews.id),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
  actorSub: text('actor_sub').notNull(),
  actorRole: text('actor_role').notNull()
}, (t) => [
  index('household_status_changes_household_idx').on(t.householdId, t.seq)
])
