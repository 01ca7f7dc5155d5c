import { customType } from 'drizzle-orm/pg-core'

/**
 * An administrative code column. Collation "C" lets `code LIKE '4112%'` (the area
 * predicate) use an ordinary btree index whatever the database's locale.
 */
export const regionCode = customType<{ data: string, driverData: string }>({
  dataType: () => 'text COLLATE "C"'
})
