import type { IncomeRow } from './incomes/incomes-repository.js'
import type { MeasureRow } from './measures/measures-repository.js'

/**
 * The output views of the records a household owns, shared by the services that return
 * them: the households service (prefetched nested fields), the incomes and the measures
 * services. They live here, not in one of those services, so that no service imports
 * another for a view (incomes and measures use HouseholdsService; households needs their views).
 */

export type IncomeView = Omit<IncomeRow, 'householdId' | 'regionCode' | 'createdAt' | 'updatedAt' | 'version'>

export const incomeView = ({ householdId: _h, regionCode: _r, createdAt: _c, updatedAt: _u, version: _v, ...rest }: IncomeRow): IncomeView => rest

export type MeasureView = Omit<MeasureRow, 'regionCode' | 'createdAt' | 'updatedAt'>

export const measureView = ({ regionCode: _r, createdAt: _c, updatedAt: _u, ...rest }: MeasureRow): MeasureView => rest
