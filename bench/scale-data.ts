/**
 * The fast generator for the scale benchmark (bench/scale.ts): fills an empty registry on
 * PostgreSQL with `households` households of the demo generator (src/db/demo-data.ts: the
 * same plan, vocabulary, valid national IDs, keyed hashes and sealing as the service's, and
 * every exit through an approved review), written with COPY instead of INSERT, in
 * segments, in memory bounded by the segment and the region (not by the count).
 *
 * While it loads, the secondary indexes, primary and unique keys and foreign keys of the
 * tables it fills are dropped (the definitions read from the catalog, kept in memory) and
 * rebuilt once at the end — then VACUUM ANALYZE. A load that fails half-way leaves the
 * database without them: recreate it (bench/scale.ts marks a finished fill on the
 * database's comment and refills any other). Seeding, as the demo generator: no audit
 * entries; the statistics triggers run as for any insert.
 */
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { getTableColumns, getTableName, type Column } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { demoContext, demoPlanner, type DemoHousehold } from '../src/db/demo-data.js'
import { openDatabase } from '../src/db/index.js'
import { exitReviews, exitReviewSteps, helperAssignments, helpers, householdStatusChanges, households, incomes, measures, members, visits } from '../src/db/schema/index.js'
import type { Sealer } from '../src/shared/sealing.js'

export interface FillOptions {
  households: number
  /** The city or county the households live in; 4112 (三门峡市, 1,381 villages: at most 9,999 households each). */
  region?: string
  seed?: number
  /** The data's reference year (demo generator's), 2020 unless given. */
  year?: number
  /** Households per COPY segment (one COPY statement per table and segment). */
  segment?: number
  progress?: (done: number, seconds: number) => void
  /** Called after each key or index is rebuilt, with its statement and the seconds it took. */
  index?: (statement: string, seconds: number) => void
}

export interface FillResult {
  households: number
  members: number
  incomes: number
  measures: number
  exitReviews: number
  /** Seconds spent writing rows, rebuilding keys and indexes, and in VACUUM ANALYZE. */
  loadSeconds: number
  indexSeconds: number
  analyzeSeconds: number
}

/** The tables a household's plan fills, by the key of DemoHousehold. */
const TABLES = {
  household: households,
  members,
  incomes,
  measures,
  exitReviews,
  exitReviewSteps,
  statusChanges: householdStatusChanges,
  helpers,
  helperAssignments,
  visits
} as const satisfies Record<keyof DemoHousehold, PgTable>
type Key = keyof typeof TABLES

/** A value in COPY's text format (the escapes of backslash, tab, newline and carriage return; \N for null). */
function copyText (value: unknown, column: Column): string {
  if (value === null || value === undefined) return '\\N'
  if (typeof value === 'number') return String(value)
  if (typeof value === 'boolean') return value ? 't' : 'f'
  if (value instanceof Date) return value.toISOString()
  let s: string
  if (column.dataType === 'array') s = '{' + (value as unknown[]).map(v => '"' + String(v).replace(/["\\]/g, m => '\\' + m) + '"').join(',') + '}'
  else if (column.dataType === 'json') s = JSON.stringify(value)
  else s = String(value)
  return SPECIAL.test(s) ? s.replace(/[\\\t\n\r]/g, c => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s
}
const SPECIAL = /[\\\t\n\r]/

interface Layout { table: string, keys: string[], columns: Column[], fallback: Array<(() => unknown) | undefined> }

/**
 * The columns COPY writes for a table: those the plan sets (seen in a sample of plans) and
 * those without a default; the others (identity, version, timestamps) keep their defaults.
 * A planned row without a value for a written column gets the column's default when it is
 * a constant or now(), else null — a column that may not be null then fails the load.
 */
function layoutOf (table: PgTable, seen: Set<string>, loadedAt: Date): Layout {
  const all = Object.entries(getTableColumns(table))
  const chosen = all.filter(([key, c]) => seen.has(key) || (!c.hasDefault && c.generatedIdentity === undefined))
  const fallback = chosen.map(([, c]): (() => unknown) | undefined => {
    if (c.defaultFn !== undefined) return c.defaultFn
    if (c.default === undefined) return undefined
    const d: unknown = c.default
    if (typeof d !== 'object' || d === null) return () => d
    const text = JSON.stringify(d)
    if (text.includes('now()')) return () => loadedAt
    if (text.includes('gen_random_uuid()')) return () => randomUUID()
    if (text.includes("'{}'")) return () => []
    throw new Error(`no value for the default of ${c.name}`)
  })
  return { table: getTableName(table), keys: chosen.map(([k]) => k), columns: chosen.map(([, c]) => c), fallback }
}

function line (layout: Layout, row: Record<string, unknown>): string {
  let out = ''
  for (let i = 0; i < layout.keys.length; i++) {
    let v = row[layout.keys[i]!]
    if (v === undefined) v = layout.fallback[i]?.()
    if ((v === undefined || v === null) && layout.columns[i]!.notNull) throw new Error(`${layout.table}.${layout.columns[i]!.name} may not be null`)
    out += (i === 0 ? '' : '\t') + copyText(v, layout.columns[i]!)
  }
  return out + '\n'
}

interface Saved { drops: string[], keys: string[], indexes: string[], foreignKeys: string[] }

/** Drops the keys, indexes and foreign keys of (and to) `tables`; what rebuilds them. */
async function dropIndexes (client: pg.Client, tables: string[]): Promise<Saved> {
  const rel = tables.map(t => `'${t}'::regclass`).join(',')
  const fks = (await client.query<{ t: string, name: string, def: string }>(
    `SELECT conrelid::regclass::text t, conname name, pg_get_constraintdef(oid) def FROM pg_constraint
     WHERE contype = 'f' AND (conrelid IN (${rel}) OR confrelid IN (${rel})) ORDER BY 1, 2`)).rows
  const keys = (await client.query<{ t: string, name: string, def: string }>(
    `SELECT conrelid::regclass::text t, conname name, pg_get_constraintdef(oid) def FROM pg_constraint
     WHERE contype IN ('p', 'u') AND conrelid IN (${rel}) ORDER BY 1, 2`)).rows
  const indexes = (await client.query<{ name: string, def: string }>(
    `SELECT indexrelid::regclass::text name, pg_get_indexdef(indexrelid) def FROM pg_index i
     WHERE indrelid IN (${rel}) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
     ORDER BY 1`)).rows
  const q = (s: string): string => '"' + s.replaceAll('"', '""') + '"'
  const saved: Saved = {
    drops: [
      ...fks.map(f => `ALTER TABLE ${f.t} DROP CONSTRAINT ${q(f.name)}`),
      ...indexes.map(i => `DROP INDEX ${i.name}`),
      ...keys.map(k => `ALTER TABLE ${k.t} DROP CONSTRAINT ${q(k.name)}`)
    ],
    keys: keys.map(k => `ALTER TABLE ${k.t} ADD CONSTRAINT ${q(k.name)} ${k.def}`),
    indexes: indexes.map(i => i.def),
    foreignKeys: fks.map(f => `ALTER TABLE ${f.t} ADD CONSTRAINT ${q(f.name)} ${f.def}`)
  }
  for (const s of saved.drops) await client.query(s)
  return saved
}

/** Fills the empty registry of the database at `url` (migrated and seeded) with `opts.households` households. */
export async function fillRegistry (url: string, sealer: Sealer, opts: FillOptions): Promise<FillResult> {
  const region = opts.region ?? '4112'
  const seed = opts.seed ?? 1
  const year = opts.year ?? 2020
  const segment = opts.segment ?? 50_000
  if (!Number.isInteger(opts.households) || opts.households < 1) throw new RangeError('households must be a whole number ≥ 1')

  const database = await openDatabase({ kind: 'postgres', url, poolMax: 1 }, { error: (o: unknown) => { console.error(o) } })
  let ctx
  try {
    ctx = await demoContext(database.db, region)
  } finally {
    await database.close()
  }
  if (ctx.lastNo.size > 0) throw new Error('the registry is not empty: the fast generator fills an empty one')
  if (opts.households > ctx.villages.length * 9999 * 0.9) throw new RangeError(`${region} has ${ctx.villages.length} villages: too few for ${opts.households} households`)

  // The columns each table's COPY writes: those the plan sets, from a sample of plans.
  const seen = Object.fromEntries(Object.keys(TABLES).map(k => [k, new Set<string>()])) as Record<Key, Set<string>>
  const sample = demoPlanner(sealer, { ...ctx, lastNo: new Map() }, { seed: seed + 1, year })
  for (let i = 0; i < 2000; i++) {
    const h = sample.next()
    for (const k of Object.keys(TABLES) as Key[]) {
      const rows = k === 'household' ? [h.household] : h[k]
      for (const r of rows as Array<Record<string, unknown>>) for (const [c, v] of Object.entries(r)) if (v !== undefined) seen[k].add(c)
    }
  }
  const loadedAt = new Date()
  const layouts = Object.fromEntries((Object.keys(TABLES) as Key[]).map(k => [k, layoutOf(TABLES[k], seen[k], loadedAt)])) as Record<Key, Layout>

  const planner = demoPlanner(sealer, ctx, { seed, year })
  const clients = Object.fromEntries(await Promise.all((Object.keys(TABLES) as Key[]).map(async k => {
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    await c.query('SET synchronous_commit = off')
    return [k, c] as const
  }))) as Record<Key, pg.Client>
  const admin = clients.household
  const counts = { households: 0, members: 0, incomes: 0, measures: 0, exitReviews: 0 }
  const started = performance.now()
  try {
    const saved = await dropIndexes(admin, Object.values(layouts).map(l => l.table))
    for (let done = 0; done < opts.households; done += segment) {
      const n = Math.min(segment, opts.households - done)
      const streams = Object.fromEntries((Object.keys(TABLES) as Key[]).map(k => {
        const l = layouts[k]
        const s = clients[k].query(copyFrom(`COPY ${l.table} (${l.columns.map(c => `"${c.name}"`).join(', ')}) FROM STDIN`))
        return [k, s]
      })) as unknown as Record<Key, Writable>
      const finished = Object.values(streams).map(async s => await once(s, 'finish'))
      const buffers = Object.fromEntries(Object.keys(TABLES).map(k => [k, ''])) as Record<Key, string>
      const flush = async (k: Key): Promise<void> => {
        const ok = streams[k].write(buffers[k])
        buffers[k] = ''
        if (!ok) await once(streams[k], 'drain')
      }
      for (let i = 0; i < n; i++) {
        const h = planner.next()
        buffers.household += line(layouts.household, h.household as Record<string, unknown>)
        for (const k of ['members', 'incomes', 'measures', 'exitReviews', 'exitReviewSteps', 'statusChanges'] as const) {
          for (const r of h[k]) buffers[k] += line(layouts[k], r as Record<string, unknown>)
        }
        counts.households++
        counts.members += h.members.length
        counts.incomes += h.incomes.length
        counts.measures += h.measures.length
        counts.exitReviews += h.exitReviews.length
        for (const k of Object.keys(TABLES) as Key[]) if (buffers[k].length > 65536) await flush(k)
      }
      for (const k of Object.keys(TABLES) as Key[]) {
        if (buffers[k].length > 0) await flush(k)
        streams[k].end()
      }
      await Promise.all(finished)
      opts.progress?.(done + n, (performance.now() - started) / 1000)
    }
    const loadSeconds = (performance.now() - started) / 1000

    // Keys and indexes one at a time: each build's sort and WAL
    // come on top of the loaded rows, so building two at once raised the peak on disk
    // (10,000,000 households ran out of disk so, with 80 GB free).
    const t1 = performance.now()
    await admin.query("SET maintenance_work_mem = '512MB'")
    for (const s of [...saved.keys, ...saved.indexes]) {
      const t = performance.now()
      await admin.query(s)
      opts.index?.(s, (performance.now() - t) / 1000)
    }
    for (const s of saved.foreignKeys) await admin.query(s)
    const indexSeconds = (performance.now() - t1) / 1000

    const t2 = performance.now()
    await Promise.all([clients.household, clients.members].map(async (c, i) => {
      for (const l of Object.values(layouts).filter((_, j) => j % 2 === i)) await c.query(`VACUUM (ANALYZE) ${l.table}`)
    }))
    const analyzeSeconds = (performance.now() - t2) / 1000
    return { ...counts, loadSeconds, indexSeconds, analyzeSeconds }
  } finally {
    await Promise.all(Object.values(clients).map(async c => { await c.end() }))
  }
}
