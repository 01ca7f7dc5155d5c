import { index, integer, numeric, pgTable, primaryKey, timestamp } from 'drizzle-orm/pg-core'
import { regionCode } from './types.js'

/**
 * The additive statistics figures per village and year (docs/statistics.md), so that
 * a city or province answers from one row per village instead of every household.
 * Rebuilt per village from the registry when the village is marked in `stats_dirty`
 * (triggers on households, members and measures mark it in the writing transaction;
 * see migration 0006_statistics_summary), before statistics are read.
 */
const count = (name: string) => integer(name).notNull().default(0)
const money = (name: string) => numeric(name, { precision: 16, scale: 2, mode: 'number' }).notNull().default(0)

export const statsVillageYear = pgTable('stats_village_year', {
  village: regionCode('village').notNull(),
  year: integer('year').notNull(),
  households: count('households'),
  householdsPoor: count('households_poor'),
  householdsExited: count('households_exited'),
  householdsReturned: count('households_returned'),
  householdsClosed: count('households_closed'),
  persons: count('persons'),
  personsPoor: count('persons_poor'),
  personsExited: count('persons_exited'),
  personsReturned: count('persons_returned'),
  personsClosed: count('persons_closed'),
  insuredMembers: count('insured_members'),
  dropouts: count('dropouts'),
  unsafeHousing: count('unsafe_housing'),
  exitedInYear: count('exited_in_year'),
  personsExitedInYear: count('persons_exited_in_year'),
  ableHouseholds: count('able_households'),
  industryCovered: count('industry_covered'),
  industryMeasures: count('industry_measures'),
  causeHouseholds: count('cause_households'),
  causeMatched: count('cause_matched'),
  relocatedHouseholds: count('relocated_households'),
  relocatedPersons: count('relocated_persons'),
  relocatedPersonsInYear: count('relocated_persons_in_year'),
  forestRangerPosts: count('forest_ranger_posts'),
  microcreditLoans: count('microcredit_loans'),
  microcreditOutstanding: money('microcredit_outstanding'),
  microcreditOverdueLoans: count('microcredit_overdue_loans'),
  microcreditOverdue: money('microcredit_overdue'),
  employableMembers: count('employable_members'),
  employedMembers: count('employed_members')
}, (t) => [
  primaryKey({ columns: [t.village, t.year] })
])

/** Villages whose summary rows are stale: appended by triggers, consumed by the refresh. */
export const statsDirty = pgTable('stats_dirty', {
  village: regionCode('village').notNull(),
  markedAt: timestamp('marked_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  index('stats_dirty_village_idx').on(t.village)
])

/** One row: the last year the summary holds (it holds 2014 … lastYear for every village with households). */
export const statsState = pgTable('stats_state', {
  id: integer('id').primaryKey(),
  lastYear: integer('last_year').notNull()
})
