const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Record ids are UUIDs; anything else names no record (NOT_FOUND, never a database error). */
export function isUuid (id: unknown): id is string {
  return typeof id === 'string' && UUID.test(id)
}

/** `%`, `_` and `\` taken literally inside a LIKE pattern. */
export function escapeLike (text: string): string {
  return text.replace(/[\\%_]/g, c => '\\' + c)
}
