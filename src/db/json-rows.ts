import { getTableColumns, sql, type Column, type InferSelectModel, type SQL, type Table } from 'drizzle-orm'

/**
 * Related rows read in the same statement as the records they belong to: a correlated
 * subquery that gives the rows of `table` matching `where`, in `orderBy` order, as one
 * JSON array holding one array per row (the table's columns in declaration order). A
 * page of households with its members, measures and incomes is then one statement
 * instead of one per relation. `jsonRowsDecoder` turns the value back into rows exactly
 * as a select of the table gives them.
 */
export function jsonRows (table: Table, where: SQL | undefined, orderBy: SQL[]): SQL<unknown[][]> {
  const columns = Object.values(getTableColumns(table))
  return sql<unknown[][]>`(SELECT coalesce(json_agg(json_build_array(${sql.join(columns, sql`, `)}) ORDER BY ${sql.join(orderBy, sql`, `)}), '[]'::json) FROM ${table} WHERE ${where ?? sql`true`})`
}

/**
 * The rows of a `jsonRows` value, each column decoded by the column itself (a timestamp
 * becomes a Date, a numeric a number …), as drizzle decodes the driver's values; the
 * column list is read once.
 */
export function jsonRowsDecoder<T extends Table> (table: T): (value: unknown[][]) => Array<InferSelectModel<T>> {
  const columns: Array<[string, Column]> = Object.entries(getTableColumns(table))
  return (value) => value.map((values) => {
    const row: Record<string, unknown> = {}
    for (let i = 0; i < columns.length; i++) {
      const [key, column] = columns[i]!
      const v = values[i]
      row[key] = v === null || v === undefined ? null : column.mapFromDriverValue(v)
    }
    return row as InferSelectModel<T>
  })
}
