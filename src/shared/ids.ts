const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Record ids are UUIDs; anything else names no record (NOT_FOUND, never a database error). */
export function isUuid (id: unknown): id is string {
  return typeof id === 'string' && UUID.test(id)
}

/** `%`, `_` and `\` taken literally inside a LIKE pattern. */
export function escapeLike (text: string): string {
  return text.replace(/[\\%_]/g, c => '\\' + c)
}

/** Rows grouped by `keyOf`, one list per key asked and in that order (row order kept), in one pass. */
export function groupRows<R, V> (keys: readonly string[], rows: readonly R[], keyOf: (row: R) => string, map: (row: R) => V): V[][] {
  const groups = new Map<string, V[]>(keys.map(k => [k, []]))
  for (const r of rows) groups.get(keyOf(r))?.push(map(r))
  return keys.map(k => groups.get(k)!)
}

/** Rows grouped by `householdId` (see groupRows). */
export function groupByHousehold<R extends { householdId: string }, V> (householdIds: readonly string[], rows: readonly R[], map: (row: R) => V): V[][] {
  return groupRows(householdIds, rows, r => r.householdId, map)
}
