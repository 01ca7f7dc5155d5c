import { and, asc, desc, gt, lt, type AnyColumn, type SQL } from 'drizzle-orm'
import type { IdRange } from '../shared/pagination.js'

/** The keyset bounds of `range` on an id column (both exclusive). */
export function idBounds (id: AnyColumn, range: IdRange): SQL | undefined {
  return and(range.afterId !== null ? gt(id, range.afterId) : undefined, range.beforeId !== null ? lt(id, range.beforeId) : undefined)
}

/** Ascending ids forward, descending backward (a backward page is read from its end). */
export function idOrder (id: AnyColumn, range: IdRange): SQL {
  return range.backward ? desc(id) : asc(id)
}
