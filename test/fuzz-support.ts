/**
 * Shared by the fuzz tests: a cheap snapshot of every stored record, the values no
 * input field may accept and the odd ones it may, and the contract's error shapes (§4).
 */
import { getTableName, is, sql } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { queryRows, schema, type Database } from '../src/db/index.js'
import type { GqlResult } from './helper.js'

/** Every table of stored data; the statistics summary (rebuilt by reads) is left out. */
export const DATA_TABLES = (Object.values(schema) as unknown[]).filter((v): v is PgTable => is(v, PgTable)).map(t => getTableName(t)).filter(n => !n.startsWith('stats_')).sort()

export type Snapshot = Record<string, string>

/** One md5 per table over its rows (as text, ordered): equal snapshots mean nothing was stored, changed or removed. */
export async function snapshot (database: Database): Promise<Snapshot> {
  const columns = DATA_TABLES.map(t => `(SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM ${t} r) AS ${t}`)
  const [row] = await queryRows<Snapshot>(database.db, sql.raw(`SELECT ${columns.join(', ')}`))
  return row!
}

/** The tables whose hash differs. */
export const changedTables = (a: Snapshot, b: Snapshot): string[] => DATA_TABLES.filter(t => a[t] !== b[t])

// --- Values ------------------------------------------------------------------

/** Strings no text field may take: far too long, holding a NUL (which PostgreSQL cannot store) or an unpaired surrogate (not Unicode). */
export const BAD_TEXT = ['x'.repeat(100_000), '名'.repeat(100_001), 'a\u0000b', '\u0000', ' \u0000 ', '\uD800', 'a\uDC00b', '\uDBFF\uDBFF']
/** Odd strings a text field may take or refuse (never with a 500): direction marks, lone surrogates, zero-width, emoji, injection-looking text. */
export const oddText = fc.oneof(
  fc.constantFrom('\u202Eevil\u202C', '\u200F名\u200E', '\u200B', '\uFEFF', '👨‍👩‍👧', '   ', '', "'; DROP TABLE households; --", '<script>alert(1)</script>',
    '%s%n%x', '../../etc/passwd', '__proto__', 'constructor', '\\', '"', '\r\n', 'Ω'.repeat(51)),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter(s => !s.includes('\u0000'))
)
/** Strings that are not real dates written YYYY-MM-DD. */
export const badDate = fc.constantFrom('2019-02-30', '2019-02-29', '2019-13-01', '2019-00-10', '2019-1-1', '20190101', '', ' ', 'yesterday', '2019-06-01T00:00:00Z', ' 2019-06-01', '+275760-09-13', '2019-06-31', '１９９９-01-01')
/** Real dates at the edges: year 0, far past, far future (valid or refused, never a 500). */
export const oddDate = fc.constantFrom('0000-01-01', '0001-01-01', '1899-12-31', '9999-12-31', '2100-02-28', '2000-02-29', '1970-01-01')

/** A variant of a valid 18-character national ID that is not valid: check digit, length, letters, birth date, province. */
export function badNationalIds (valid: string): string[] {
  const digit = valid[17] === '0' ? '1' : '0'
  const swapped = valid.slice(0, 17) + (valid[17] === 'X' ? '0' : digit)
  return [swapped, valid.slice(0, 17), valid + '1', valid.slice(0, 16) + 'AB', '00' + valid.slice(2), valid.slice(0, 6) + '19990230' + valid.slice(14),
    valid.slice(0, 6) + '20991231' + valid.slice(14), '', ' '.repeat(18), 'x'.repeat(18), '１'.repeat(18), valid.replace(/\d$/, 'Y'), '41122419750302001\u0000']
}

/** JSON nested `depth` deep. */
export const deepJson = (depth: number): unknown => {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { a: v } : [v]
  return v
}
/** Values a JSON field holding a small object of named values must refuse (a plain list: fast-check compares drawn values recursively). */
export const BAD_JSON: unknown[] = [deepJson(1_000), deepJson(10), [], [1, 2], 'x', 42, true, { polluted: { prototype: { polluted: true } } },
  { '\u0000': 1 }, { a: 'x'.repeat(100_000) }, { a: '\uD800' }, Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]))]

// --- Shapes ------------------------------------------------------------------

export const GRAPHQL_CODES = ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'CONFLICT']

/** What is wrong with a GraphQL answer's errors (contract §4): INTERNAL, an unknown code, a 5xx, BAD_USER_INPUT without its fields. */
export function graphqlShapeProblems (res: GqlResult<unknown>): string[] {
  const problems: string[] = []
  if (res.status >= 500) problems.push(`status ${res.status}`)
  for (const e of res.errors ?? []) {
    if (typeof e.message !== 'string') problems.push('an error without a message')
    const code = e.extensions?.code
    if (!GRAPHQL_CODES.includes(code)) problems.push(`code ${String(code)}: ${e.message.slice(0, 300)}`)
    if (code === 'BAD_USER_INPUT') {
      const fields = e.extensions.fields
      if (!Array.isArray(fields) || fields.length === 0) problems.push(`BAD_USER_INPUT without fields: ${e.message.slice(0, 300)}`)
      else if (!fields.every(f => typeof f?.path === 'string' && f.path !== '' && typeof f.message === 'string')) problems.push(`BAD_USER_INPUT fields not {path, message}: ${JSON.stringify(fields).slice(0, 300)}`)
    }
  }
  return problems
}

/** What is wrong with a REST error answer (contract §4): a 5xx, not problem+json, missing members, a 400/422 without its errors list. */
export function problemShapeProblems (res: LightMyRequestResponse): string[] {
  if (res.statusCode >= 500) return [`status ${res.statusCode}: ${res.body.slice(0, 300)}`]
  if (res.statusCode < 400) return []
  if (!String(res.headers['content-type']).startsWith('application/problem+json')) return [`content type ${String(res.headers['content-type'])}`]
  const p = res.json()
  const problems: string[] = []
  for (const [key, type] of [['type', 'string'], ['title', 'string'], ['status', 'number'], ['detail', 'string']] as const) {
    if (typeof p[key] !== type) problems.push(`${key} is not a ${type}`)
  }
  if (p.status !== res.statusCode) problems.push(`status ${String(p.status)} in a ${res.statusCode} answer`)
  if (res.statusCode === 400 || res.statusCode === 422) {
    if (!Array.isArray(p.errors) || p.errors.length === 0) problems.push(`${res.statusCode} without errors: ${String(p.detail).slice(0, 200)}`)
    else if (!p.errors.every((f: any) => typeof f?.path === 'string' && f.path !== '' && typeof f.message === 'string')) problems.push(`errors not {path, message}: ${JSON.stringify(p.errors).slice(0, 300)}`)
  }
  return problems
}

/** A failed run in a few lines: its seed and path (to replay it) and the property's own message, not the (possibly huge) counterexample. */
export const failure = <T>(details: fc.RunDetails<T>): string =>
  details.failed ? `seed ${details.seed}, path ${details.counterexamplePath ?? ''}: ${String((details.errorInstance as Error | undefined)?.stack ?? details.errorInstance).slice(0, 1500)}` : ''
