const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Record ids are UUIDs; anything else names no record (NOT_FOUND, never a database error). */
export function isUuid (id: unknown): id is string {
  return typeof id === 'string' && UUID.test(id)
}

/** `%`, `_` and `\` taken literally inside a LIKE pattern. */
export function escapeLike (text: string): string {
  return text.replace(/[\\%_]/g, c => '\\' + c)
}

/** Rows grouped by `householdId`, one list per id asked and in that order (row order kept), in one pass. */
export function groupByHousehold<R extends { householdId: string }, V> (householdIds: readonly string[], rows: readonly R[], map: (row: R) => V): V[][] {
  const groups = new Map<string, V[]>(householdIds.map(id => [id, []]))
  for (const r of rows) groups.get(r.householdId)?.push(map(r))
  return householdIds.map(id => groups.get(id)!)
}
