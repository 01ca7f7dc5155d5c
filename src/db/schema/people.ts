import { sql } from 'drizzle-orm'
import { date, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { households } from './registry.js'
import { regionCode } from './types.js'

const stamps = {
  version: integer('version').notNull().default(1),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}

/** 驻村工作队: the work team sent to one village by a unit, from one date to another. */
export const workTeams = pgTable('work_teams', {
  id: uuid('id').primaryKey().defaultRandom(),
  /** The village (12-digit code). */
  regionCode: regionCode('region_code').notNull(),
  /** 派出单位 */
  sendingUnit: text('sending_unit').notNull(),
  startedOn: date('started_on', { mode: 'string' }).notNull(),
  /** Set when the team is ended (withdrawn or replaced); null while it serves. */
  endedOn: date('ended_on', { mode: 'string' }),
  ...stamps
}, (t) => [
  /** One serving team per village. */
  uniqueIndex('work_teams_serving_village_key').on(t.regionCode).where(sql`ended_on IS NULL`),
  index('work_teams_region_id_idx').on(t.regionCode, t.id)
])

/** A member of a work team; at most one serving FIRST_SECRETARY (第一书记) per team. */
export const workTeamMembers = pgTable('work_team_members', {
  id: uuid('id').primaryKey().defaultRandom(),
  teamId: uuid('team_id').notNull().references(() => workTeams.id),
  /** The team's village, kept here so that member queries carry the area predicate themselves. */
  regionCode: regionCode('region_code').notNull(),
  name: text('name').notNull(),
  unit: text('unit'),
  phone: text('phone'),
  /** FIRST_SECRETARY | TEAM_LEADER | MEMBER */
  role: text('role').notNull(),
  joinedOn: date('joined_on', { mode: 'string' }).notNull(),
  leftOn: date('left_on', { mode: 'string' }),
  ...stamps
}, (t) => [
  uniqueIndex('work_team_members_first_secretary_key').on(t.teamId).where(sql`role = 'FIRST_SECRETARY' AND left_on IS NULL`),
  index('work_team_members_team_idx').on(t.teamId)
])

/** 帮扶责任人: a person from a unit who helps households (结对帮扶). */
export const helpers = pgTable('helpers', {
  id: uuid('id').primaryKey().defaultRandom(),
  /** The region that keeps the record: a county, township or village. */
  regionCode: regionCode('region_code').notNull(),
  name: text('name').notNull(),
  unit: text('unit'),
  phone: text('phone'),
  /** The helper's own region (where the helper lives or works), if recorded. */
  homeRegionCode: regionCode('home_region_code'),
  ...stamps
}, (t) => [
  index('helpers_region_id_idx').on(t.regionCode, t.id)
])

/** A helper assigned to a household from one date to another; one current assignment per household. */
export const helperAssignments = pgTable('helper_assignments', {
  id: uuid('id').primaryKey().defaultRandom(),
  helperId: uuid('helper_id').notNull().references(() => helpers.id),
  householdId: uuid('household_id').notNull().references(() => households.id),
  /** The household's village. */
  regionCode: regionCode('region_code').notNull(),
  startedOn: date('started_on', { mode: 'string' }).notNull(),
  endedOn: date('ended_on', { mode: 'string' }),
  ...stamps
}, (t) => [
  uniqueIndex('helper_assignments_current_household_key').on(t.householdId).where(sql`ended_on IS NULL`),
  index('helper_assignments_household_idx').on(t.householdId),
  index('helper_assignments_helper_idx').on(t.helperId),
  index('helper_assignments_region_idx').on(t.regionCode)
])

/** 走访: a helper's visit to a household. */
export const visits = pgTable('visits', {
  id: uuid('id').primaryKey().defaultRandom(),
  householdId: uuid('household_id').notNull().references(() => households.id),
  helperId: uuid('helper_id').notNull().references(() => helpers.id),
  /** The household's village. */
  regionCode: regionCode('region_code').notNull(),
  visitedOn: date('visited_on', { mode: 'string' }).notNull(),
  note: text('note'),
  recordedBy: text('recorded_by').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  index('visits_household_date_idx').on(t.householdId, t.visitedOn),
  index('visits_helper_date_idx').on(t.helperId, t.visitedOn),
  index('visits_region_idx').on(t.regionCode)
])
