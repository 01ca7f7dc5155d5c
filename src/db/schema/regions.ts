import { boolean, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core'
import { regionCode } from './types.js'

/** The administrative hierarchy (GB/T 2260 and statistical division codes). */
export const regions = pgTable('regions', {
  code: regionCode('code').primaryKey(),
  name: text('name').notNull(),
  /** PROVINCE | CITY | COUNTY | TOWNSHIP | VILLAGE, derived from the code's length. */
  level: text('level').notNull(),
  parentCode: regionCode('parent_code'),
  isPoor: boolean('is_poor').notNull().default(false),
  isDeepPoverty: boolean('is_deep_poverty').notNull().default(false),
  ruralPopulation: integer('rural_population'),
  exitYear: integer('exit_year'),
  version: integer('version').notNull().default(1),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  index('regions_parent_code_idx').on(t.parentCode)
])

/** National poverty line per year, yuan per person per year (current prices). */
export const povertyLines = pgTable('poverty_lines', {
  year: integer('year').primaryKey(),
  amount: integer('amount').notNull()
})
