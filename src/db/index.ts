import { PGlite } from '@electric-sql/pglite'
import { getTableColumns, getTableName, sql, type ExtractTablesWithRelations, type SQL } from 'drizzle-orm'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator'
import { PgDialect, type PgDatabase, type PgQueryResultHKT, type PgTable, type PgTransaction } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import pg from 'pg'
import type { Config } from '../config.js'
import { paths } from '../paths.js'
import * as schema from './schema/index.js'

export { schema }
/**
 * The database, whichever driver serves it: node-postgres and PGlite share this base type.
 * Built without drizzle's relational query API (`db.query.*`, unused here): with a schema,
 * every transaction object builds a query builder per table, a cost each write paid for
 * nothing (docs/benchmarks.md, "Writes and the audit log").
 */
export type Db = PgDatabase<PgQueryResultHKT>
export type Tx = PgTransaction<PgQueryResultHKT, Record<string, never>, ExtractTablesWithRelations<Record<string, never>>>
/** Repositories accept either the database or an open transaction. */
export type DbOrTx = Db | Tx

export interface Database {
  db: Db
  kind: 'postgres' | 'pglite'
  /** The pg pool behind `db` (PostgreSQL), for replicas' fallback to the primary; null on PGlite. */
  pool: pg.Pool | null
  /**
   * Applies the committed migrations, then runs `afterwards` (the seed), all under one
   * lock on PostgreSQL: processes starting together on one database do this one after
   * another, so each migration and each first-start step runs once. PGlite is one process.
   */
  migrate: (afterwards?: () => Promise<void>) => Promise<void>
  /**
   * A connection of its own, outside the pool, for work that holds a session (a
   * leader's advisory lock): `ended` settles when the connection is lost. PGlite has one
   * connection, so its session is the database itself and never ends.
   */
  session: () => Promise<Session>
  close: () => Promise<void>
  /** The connections (for /metrics): a pg pool's size, open, idle and waiting checkouts; PGlite is one connection. */
  connections: () => { max: number, total: number, idle?: number, waiting?: number }
}

export interface Session {
  db: Db
  ended: Promise<void>
  close: () => Promise<void>
}

interface Logger { error: (obj: unknown, msg?: string) => void }

const MIGRATION_LOCK = 4112_0001

/**
 * A pool whose checked-out clients go back to it when their connection dies. drizzle's
 * `transaction()` on node-postgres runs BEGIN before the try/finally that releases its
 * client (drizzle-orm#6241, open in 0.45): a connection lost at BEGIN would hold its pool
 * slot for ever, and a few such losses (a database restart) would leave no connection.
 * Here a client whose connection ends while checked out is released with an error (the
 * pool drops it), and a later release by its holder is a no-op.
 */
class ReleasingPool extends pg.Pool {
  override connect (): Promise<pg.PoolClient>
  override connect (callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: any) => void) => void): void
  override connect (callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: any) => void) => void): Promise<pg.PoolClient> | void {
    if (callback !== undefined) { super.connect(callback); return }
    return super.connect().then((client) => {
      const release = client.release.bind(client)
      let released = false
      const onEnd = (): void => { releaseOnce(new Error('the database connection ended')) }
      const releaseOnce = (err?: Error | boolean): void => {
        if (released) return
        released = true
        client.removeListener('end', onEnd)
        release(err)
      }
      client.once('end', onEnd)
      client.release = releaseOnce
      return client
    })
  }
}

/** A pool of connections to PostgreSQL at `url` (the primary's, or a replica's). */
export function openPool (url: string, poolMax: number, statementTimeoutMs: number | undefined, log: Logger): pg.Pool {
  const pool = new ReleasingPool({
    connectionString: url,
    max: poolMax,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // Sent at connection start-up: no statement of a request runs longer (0: the server's setting).
    // PGlite has no such limit (it does not enforce statement_timeout).
    statement_timeout: statementTimeoutMs !== undefined && statementTimeoutMs > 0 ? statementTimeoutMs : false
  })
  // A client losing its connection (database restart) must not crash the process: idle
  // ones report through the pool; one checked out (a transaction, e.g. a background
  // import batch, between statements) through its own listener, its query failing.
  pool.on('error', (err) => log.error({ err }, 'idle database connection failed'))
  pool.on('connect', (client) => { client.on('error', (err) => log.error({ err }, 'database connection failed')) })
  return pool
}

/** `onQuery` sees every statement drizzle sends (tests count them to catch N+1 queries). */
export async function openDatabase (cfg: Config['database'], log: Logger, onQuery?: (query: string) => void): Promise<Database> {
  const logger = onQuery === undefined ? undefined : { logQuery: (query: string) => { onQuery(query) } }
  if (cfg.kind === 'postgres') {
    const pool = openPool(cfg.url, cfg.poolMax, cfg.statementTimeoutMs, log)
    return {
      db: drizzlePg({ client: pool, ...(logger ? { logger } : {}) }) as unknown as Db,
      kind: 'postgres',
      pool,
      async migrate (afterwards) {
        // One connection holds an advisory lock (released when it closes, also when this
        // process dies) so that concurrent starts migrate and seed once.
        const client = new pg.Client({ connectionString: cfg.url })
        await client.connect()
        try {
          await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
          await migratePg(drizzlePg({ client }), { migrationsFolder: paths.migrations })
          await afterwards?.()
        } finally {
          await client.end()
        }
      },
      async session () {
        const client = new pg.Client({ connectionString: cfg.url })
        const ended = new Promise<void>((resolve) => {
          client.once('end', resolve)
          client.on('error', (err) => { log.error({ err }, 'database session failed'); resolve() })
        })
        await client.connect()
        return { db: drizzlePg({ client }) as unknown as Db, ended, close: async () => { await client.end().catch(() => {}) } }
      },
      close: async () => { await pool.end() },
      connections: () => ({ max: cfg.poolMax, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount })
    }
  }
  const client = await PGlite.create({ dataDir: cfg.dataDir })
  const db = drizzlePglite({ client, ...(logger ? { logger } : {}) }) as unknown as Db
  return {
    db,
    kind: 'pglite',
    pool: null,
    migrate: async (afterwards) => {
      await migratePglite(drizzlePglite({ client }), { migrationsFolder: paths.migrations })
      await afterwards?.()
    },
    // The same connection, without the statement logger: a session's own work is not the requests'.
    session: async () => ({ db: drizzlePglite({ client }) as unknown as Db, ended: new Promise<void>(() => {}), close: async () => {} }),
    close: async () => { await client.close() },
    connections: () => ({ max: 1, total: 1 })
  }
}

/**
 * Lifts the statement timeout for the rest of the transaction, for work that is long by
 * design and serialised (the statistics summary's rebuild after a bulk load).
 */
export async function withoutStatementTimeout (tx: Tx): Promise<void> {
  await tx.execute(sql`SET LOCAL statement_timeout = 0`)
}

/** SQLSTATE classes and codes of a lost or refused connection: 08 connection exception, 57P01–57P03 shutdown/startup */
const UNAVAILABLE_CODE = /^(08...|57P0[123]|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)$/
const UNAVAILABLE_MESSAGE = /^(Connection terminated|Client has encountered a connection error|Client was closed)/

/**
 * True when `err` (or what it wraps: drizzle's query error, an AggregateError of connect
 * attempts) means the database could not be reached or dropped the connection — a
 * transient outage the caller may retry (503), not a fault of the request.
 */
export function isDatabaseUnavailable (err: unknown): boolean {
  return someCause(err, e => (typeof e.code === 'string' && UNAVAILABLE_CODE.test(e.code)) || (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)))
}

/**
 * True when `err` (or what it wraps) is a statement cancelled by the statement timeout
 * (57014), too many connections (53300) or no pooled connection free in time: the
 * database is overloaded, not the request wrong — 503, retry later.
 */
export function isDatabaseBusy (err: unknown): boolean {
  return someCause(err, e => e.code === '57014' || e.code === '53300' || e.message === 'timeout exceeded when trying to connect')
}

type ErrorLike = { code?: unknown, message?: unknown, cause?: unknown, errors?: unknown }

/** Does `err`, or an error it wraps (drizzle's `cause`, an AggregateError's `errors`), match? */
function someCause (err: unknown, match: (e: ErrorLike) => boolean, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false
  const e = err as ErrorLike
  if (match(e)) return true
  if (Array.isArray(e.errors) && e.errors.some(x => someCause(x, match, depth + 1))) return true
  return someCause(e.cause, match, depth + 1)
}

/** Rows of a raw SQL statement, on either driver (both answer `{ rows }`). */
export async function queryRows<T> (db: DbOrTx, query: SQL): Promise<T[]> {
  const result = await db.execute(query) as unknown as { rows: T[] }
  return result.rows
}

const dialect = new PgDialect()

/**
 * A raw statement whose values are `sql.placeholder(…)`s, compiled to text once; run
 * with the values on a database or a transaction, it returns the rows. Named, it is a
 * prepared statement (as the query builders' `.prepare(name)`, for statements they cannot
 * express): each connection parses it once and may keep its plan, where an unnamed one is
 * parsed and planned every time. One text per name — a connection refuses a name it
 * prepared with another text; '' sends it unnamed.
 */
export function preparedStatement<T> (name: string, query: SQL): (db: DbOrTx, values: Record<string, unknown>) => Promise<T[]> {
  const compiled = dialect.sqlToQuery(query)
  return async (db, values) => ((await db._.session.prepareQuery(compiled, undefined, name, false).execute(values)) as { rows: T[] }).rows
}

const toJson = (v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v ?? null)

/**
 * Inserts many rows with one statement and one parameter — a JSON array unpacked by
 * `jsonb_to_recordset` — instead of one parameter per value: batches of thousands of
 * rows stay cheap to send, and the statement of each set of columns is prepared once per
 * connection. Columns no row sets take their defaults.
 */
export async function insertMany<T extends PgTable> (db: DbOrTx, table: T, rows: ReadonlyArray<T['$inferInsert']>): Promise<void> {
  if (rows.length === 0) return
  const set = columnsOf(table).filter(([k]) => rows.some(r => (r as Record<string, unknown>)[k] !== undefined))
  const json = JSON.stringify(rows.map(r => {
    const o: Record<string, unknown> = {}
    for (const [k, name] of set) o[name] = toJson((r as Record<string, unknown>)[k])
    return o
  }))
  await insertStatement(table, set)(db, { rows: json })
}

type InsertColumn = [key: string, name: string, type: string]
type Insert = (db: DbOrTx, values: { rows: string }) => Promise<unknown>
/** Per table: its columns, and the statement of each set of columns, built once (a write's audit insert walks no schema). */
const insertShapes = new WeakMap<PgTable, { columns: InsertColumn[], statements: Map<string, Insert> }>()
/** Tables have few columns, so few sets; bounded all the same, past it a set's statement is sent unnamed. */
const MAX_INSERT_STATEMENTS = 256
let insertStatements = 0

function shapeOf (table: PgTable): { columns: InsertColumn[], statements: Map<string, Insert> } {
  let shape = insertShapes.get(table)
  if (shape === undefined) {
    const columns = Object.entries(getTableColumns(table)).map(([k, c]): InsertColumn => [k, c.name, c.getSQLType().replace(/\s+COLLATE\s+.*$/i, '')])
    insertShapes.set(table, shape = { columns, statements: new Map() })
  }
  return shape
}

const columnsOf = (table: PgTable): InsertColumn[] => shapeOf(table).columns

function insertStatement (table: PgTable, set: InsertColumn[]): Insert {
  const { statements } = shapeOf(table)
  const key = set.map(([k]) => k).join()
  let found = statements.get(key)
  if (found === undefined) {
    const names = sql.raw(set.map(([, name]) => `"${name}"`).join(', '))
    const defs = sql.raw(set.map(([, name, type]) => `"${name}" ${type}`).join(', '))
    const kept = insertStatements < MAX_INSERT_STATEMENTS
    found = preparedStatement(kept ? `insert_${getTableName(table)}_${++insertStatements}` : '',
      sql`INSERT INTO ${table} (${names}) SELECT ${names} FROM jsonb_to_recordset(${sql.placeholder('rows')}::jsonb) AS v(${defs})`)
    if (kept) statements.set(key, found)
  }
  return found
}

/** Whether the error is a unique violation of the named constraint (index). */
export function isUniqueViolation (err: unknown, constraint: string): boolean {
  return someCause(err, e => e.code === '23505' && (e as { constraint?: string }).constraint === constraint)
}
