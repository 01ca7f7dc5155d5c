import { integer, numeric, pgTable, primaryKey, timestamp } from 'drizzle-orm/pg-core'
import { regions } from './regions.js'
import { regionCode } from './types.js'

const rate = (name: string) => numeric(name, { precision: 5, scale: 4, mode: 'number' })

/**
 * Plan targets (计划目标) per region and year, beside which `statistics` shows the
 * actual figures. Every target is optional: a plan names only some of them.
 * Counts are persons, villages, counties or posts; rates are shares from 0 to 1.
 */
export const planTargets = pgTable('plan_targets', {
  regionCode: regionCode('region_code').notNull().references(() => regions.code),
  year: integer('year').notNull(),
  /** Persons to exit in the year (脱贫人口). */
  personsToExit: integer('persons_to_exit'),
  /** Poor villages to exit in the year (贫困村退出). */
  villagesToExit: integer('villages_to_exit'),
  /** Poor counties to exit in the year (贫困县摘帽). */
  countiesToExit: integer('counties_to_exit'),
  /** Persons to relocate in the year (易地扶贫搬迁). */
  relocationPersons: integer('relocation_persons'),
  /** Forest-ranger posts held by poor persons in the year (生态护林员). */
  forestRangerPosts: integer('forest_ranger_posts'),
  /** 产业扶贫措施落实到位率 */
  industryCoverageRate: rate('industry_coverage_rate'),
  /** 产业扶贫叠加度 (industry measures per covered household) */
  industryStackingDegree: numeric('industry_stacking_degree', { precision: 6, scale: 2, mode: 'number' }),
  /** 有劳动能力和就业意愿的贫困劳动力就业率 */
  employmentRate: rate('employment_rate'),
  /** 基本医疗保险参保率 */
  medicalInsuranceRate: rate('medical_insurance_rate'),
  version: integer('version').notNull().default(1),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (t) => [
  primaryKey({ columns: [t.regionCode, t.year] })
])
