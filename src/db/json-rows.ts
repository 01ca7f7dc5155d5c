import { getTableColumns, sql, type Column, type InferSelectModel, type SQL, type Table } from 'drizzle-orm'

/**
 * Related rows read in the same statement as the records they belong to: a correlated
 * subquery that gives the rows of `table` matching `where`, in `orderBy` order, as one
 * JSON array holding one array per row (the table's columns — or those whose keys are in
 * `keys` — in declaration order). A
 * page of households with its members, measures and incomes is then one statement
 * instead of one per relation. `jsonRowsDecoder` turns the value back into rows exactly
 * as a select of the table gives them.
 */
export function jsonRows (table: Table, where: SQL | undefined, orderBy: SQL[], keys?: readonly string[]): SQL<unknown[][]> {
  const columns = entriesOf(table, keys).map(([, column]) => column)
  return sql<unknown[][]>`(SELECT coalesce(json_agg(json_build_array(${sql.join(columns, sql`, `)}) ORDER BY ${sql.join(orderBy, sql`, `)}), '[]'::json) FROM ${table} WHERE ${where ?? sql`true`})`
}

const ALL: readonly string[] = []
const subsets = new WeakMap<Table, WeakMap<readonly string[], Array<[string, Column]>>>()

/** The table's columns (TypeScript key and column) whose keys are among `keys` — all when absent — in declaration order. */
function entriesOf (table: Table, keys?: readonly string[]): Array<[string, Column]> {
  let byKeys = subsets.get(table)
  if (byKeys === undefined) subsets.set(table, byKeys = new WeakMap())
  let columns = byKeys.get(keys ?? ALL)
  if (columns === undefined) byKeys.set(keys ?? ALL, columns = Object.entries(getTableColumns(table)).filter(([key]) => keys?.includes(key) ?? true))
  return columns
}

/** The table's columns whose keys are among `keys` (all when absent), for a select: a row then holds only those. */
export function columnsOf (table: Table, keys?: readonly string[]): Record<string, Column> {
  return Object.fromEntries(entriesOf(table, keys))
}

/**
 * The rows of a `jsonRows` value read with the same `keys`, each column decoded by the
 * column itself (a timestamp becomes a Date, a numeric a number …), as drizzle decodes
 * the driver's values. With `keys`, a row holds only those columns.
 */
export function jsonRowsDecoder<T extends Table> (table: T): (value: unknown[][], keys?: readonly string[]) => Array<InferSelectModel<T>> {
  return (value, keys) => {
    const columns = entriesOf(table, keys)
    return value.map((values) => {
      const row: Record<string, unknown> = {}
      for (let i = 0; i < columns.length; i++) {
        const [key, column] = columns[i]!
        const v = values[i]
        row[key] = v === null || v === undefined ? null : column.mapFromDriverValue(v)
      }
      return row as InferSelectModel<T>
    })
  }
}
