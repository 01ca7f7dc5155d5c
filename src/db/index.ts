import { PGlite } from '@electric-sql/pglite'
import { getTableColumns, sql, type ExtractTablesWithRelations, type SQL } from 'drizzle-orm'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator'
import type { PgDatabase, PgQueryResultHKT, PgTable, PgTransaction } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import pg from 'pg'
import type { Config } from '../config.js'
import { paths } from '../paths.js'
import * as schema from './schema/index.js'

export { schema }
export type Schema = typeof schema
/** The database, whichever driver serves it: node-postgres and PGlite share this base type. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>
/** Repositories accept either the database or an open transaction. */
export type DbOrTx = Db | Tx

export interface Database {
  db: Db
  kind: 'postgres' | 'pglite'
  /** Applies the committed migrations (serialised across processes on PostgreSQL). */
  migrate: () => Promise<void>
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

/** `onQuery` sees every statement drizzle sends (tests count them to catch N+1 queries). */
export async function openDatabase (cfg: Config['database'], log: Logger, onQuery?: (query: string) => void): Promise<Database> {
  const logger = onQuery === undefined ? undefined : { logQuery: (query: string) => { onQuery(query) } }
  if (cfg.kind === 'postgres') {
    const pool = new ReleasingPool({
      connectionString: cfg.url,
      max: cfg.poolMax,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      // Sent at connection start-up: no statement of a request runs longer (0: the server's setting).
      // PGlite has no such limit (it does not enforce statement_timeout).
      statement_timeout: cfg.statementTimeoutMs !== undefined && cfg.statementTimeoutMs > 0 ? cfg.statementTimeoutMs : false
    })
    // A client losing its connection (database restart) must not crash the process: idle
    // ones report through the pool; one checked out (a transaction, e.g. a background
    // import batch, between statements) through its own listener, its query failing.
    pool.on('error', (err) => log.error({ err }, 'idle database connection failed'))
    pool.on('connect', (client) => { client.on('error', (err) => log.error({ err }, 'database connection failed')) })
    return {
      db: drizzlePg({ client: pool, schema, ...(logger ? { logger } : {}) }) as unknown as Db,
      kind: 'postgres',
      async migrate () {
        // One connection holds an advisory lock so that concurrent starts migrate once.
        const client = new pg.Client({ connectionString: cfg.url })
        await client.connect()
        try {
          await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
          await migratePg(drizzlePg({ client }), { migrationsFolder: paths.migrations })
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
        return { db: drizzlePg({ client, schema }) as unknown as Db, ended, close: async () => { await client.end().catch(() => {}) } }
      },
      close: async () => { await pool.end() },
      connections: () => ({ max: cfg.poolMax, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount })
    }
  }
  const client = await PGlite.create({ dataDir: cfg.dataDir })
  const db = drizzlePglite({ client, schema, ...(logger ? { logger } : {}) }) as unknown as Db
  return {
    db,
    kind: 'pglite',
    migrate: async () => { await migratePglite(drizzlePglite({ client }), { migrationsFolder: paths.migrations }) },
    // The same connection, without the statement logger: a session's own work is not the requests'.
    session: async () => ({ db: drizzlePglite({ client, schema }) as unknown as Db, ended: new Promise<void>(() => {}), close: async () => {} }),
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

const toJson = (v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v ?? null)

/**
 * Inserts many rows with one statement and one parameter — a JSON array unpacked by
 * `jsonb_to_recordset` — instead of one parameter per value: batches of thousands of
 * rows stay cheap to send and to plan. Columns no row sets take their defaults.
 */
export async function insertMany<T extends PgTable> (db: DbOrTx, table: T, rows: ReadonlyArray<T['$inferInsert']>): Promise<void> {
  if (rows.length === 0) return
  const columns = getTableColumns(table)
  const keys = Object.keys(columns).filter(k => rows.some(r => (r as Record<string, unknown>)[k] !== undefined))
  const json = JSON.stringify(rows.map(r => Object.fromEntries(keys.map(k => [columns[k]!.name, toJson((r as Record<string, unknown>)[k])]))))
  const names = sql.raw(keys.map(k => `"${columns[k]!.name}"`).join(', '))
  const defs = sql.raw(keys.map(k => `"${columns[k]!.name}" ${columns[k]!.getSQLType().replace(/\s+COLLATE\s+.*$/i, '')}`).join(', '))
  await db.execute(sql`INSERT INTO ${table} (${names}) SELECT ${names} FROM jsonb_to_recordset(${json}::jsonb) AS v(${defs})`)
}

/** Whether the error is a unique violation of the named constraint (index). */
export function isUniqueViolation (err: unknown, constraint: string): boolean {
  return someCause(err, e => e.code === '23505' && (e as { constraint?: string }).constraint === constraint)
}
