/**
 * Shared by the fuzz tests: a cheap snapshot of every stored record, the values no
 * input field may accept and the odd ones it may, and the contract's error shapes (§4).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { getTableName, is, sql } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { buildSchema, getNamedType, getNullableType, isEnumType, isInputObjectType, isListType, isNonNullType, isScalarType, type GraphQLField, type GraphQLInputType } from 'graphql'
import { queryRows, schema, type Database } from '../src/db/index.js'
import { projectRoot } from '../src/paths.js'
import { nationalId } from './fixtures.js'
import type { GqlResult } from './helper.js'

/**
 * Every table of stored data. Left out: the statistics summary (rebuilt by reads), and the
 * audit log's sequenced form — positions, tree nodes, signed heads — which the sequencer
 * derives from audit_events in the background (and `auditTreeHead` signs a head, contract §9).
 */
const DERIVED = new Set(['audit_log', 'audit_tree_nodes', 'audit_tree_heads', 'audit_sequencer'])
export const DATA_TABLES = (Object.values(schema) as unknown[]).filter((v): v is PgTable => is(v, PgTable)).map(t => getTableName(t)).filter(n => !n.startsWith('stats_') && !DERIVED.has(n)).sort()

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
/**
 * Names (of persons, banks, units, sources of funds) no name field may take: control
 * characters, text-direction overrides, isolates and marks, or nothing visible at all.
 */
export const BAD_NAMES = ['王\u202E国建', '\u202Eevil\u202C', '\u2066王\u2069', '名\u200F', '李\n四', '李\t四', '\u0007', 'a\u0085b', '\u200B', '\u200B\u200D\uFEFF', ' \u00AD ', '\u3164', '\u0301']
/** The text fields that hold a name. */
export const NAME_FIELDS = new Set(['name', 'unit', 'bankName', 'ethnicity', 'education', 'fundingSource', 'sendingUnit'])
/** Odd strings a text field may take or refuse (never with a 500): direction marks, lone surrogates, zero-width, emoji, injection-looking text. */
export const oddText = fc.oneof(
  fc.constantFrom('\u202Eevil\u202C', '\u200F名\u200E', '\u200B', '\uFEFF', '👨‍👩‍👧', '   ', '', "'; DROP TABLE households; --", '<script>alert(1)</script>',
    '%s%n%x', '../../etc/passwd', '__proto__', 'constructor', '\\', '"', '\r\n', 'Ω'.repeat(51)),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).filter(s => !s.includes('\u0000'))
)
/** Strings that are not real dates written YYYY-MM-DD (there is no year 0). */
export const badDate = fc.constantFrom('0000-01-01', '2019-02-30', '2019-02-29', '2019-13-01', '2019-00-10', '2019-1-1', '20190101', '', ' ', 'yesterday', '2019-06-01T00:00:00Z', ' 2019-06-01', '+275760-09-13', '2019-06-31', '１９９９-01-01')
/** Real dates at the edges: far past, far future (valid or refused, never a 500). */
export const oddDate = fc.constantFrom('0001-01-01', '1899-12-31', '9999-12-31', '2100-02-28', '2000-02-29', '1970-01-01')

/** A variant of a valid 18-character national ID that is not valid: check digit, length, letters, birth date, province. */
export function badNationalIds (valid: string): string[] {
  const digit = valid[17] === '0' ? '1' : '0'
  const swapped = valid.slice(0, 17) + (valid[17] === 'X' ? '0' : digit)
  return [swapped, valid.slice(0, 17), valid + '1', valid.slice(0, 16) + 'AB', '00' + valid.slice(2), valid.slice(0, 6) + '19990230' + valid.slice(14),
    valid.slice(0, 6) + '20991231' + valid.slice(14), '', ' '.repeat(18), 'x'.repeat(18), '１'.repeat(18), valid.slice(0, 17) + 'Y', '41122419750302001\u0000']
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

// --- GraphQL variants ---------------------------------------------------------

export const gqlSchema = buildSchema(readFileSync(join(projectRoot, 'graphql', 'schema.graphql'), 'utf8'))
type Field = GraphQLField<unknown, unknown>
export type Vars = Record<string, unknown>
type Path = Array<string | number>
type Gen = fc.GeneratorValue

/** Every position of a value of `type` (the value itself, each field of an input object, the first items of a list). */
function positions (type: GraphQLInputType, value: unknown, path: Path): Array<{ path: Path, type: GraphQLInputType }> {
  const out = [{ path, type }]
  const inner = getNullableType(type)
  if (isInputObjectType(inner)) {
    for (const f of Object.values(inner.getFields())) out.push(...positions(f.type, (value as Vars | undefined)?.[f.name], [...path, f.name]))
  } else if (isListType(inner) && Array.isArray(value)) {
    value.slice(0, 2).forEach((v, i) => out.push(...positions(inner.ofType as GraphQLInputType, v, [...path, i])))
  }
  return out
}

const get = (v: unknown, path: Path): unknown => path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], v)
/** A copy of `vars` with `value` at `path` (undefined removes it), making the objects on the way. */
function setAt (vars: Vars, path: Path, value: unknown): Vars {
  const copy = structuredClone(vars)
  let o = copy as Record<string | number, unknown>
  for (const k of path.slice(0, -1)) {
    o[k] ??= typeof k === 'number' ? [] : {}
    o = o[k] as Record<string | number, unknown>
  }
  const last = path.at(-1)!
  if (value === undefined) delete o[last]
  else o[last] = value
  return copy
}

export interface Variant { vars: Vars, path: string, coercion: boolean, what: string }

const UNKNOWN_FIELDS = ['regionCode', 'status', '__proto__', 'constructor', 'id', 'version', 'householdId', 'role', 'exitYear', 'isAdmin']

/**
 * The bad values of one position: `coercion` ones GraphQL itself refuses (wrong type,
 * null for a required value, unknown or missing fields); the others are values of the
 * right type that no field of that name may take.
 */
function badValues (type: GraphQLInputType, name: string, value: unknown): Array<{ value: unknown, coercion: boolean, field?: string }> {
  const out: Array<{ value: unknown, coercion: boolean, field?: string }> = []
  const c = (...values: unknown[]): void => { for (const v of values) out.push({ value: v, coercion: true }) }
  const s = (...values: unknown[]): void => { for (const v of values) out.push({ value: v, coercion: false }) }
  if (isNonNullType(type)) c(null)
  const inner = getNullableType(type)
  if (isInputObjectType(inner)) {
    c('x', 1, [[]])
    const fields = inner.getFields()
    for (const f of UNKNOWN_FIELDS.filter(f => !(f in fields))) out.push({ value: { ...(value as Vars | undefined), [f]: f === 'constructor' ? { prototype: { polluted: true } } : 'x' }, coercion: true, field: f })
    for (const f of Object.values(fields).filter(f => isNonNullType(f.type) && f.defaultValue === undefined)) {
      const { [f.name]: _, ...rest } = (value ?? {}) as Vars
      out.push({ value: rest, coercion: true, field: f.name })
    }
  } else if (isListType(inner)) {
    c([{}], [[1]], ...(isNonNullType(inner.ofType) ? [[null]] : []))
  } else if (isEnumType(inner)) {
    const first = inner.getValues()[0]!.name
    c(first.toLowerCase(), `${first} `, 'NOT_A_VALUE', '', 1, {}, [first, first])
  } else if (isScalarType(inner)) {
    switch (inner.name) {
      case 'String':
        c(123, true, {}, ['a', 'b'])
        if (name === 'nationalId') s(...badNationalIds(typeof value === 'string' ? value : nationalId()))
        else if (/Date$|At$|On$|^from$|^to$/.test(name)) s('2019-02-30', '2019-13-01', 'yesterday', '0000-01-01', '20190101', '2019-06-01T25:00:00Z')
        else if (name === 'after') s('x', '!!!', Buffer.from('["x"]').toString('base64url'), Buffer.from('[1, 2, 3]').toString('base64url'), Buffer.from('{"__proto__": 1}').toString('base64url'))
        else if (name === 'regionCode' || (name === 'code' && typeof value === 'string' && /^\d+$/.test(value))) s('4112x', '', '411224999999', '41122410120')
        else if (NAME_FIELDS.has(name)) s(...BAD_NAMES)
        s(...BAD_TEXT)
        break
      case 'ID': c(true, 1.5, {}, ['a', 'b']); s('x', '00000000-0000-4000-8000-000000000000', ...BAD_TEXT); break
      case 'Int': c('1', 1.5, 2 ** 31, -(2 ** 31) - 1, true, {}); s(-1); break
      case 'Float': c('1', 'NaN', true, {}); s(-1, 1e308); break
      case 'Boolean': c('true', 1, 0, {}); break
      case 'JSON': break
    }
  }
  return out
}

/** One bad variant of valid variables: a bad value at one position of one argument. */
export function badVariant (g: Gen, field: Field, base: Vars): Variant {
  const args = field.args
  const all = args.flatMap(a => positions(a.type, base[a.name], [a.name]))
  const candidates = all.flatMap(p => {
    const name = String(p.path.filter(k => typeof k === 'string').at(-1))
    const values = getNullableType(p.type).toString() === 'JSON'
      ? [] // JSON positions get their bad values below
      : badValues(p.type, name, get(base, p.path))
    return values.map(v => ({ ...p, ...v }))
  })
  const jsonPositions = all.filter(p => getNullableType(p.type).toString() === 'JSON')
  if (jsonPositions.length > 0 && g(fc.integer, { min: 0, max: 5 }) === 0) {
    const p = jsonPositions[g(fc.integer, { min: 0, max: jsonPositions.length - 1 })]!
    const value = BAD_JSON[g(fc.integer, { min: 0, max: BAD_JSON.length - 1 })]
    return { vars: setAt(base, p.path, value), path: p.path.join('.'), coercion: false, what: `JSON ${JSON.stringify(value)?.slice(0, 80)}` }
  }
  const pick = candidates[g(fc.integer, { min: 0, max: candidates.length - 1 })]!
  return {
    vars: setAt(base, pick.path, pick.value),
    path: [...pick.path, ...(pick.field !== undefined ? [pick.field] : [])].join('.'),
    coercion: pick.coercion,
    what: `${pick.field !== undefined ? `field ${pick.field} ` : ''}${JSON.stringify(pick.value)?.slice(0, 80) ?? 'undefined'}`
  }
}

/** One odd variant: an odd string or edge date at a String position (valid or refused, never INTERNAL). */
export function oddVariant (g: Gen, field: Field, base: Vars): Variant | null {
  const strings = field.args.flatMap(a => positions(a.type, base[a.name], [a.name]))
    .filter(p => getNullableType(p.type).toString() === 'String')
  if (strings.length === 0) return null
  const p = strings[g(fc.integer, { min: 0, max: strings.length - 1 })]! // by index: the cache of g compares its arguments deeply, and GraphQL types are cyclic
  const name = String(p.path.at(-1))
  const value = /Date$|At$|On$|^from$|^to$/.test(name) ? g(() => fc.oneof(oddDate, badDate)) : g(() => oddText)
  return { vars: setAt(base, p.path, value), path: p.path.join('.'), coercion: false, what: JSON.stringify(value) }
}

/** The operation calling `field` with each argument a variable of its declared type (named as the argument). */
export function documentOf (operation: 'query' | 'mutation', field: Field): string {
  const args = field.args
  const decl = args.map(a => `$${a.name}: ${a.type.toString()}`).join(', ')
  const call = args.map(a => `${a.name}: $${a.name}`).join(', ')
  const leaf = isScalarType(getNamedType(field.type)) || isEnumType(getNamedType(field.type))
  return `${operation}${decl === '' ? '' : ` (${decl})`} { ${field.name}(${call})${leaf ? '' : ' { __typename }'} }`
}

/**
 * Whether a BAD_USER_INPUT error of the answer names `path` (itself or a part of it).
 * Fastify refuses a body with a `__proto__` or `constructor` key as a whole, naming `body`.
 */
export function namesField (res: GqlResult<unknown>, path: string): boolean {
  const target = /\.(__proto__|constructor)$/.test(path) ? 'body' : path
  return (res.errors ?? []).some(e => e.extensions?.code === 'BAD_USER_INPUT' && (e.extensions.fields ?? []).some(f => f.path === target || f.path.startsWith(target + '.')))
}
